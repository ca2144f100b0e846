"""``manage.py rebuild_metrics [--since YYYY-MM-DD]``: rebuild the dashboard's facts from the raw rows.

Every Beijing day from ``--since`` (default: the first day with data) to today is replaced, a
batch of days per transaction; running it again gives the same rows (docs/metrics.md).
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from facilities.metrics.facts import earliest_day, facts_rebuild


class Command(BaseCommand):
    help = "重建监管统计的日数据（docs/metrics.md）"

    def add_arguments(self, parser):
        parser.add_argument("--since", help="first Beijing day to rebuild, YYYY-MM-DD (default: the first day with data)")

    def handle(self, *args, since=None, **options):
        today = timezone.localdate()
        if since:
            try:
                start = dt.date.fromisoformat(since)
            except ValueError:
                raise CommandError("--since 须为 YYYY-MM-DD 格式的日期") from None
        else:
            start = earliest_day()
        if start > today:
            raise CommandError("--since 不能晚于今天")
        rows = facts_rebuild(start, today, all_stats=True)
        self.stdout.write(f"rebuilt {start.isoformat()} – {today.isoformat()}: {rows} rows")
