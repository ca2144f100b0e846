"""Webhooks (issue 14): facilities' subscriptions, the outbox, signed delivery with back-off.

``rules`` holds the pure parts (the event table, the signature, the back-off, URL checks),
``services`` every write (subscriptions, the outbox, delivery attempts), ``api`` the partner API.
It lives in ``telemed`` because it is plumbing: it carries other apps' events, owns none of them.
See docs/architecture.md, "Webhooks".
"""
