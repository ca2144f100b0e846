"""Dashboard reads from a PostgreSQL replica (issue 11, docs/scaling.md).

When ``DATABASE_REPLICA_URL`` names a streaming replica, the regulators' dashboard and the metrics
API read their rollups from it, so that a morning of regulators opening dashboards takes no read
load off the primary that writes consultations, obligations and the audit log.

Only two things together send a read to the replica:

- the request is one of the dashboard routes, which the URLconf wraps in ``replica_reads`` (so the
  URLconf shows in one place which pages may read slightly old data), and
- the model is one of the metric rollups (``REPLICA_MODELS``), which are derived data, rebuilt and
  refreshed from the raw tables: a replica a few seconds behind shows figures a few seconds old.

Everything else — the session, permissions, names of facilities and divisions, the access-log
append — stays on the primary, so a lagging replica never lets a regulator see or do more than
the primary allows. Writes always go to the primary (Django's default), and the metrics refresh
runs in Celery outside ``replica_reads``, so it reads and writes the primary only.
"""

from __future__ import annotations

import contextvars
import functools
from contextlib import contextmanager

from django.conf import settings
from django.db import connections

# The rollups of facilities.metrics (docs/metrics.md): derived, rebuildable, safe to read a little late.
REPLICA_MODELS = frozenset({
    "facilities.metricday",
    "facilities.metricduration",
    "facilities.metricmonth",
    "facilities.metricstat",
    "facilities.metrictotal",
})

_replica_reads: contextvars.ContextVar[bool] = contextvars.ContextVar("telemed_replica_reads", default=False)


def replica_alias() -> str | None:
    """The database alias of the replica, or None when there is none (then everything reads the primary)."""
    alias = getattr(settings, "TELEMED_REPLICA_ALIAS", None)
    return alias if alias and alias in settings.DATABASES else None


@contextmanager
def reading_from_replica():
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def replica_reads(view):
    """Wrap a view whose metric reads may come from the replica (see the module's docstring)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        with reading_from_replica():
            return view(*args, **kwargs)

    return wrapped


def read_alias(model) -> str:
    """The alias a read of ``model`` goes to now: for raw SQL, which the router does not see."""
    return ReplicaRouter().db_for_read(model) or "default"


def read_connection(model):
    return connections[read_alias(model)]


class ReplicaRouter:
    """Reads of the metric rollups inside ``replica_reads`` go to the replica; nothing else changes."""

    def db_for_read(self, model, **hints):
        alias = replica_alias()
        if alias and _replica_reads.get() and model._meta.label_lower in REPLICA_MODELS:
            return alias
        return None

    def db_for_write(self, model, **hints):
        return None

    def allow_relation(self, obj1, obj2, **hints):
        # A rollup read from the replica may point at a facility read from the primary: same data.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # A replica is migrated by replication, never by manage.py migrate.
        if db == replica_alias() and db != "default":
            return False
        return None
