"""``flush``, but aware of the append-only audit table (JL-A1).

On PostgreSQL a trigger refuses TRUNCATE of ``audit_auditevent``, so a plain flush fails — as it
should on a live portal. Only where ``TELEMED_ALLOW_AUDIT_PURGE`` is on (the test suite, which
flushes between transactional tests) are triggers switched off for the flush transaction alone,
with ``SET LOCAL``, so nothing leaks into the session afterwards.
"""

from django.conf import settings
from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections, transaction


class Command(DjangoFlush):
    def handle(self, **options):
        database = options["database"]
        connection = connections[database]
        if connection.vendor != "postgresql" or not getattr(settings, "TELEMED_ALLOW_AUDIT_PURGE", False):
            return super().handle(**options)
        with transaction.atomic(using=database):
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
            return super().handle(**options)
