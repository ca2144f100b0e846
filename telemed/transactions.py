"""Service transactions that keep refusals on record (JL-A1; JL-C8, JL-F3, JL-F5, JL-P6, JL-B4).

A refusal the regulator wants on record is raised as an ``ApplicationError`` whose ``on_record``
writes its failure event (``audit.services.audit_refusal`` attaches it). Written inside the
refused service's transaction, that event would vanish with the rollback. So a service runs in
``service_transaction()``: when the outermost one rolls back on such an error, the event is
written right after, in its own transaction, and the error goes on. Outside any service
transaction the event is written at once, before the error is raised.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

from .errors import ApplicationError

_depth: ContextVar[int] = ContextVar("telemed_service_depth", default=0)


def in_service_transaction() -> bool:
    return _depth.get() > 0


def record_refusal(error: ApplicationError) -> None:
    """Write the refusal's event once, in its own transaction (a no-op for a plain refusal)."""
    write = getattr(error, "on_record", None)
    if write is None or getattr(error, "recorded", False):
        return
    error.recorded = True
    with transaction.atomic():
        write()


@contextmanager
def service_transaction():
    """``transaction.atomic`` for a service, as decorator (``@service_transaction()``) or block."""
    outermost = _depth.get() == 0
    token = _depth.set(_depth.get() + 1)
    try:
        with transaction.atomic():
            yield
    except ApplicationError as error:
        if outermost:  # its work is rolled back now; nothing can take the event along
            record_refusal(error)
        raise
    finally:
        _depth.reset(token)
