"""The one write of the dashboard: an export is on record (art. 35 管控和追溯合一, JL-A1)."""

from __future__ import annotations

from django.db import transaction

from audit.choices import EventType
from audit.services import audit_event_append
from telemed.scope import Scope

from .figures import Subject
from .periods import Period


@transaction.atomic
def metrics_export_record(*, actor, subject: Subject, period: Period, table: str) -> None:
    """Who took which table of which division or facility, for which period."""
    scope = Scope.of(actor)
    acting = subject.facility_id if subject.facility_id in scope.facility_roles else None
    audit_event_append(
        actor=actor, event_type=EventType.METRICS_EXPORT, object_type="facilities.facility" if subject.facility_id else "facilities.division",
        object_id=str(subject.facility_id or subject.division_code), acting_facility_id=acting,
        acting_division_code="" if acting else (scope.regulated[0][0] if scope.regulated else ""),
        facility_ids=[subject.facility_id] if subject.facility_id else [],
        details={"format": "xlsx", "table": table, "period": period.query()},
    )
