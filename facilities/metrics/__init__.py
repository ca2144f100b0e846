"""The regulators' dashboard and the facility scorecard (issue 9), documented in docs/metrics.md.

- ``definitions``: every figure once — numerator, denominator, the timestamp that decides its day,
  and the rule it measures. Nothing else defines a figure.
- ``periods``: the period parameter (month, quarter, year, custom) in Beijing days.
- ``facts``: the daily fact tables rebuilt from the raw rows (command, beat catch-up).
- ``figures``: the figures of a division or a facility for a period, read from the facts.
- ``views``, ``api``: the pages and the API endpoint, thin over ``figures``.

A package of the facilities app because what it measures is the facilities' work under their
regulators (JL-O1); the fact tables are in ``facilities.models``.
"""
