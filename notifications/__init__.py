"""Notifications by channel (issue 12): in-app, e-mail and SMS, per-user preferences, delivery records."""
