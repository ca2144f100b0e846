"""Reads of the audit app: scoped to the user (STYLE 3), joined, constant query counts.

- Responsibility (JL-C7, art. 28, 29): every ``ResponsibilityRecord`` of a consultation, in order,
  with the acts done under it — the audit events of that consultation from this record up to the
  next one.
- Seals (JL-C8, art. 37): scoped through ``Consultation.objects.visible_to``.
- The audit log for auditors (JL-A1, JL-O1): the audit administrator (JL-A2 三员分立) and the provincial commission see every
  event; a city or county regulator sees the events that concern a facility of their division or
  were done on behalf of their division.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import BooleanField, Expression, F, Q, Subquery
from django.db.models.fields.json import KeyTransform

from consultations.models import Consultation, ResponsibilityRecord
from facilities.choices import StaffRole
from facilities.models import Division, Facility
from telemed.scope import Scope

from .choices import EventType
from .models import AuditEvent, DetailText, Seal, VerificationRun
from .records import is_sealed, open_seal

SEALED_ACCESS_KEY = "sealed_access"
CHAIN_VERIFY_EVENT = EventType.AUDIT_CHAIN_VERIFY
RESPONSIBILITY_EVENT = EventType.RESPONSIBILITY_RECORD
RESPONSIBILITY_OBJECT = "consultations.responsibilityrecord"
CONSULTATION_OBJECT = "consultations.consultation"
PATIENT_OBJECT = "consultations.patient"

OCCASION_LABELS = {"accepted": "受理时", "signed": "签发时", "corrected": "更正时"}

def event_label(event_type: str) -> str:
    """What an event type means, as a hospital clerk would say it (pages, the API, FHIR
    ``type.display``): its label in ``EventType``; "" for a type the catalogue does not know."""
    try:
        return str(EventType(event_type).label)
    except ValueError:
        return ""


# --- JSON arrays of ids (facility_ids, details.patient_ids) -------------------------------------


class JSONArrayShares(Expression):
    """True when a JSON array of integers shares an element with ``values``.

    ``values`` is a list of ints or a queryset of one integer column (compiled as a subquery, so
    a regulator's facilities are never loaded into Python). Django's ``contains`` lookup on a
    JSONField does not exist on SQLite, hence this one expression for both databases.
    """

    output_field = BooleanField()

    def __init__(self, array, values):
        super().__init__()
        self.array = array
        self.values = values if isinstance(values, list) else Subquery(values)

    def get_source_expressions(self):
        return [self.array] if isinstance(self.values, list) else [self.array, self.values]

    def set_source_expressions(self, exprs):
        self.array = exprs[0]
        if not isinstance(self.values, list):
            self.values = exprs[1]

    def _values_sql(self, compiler):
        if isinstance(self.values, list):
            if not self.values:
                return "(NULL)", []
            return "(" + ", ".join(["%s"] * len(self.values)) + ")", [int(v) for v in self.values]
        sql, params = compiler.compile(self.values)
        return (sql if sql.startswith("(") else f"({sql})"), list(params)

    # Filled with the compiled column and subquery only; every value is a query parameter.
    POSTGRESQL = (
        "EXISTS (SELECT 1 FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof({array}) = 'array' "
        "THEN {array} ELSE '[]'::jsonb END) AS shared(v) WHERE shared.v::bigint IN {values})"
    )
    SQLITE = (
        "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_type({array}) = 'array' THEN {array} ELSE '[]' END) "
        "AS shared WHERE shared.value IN {values})"
    )

    def as_sql(self, compiler, connection):
        array_sql, array_params = compiler.compile(self.array)
        values_sql, values_params = self._values_sql(compiler)
        template = self.POSTGRESQL if connection.vendor == "postgresql" else self.SQLITE
        sql = template.format(array=array_sql, values=values_sql)
        return sql, (*array_params, *array_params, *values_params)


def _facility_ids_share(values):
    return JSONArrayShares(F("facility_ids"), values)


# --- The audit log for auditors (JL-A1) ---------------------------------------------------------


def may_read_audit_log(user) -> bool:
    """The audit administrator (JL-A2 三员分立) and regulators read the audit log; hospital staff,
    partner systems and the system and security administrators do not."""
    scope = Scope.of(user)
    return scope.is_audit_admin or scope.is_regulator


def audit_event_list(*, user):
    """Events the user may read: all for the audit administrator and the provincial commission; for a city or
    county regulator those concerning a facility they oversee (JL-O1) or done for their division.
    Nobody else reads the log (the caller answers 403 first)."""
    scope = Scope.of(user)
    queryset = AuditEvent.objects.all()
    if scope.is_audit_admin or scope.is_provincial_regulator:
        return queryset
    if not scope.is_regulator:
        return queryset.none()
    facilities = Facility.objects.visible_to(user).values("id")
    condition = Q(acting_facility_id__in=facilities) | Q(_facility_ids_share(facilities))
    for prefix in scope.prefixes:
        condition |= Q(acting_division_code__startswith=prefix)
    return queryset.filter(condition)


def audit_events_for_facility(queryset, facility_id: int):
    return queryset.filter(Q(acting_facility_id=facility_id) | Q(_facility_ids_share([facility_id])))


def audit_events_for_patient(queryset, patient_id: int):
    """Events about a patient: their own record, an access naming them, a list that showed them."""
    return queryset.alias(named_patient=DetailText("patient_id")).filter(
        Q(named_patient=str(patient_id))
        | Q(object_type=PATIENT_OBJECT, object_id=str(patient_id))
        | Q(JSONArrayShares(KeyTransform("patient_ids", "details"), [patient_id]))
    )


def event_labels(events: Iterable[AuditEvent]) -> tuple[dict[int, Facility], dict[str, Division]]:
    """The acting facilities and divisions of a page of events, in two queries."""
    events = list(events)
    facility_ids = {e.acting_facility_id for e in events if e.acting_facility_id}
    codes = {e.acting_division_code for e in events if e.acting_division_code}
    facilities = Facility.objects.in_bulk(facility_ids) if facility_ids else {}
    divisions = Division.objects.in_bulk(codes) if codes else {}
    return facilities, divisions


# --- Responsibility (JL-C7) ---------------------------------------------------------------------


@dataclass
class Act:
    """One audit event of a consultation, with who did it and for which facility or division."""

    event: AuditEvent
    acting_for: str

    @property
    def label(self) -> str:
        return event_label(self.event.event_type)


@dataclass
class ResponsibilityPeriod:
    """A responsibility record and what was done under it; ``record`` None = before the first one."""

    record: ResponsibilityRecord | None
    acts: list[Act] = field(default_factory=list)


def consultation_for_records(*, user, pk: int) -> Consultation:
    """A consultation the user may see (else ``DoesNotExist``: a 404), joined for the record pages."""
    return (
        Consultation.objects.visible_to(user)
        .select_related("inviting__division", "invited__division", "service_type", "patient")
        .get(pk=pk)
    )


def responsibility_list(*, user, consultation_id: int | None = None, facility_id: int | None = None):
    """Responsibility records of the consultations the user may see (JL-O1 for regulators).

    One consultation's records come in the order they were made; a facility's newest first.
    """
    queryset = ResponsibilityRecord.objects.filter(
        consultation__in=Consultation.objects.visible_to(user).values("pk")
    ).select_related("consultation__patient", "inviting_facility", "invited_facility", "acted_by")
    if consultation_id is not None:
        return queryset.filter(consultation_id=consultation_id).order_by("recorded_at", "id")
    if facility_id is not None:
        queryset = queryset.filter(Q(inviting_facility_id=facility_id) | Q(invited_facility_id=facility_id))
    return queryset.order_by("-recorded_at", "-id")


def _acting_for(event: AuditEvent, facilities: dict[int, Facility], divisions: dict[str, Division]) -> str:
    if event.acting_facility_id:
        facility = facilities.get(event.acting_facility_id)
        return facility.name if facility else f"#{event.acting_facility_id}"
    if event.acting_division_code:
        division = divisions.get(event.acting_division_code)
        return f"{division.name}卫生健康行政部门" if division else event.acting_division_code
    return ""


def responsibility_timelines(consultations: Iterable[Consultation]) -> dict[int, list[ResponsibilityPeriod]]:
    """For each consultation: its responsibility records in order, each with the acts done under
    it — the consultation's audit events from that record's own event up to the next record's.

    An event belongs to a consultation when its ``details.consultation`` is the consultation's
    number or its object is the consultation (the JL-P checks run at accept and sign). Acts
    before the first record (the inviting side's request, upload, sending) come first, under no
    record. Five queries, however many consultations and events.
    """
    consultations = {c.pk: c for c in consultations}
    if not consultations:
        return {}
    by_number = {c.number: pk for pk, c in consultations.items()}
    records = list(
        ResponsibilityRecord.objects.filter(consultation_id__in=consultations)
        .select_related("inviting_facility", "invited_facility", "acted_by")
        .order_by("recorded_at", "id")
    )
    events = list(
        AuditEvent.objects.alias(case_number=DetailText("consultation")).filter(
            Q(case_number__in=list(by_number))
            | Q(object_type=CONSULTATION_OBJECT, object_id__in=[str(pk) for pk in consultations])
        ).chain_order()  # issue 11: events not yet chained after the chained ones
    )
    facilities, divisions = event_labels(events)
    # Positions in chain order stand for sequences, which events not yet chained do not have.
    position = {e.pk: n for n, e in enumerate(events)}

    def owner(event: AuditEvent) -> int | None:
        if event.object_type == CONSULTATION_OBJECT and event.object_id.isdigit() and int(event.object_id) in consultations:
            return int(event.object_id)
        number = event.details.get("consultation") if isinstance(event.details, dict) else None
        return by_number.get(number)

    record_sequence = {
        int(e.object_id): position[e.pk]
        for e in events
        if e.event_type == RESPONSIBILITY_EVENT and e.object_type == RESPONSIBILITY_OBJECT and e.object_id.isdigit()
    }
    timelines: dict[int, list[ResponsibilityPeriod]] = {pk: [ResponsibilityPeriod(None)] for pk in consultations}
    starts: dict[int, list[int]] = {pk: [] for pk in consultations}
    for record in records:
        start = record_sequence.get(record.pk)
        if start is None:  # a record without its event (never expected): place it by time
            start = next((position[e.pk] for e in events if owner(e) == record.consultation_id and e.occurred_at >= record.recorded_at),
                         len(events))
        timelines[record.consultation_id].append(ResponsibilityPeriod(record))
        starts[record.consultation_id].append(start)
    for event in events:
        consultation_id = owner(event)
        if consultation_id is None or event.event_type == RESPONSIBILITY_EVENT:
            continue  # the record's own event is the record shown above its acts
        period = bisect_right(starts[consultation_id], position[event.pk])
        timelines[consultation_id][period].acts.append(Act(event, _acting_for(event, facilities, divisions)))
    return timelines


def responsibility_timeline(consultation: Consultation) -> list[ResponsibilityPeriod]:
    """One consultation's periods; the leading "before any record" period only if it has acts."""
    periods = responsibility_timelines([consultation])[consultation.pk]
    return periods if periods[0].acts else periods[1:]


# --- Seals (JL-C8) ------------------------------------------------------------------------------


def seal_list(*, user, consultation_id: int | None = None, open_only: bool = False):
    queryset = Seal.objects.visible_to(user).select_related(
        "consultation__inviting", "consultation__invited", "sealed_by", "unsealed_by"
    )
    if consultation_id is not None:
        queryset = queryset.filter(consultation_id=consultation_id)
    if open_only:
        queryset = queryset.filter(unsealed_at__isnull=True)
    return queryset.order_by("-sealed_at", "-id")


def seal_detail(*, user, pk: int) -> Seal:
    return (
        Seal.objects.visible_to(user)
        .select_related("consultation__inviting__division", "consultation__invited__division", "consultation__patient",
                        "sealed_by", "unsealed_by")
        .get(pk=pk)
    )


def may_manage_seals(*, user, consultation: Consultation) -> bool:
    """Whether to offer the seal and unseal buttons: a coordinator of either facility or a
    regulator over either. Only for display; ``audit.records`` decides for real."""
    scope = Scope.of(user)
    return any(scope.has_role(f, StaffRole.COORDINATOR) for f in (consultation.inviting_id, consultation.invited_id)) or any(
        scope.regulates(code) for code in (consultation.inviting.division_id, consultation.invited.division_id)
    )


def case_record_panel(*, user, consultation: Consultation) -> dict:
    """What the case page shows about the record under the law (``audit/_case_panel.html``). Issue 11:
    a case read with ``has_open_seal`` (``consultations.selectors.case_page_shape``) that has none asks nothing."""
    seal = None if getattr(consultation, "has_open_seal", None) is False else open_seal(consultation.pk)
    return {"seal": seal, "may_manage_seals": may_manage_seals(user=user, consultation=consultation)}


def sealed_access_needed(*, session, consultation_id: int) -> bool:
    """JL-C8 (art. 37): True while the record is sealed and this session has not stated a purpose.

    The case page calls this and, when True, sends the user to ``audit:sealed-access`` first.
    """
    return is_sealed(consultation_id) and consultation_id not in set(session.get(SEALED_ACCESS_KEY, []))


# --- Chain verification (JL-A1) -----------------------------------------------------------------


def chain_length() -> int:
    """How many events the chain holds: its last sequence number (sequences start at 1 and are
    contiguous, JL-A1), read from the unique index instead of counting every row. Events committed
    but not yet chained (issue 11) are not counted: ``pending_count``."""
    return (AuditEvent.objects.filter(sequence__isnull=False).order_by("-sequence")
            .values_list("sequence", flat=True).first() or 0)


def pending_count() -> int:
    """Events committed but not yet chained (issue 11), read from the partial index of the sequencer's queue."""
    return AuditEvent.objects.filter(sequence__isnull=True).count()


def chain_status() -> dict:
    """The last background verification and the last recorded verification result."""
    return {
        "run": VerificationRun.objects.select_related("requested_by").order_by("-requested_at", "-id").first(),
        "event": AuditEvent.objects.filter(event_type=CHAIN_VERIFY_EVENT).newest_first().first(),
        "total": chain_length(),
        "pending": pending_count(),
    }


def checkpoint_list(*, user):
    """Signed checkpoints of the log, newest first (JL-A1; issue 11), for the audit administrator and
    regulators only (三员分立: the audit administrator reads and verifies the log):
    anyone else gets ``ApplicationError`` 403. They hold no patient data and are the same for every
    regulator, so they are not scoped by division."""
    from telemed.errors import ApplicationError

    from .models import AuditCheckpoint

    scope = Scope.of(user)
    if not (scope.is_audit_admin or scope.is_regulator):
        raise ApplicationError("permission_denied", "JL-A1: 只有审计管理员或卫生健康行政部门可以查看审计日志检查点。", status=403)
    return AuditCheckpoint.objects.order_by("-size")


# --- Quality control (JL-O2, art. 26, 27) -----------------------------------------------------------


def qc_plan_list(*, user):
    """Plans of the regulator's division and those below it (JL-O1), with their service types."""
    from .models import QCPlan

    return QCPlan.objects.visible_to(user).select_related("division").prefetch_related("service_types").order_by(
        "division_id", "-created_at"
    )


def qc_draw_list(*, user):
    from .models import QCDraw

    return QCDraw.objects.visible_to(user).select_related("plan__division", "checklist").order_by("-period_start", "-id")


def qc_review_list(*, user):
    """Reviews the user may see: as regulator over the plan's division, as the named reviewer, or as
    staff of the facility the feedback goes to. Request numbers only, no patient."""
    from .models import QCReview

    return QCReview.objects.visible_to(user).select_related(
        "draw__plan", "draw__checklist", "consultation", "facility", "reviewer"
    ).order_by("-draw__period_start", "draw_id", "consultation_id")
