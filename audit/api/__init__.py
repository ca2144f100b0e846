"""Partner and auditor API of the audit app (JL-C7, JL-C8, JL-A1)."""
