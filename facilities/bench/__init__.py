"""``manage.py bench`` (issue 11): a province year at a chosen scale, and the portal's paths
measured against hand-written SQL floors on it. ``generate`` writes the data, ``measure`` times
the paths; the command (``facilities/management/commands/bench.py``) creates and drops the
database around them. Results and their reading: ``docs/performance.md``."""
