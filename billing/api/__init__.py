"""Partner API of the billing app (JL-B1..B5)."""
