"""Reads of the consultations app: scoped to the user (STYLE 3), joined, constant query counts."""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connections
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
    Window,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from audit.choices import EventType
from audit.models import AuditEvent, DetailText, Seal
from facilities import rules as facility_rules
from facilities.choices import ActingRole, StaffRole
from facilities.models import CooperationAgreement, Physician, ServiceType, Suspension
from telemed.checks import failing
from telemed.scope import Scope

from . import list_rows, rules, work_list_statements
from .case_statements import read_events, read_rows, read_visible_case
from .choices import (
    OPEN_REFERRAL_STATES,
    OPEN_STATES,
    ConsultationState,
    ObligationState,
    ReferralDirection,
    ReferralState,
    Side,
)
from .models import (
    INBOX_ORDER,
    URGENCY_RANK,
    Admission,
    ConsentVersion,
    Consultation,
    Document,
    Notification,
    Obligation,
    Opinion,
    Participant,
    Patient,
    Referral,
    ResponsibilityRecord,
    Violation,
)
from .violation_rows import violation_rows


def _with_suspension_flags(queryset):
    inviting_suspended, invited_suspended = _suspension_flags()
    return queryset.annotate(inviting_suspended=inviting_suspended, invited_suspended=invited_suspended)


@functools.cache
def _suspension_flags():
    """JL-F5: whether each party of a request is suspended now, as two ``Exists`` built once a
    process (issue 11: ~0.3 ms a list to build; ``annotate`` resolves a copy)."""
    return (
        Exists(Suspension.objects.filter(facility=OuterRef("inviting_id"), lifted_at__isnull=True)),
        Exists(Suspension.objects.filter(facility=OuterRef("invited_id"), lifted_at__isnull=True)),
    )


def consultation_list(*, user, side: str = "", state: str = "", search: str = "", open_only: bool = False,
                      suspension_flags: bool = True):
    """Requests the user may see; ``side`` = "inviting" (sent by my facilities) or "invited" (my inbox).
    ``suspension_flags``: annotate each row's JL-F5 flags (``inviting_suspended``, ``invited_suspended``)
    for the pages' actions; the partner API's list does not show them (issue 11: two subqueries fewer)."""
    scope = Scope.of(user)
    queryset = Consultation.objects.visible_to(user).select_related("inviting", "invited", "service_type", "patient")
    if suspension_flags:
        queryset = _with_suspension_flags(queryset)
    if side == "inviting":
        queryset = queryset.filter(inviting_id__in=scope.facility_ids)
    elif side == "invited":
        queryset = queryset.filter(invited_id__in=scope.facility_ids)
    if state:
        queryset = queryset.filter(state=state)
    if open_only:
        queryset = queryset.filter(state__in=OPEN_STATES)
    if search:
        term = search.strip()
        queryset = queryset.filter(number__icontains=term) | queryset.filter(patient__name__icontains=term)
    return queryset.order_by("-created_at")


def patient_open_draft(*, user, patient) -> Consultation | None:
    """The patient's newest draft the user may see, if any (so that "start a request" opens it)."""
    return (
        Consultation.objects.visible_to(user)
        .filter(patient=patient, state=ConsultationState.DRAFT)
        .order_by("-created_at", "-pk")
        .first()
    )


def consultation_detail(*, user, pk: int) -> Consultation:
    """One case, joined, for the acts taken on it and the API (the case page reads ``consultation_case_page``)."""
    queryset = (
        _with_suspension_flags(Consultation.objects.visible_to(user))
        .select_related("inviting__division", "invited__division", "service_type", "patient", "admission", "agreement", "created_by",
                        "consent")
        .prefetch_related(
            Prefetch("participants", queryset=Participant.objects.select_related("physician")),
            Prefetch("documents", queryset=Document.objects.select_related("uploaded_by")),
            Prefetch("opinions", queryset=Opinion.objects.select_related("signed_by").order_by("version")),
            Prefetch("responsibilities", queryset=ResponsibilityRecord.objects.select_related("acted_by", "inviting_facility", "invited_facility")),
            Prefetch("consent_versions", queryset=ConsentVersion.objects.select_related("recorded_by", "superseded_by").order_by("-version")),
            "ratings",
        )
    )
    return queryset.get(pk=pk)


def case_page_shape(queryset):
    """What the case page reads of a case beside its rows (``consultation_case_page``)."""
    return (
        _with_suspension_flags(queryset)
        .select_related("inviting", "invited", "service_type", "patient", "consent")
        .annotate(
            agreement_number=Subquery(CooperationAgreement.objects.filter(pk=OuterRef("agreement_id")).values("number")),
            has_referrals=Exists(Referral.objects.filter(consultation=OuterRef("pk"))),
            # JL-C8: whether the record is sealed; the seal itself is read only then (``case_record_panel``).
            has_open_seal=Exists(Seal.objects.filter(consultation=OuterRef("pk"), unsealed_at__isnull=True)),
        )
    )


def consultation_case_page(*, user, pk: int) -> Consultation:
    """The case for its page (``views._case_page``), with what the page shows and no more (issue 11).

    The case joins only its parties, service type, patient and consent: a 10-table join took
    PostgreSQL longer to plan (5–14 ms) than all the page's other queries to run, so the agreement
    comes as its number (``agreement_number``, a subquery) and an admission, which few cases have,
    is read when the page shows it. Its rows follow, one query each: participants, documents,
    opinions, responsibility records, ratings; its referrals (JL-C10) only when an ``Exists`` in the
    case's query found one (most cases have none), its open seal (JL-C8) likewise (``has_open_seal``); the consent's kept versions (JL-C3) only once it
    was recorded again (its ``version`` counts them, ``services.consent_record``). A responsibility
    record and a referral name the case's own two facilities, and a referral's JL-F5 flags are
    theirs: they are taken from the case, not joined again.
    """
    # Issue 11: the case's columns, joins and annotations are compiled once a process
    # (``case_statements.read_case``); the scope (JL-C6/JL-O2) is ``visible_to``'s, compiled once per
    # user and scope with the case's id and the time bound for the request (``read_visible_case``).
    consultation = read_visible_case(case_page_shape, user, pk)
    # Issue 11: participants, documents, opinions, responsibility records and ratings, each with a
    # statement compiled once a process (``case_statements``), kept as a prefetch keeps them.
    read_rows(consultation, ("participants", "documents", "opinions", "responsibilities", "ratings"))
    lookups = []
    if consultation.has_referrals:
        lookups.append(Prefetch("referrals", queryset=Referral.objects.order_by("-offered_at", "-pk")))
    if _has_kept_consent_versions(consultation):
        lookups.append(Prefetch("consent_versions", queryset=ConsentVersion.objects.select_related("recorded_by", "superseded_by").order_by("-version")))
    if lookups:
        prefetch_related_objects([consultation], *lookups)
    if not consultation.has_referrals:
        _read_as_empty(consultation, "referrals")
    facilities = {consultation.inviting_id: consultation.inviting, consultation.invited_id: consultation.invited}
    suspended = {consultation.inviting_id: consultation.inviting_suspended, consultation.invited_id: consultation.invited_suspended}
    for record in consultation.responsibilities.all():
        _share(record, "inviting_facility", facilities)
        _share(record, "invited_facility", facilities)
    for referral in consultation.referrals.all():
        referral.patient_id = consultation.patient_id
        _share(referral, "sending", facilities)
        _share(referral, "receiving", facilities)
        if referral.sending_id in suspended and referral.receiving_id in suspended:
            referral.sending_suspended = suspended[referral.sending_id]
            referral.receiving_suspended = suspended[referral.receiving_id]
        else:  # not the case's own facilities: ask (never the case in practice)
            referral.sending_suspended, referral.receiving_suspended = (
                Suspension.objects.filter(facility_id=fid, lifted_at__isnull=True).exists()
                for fid in (referral.sending_id, referral.receiving_id)
            )
    return consultation


def _has_kept_consent_versions(consultation: Consultation) -> bool:
    consent = consent_for(consultation)
    return consent is not None and consent.version > 1


def kept_consent_versions(consultation: Consultation) -> list[ConsentVersion]:
    """The consent's earlier versions, newest first (JL-C3). ``services.consent_record`` keeps one each
    time the consent is recorded again, numbering the current one after them: at version 1 there
    is none to read."""
    return list(consultation.consent_versions.all()) if _has_kept_consent_versions(consultation) else []


def _read_as_empty(instance, relation: str) -> None:
    """Mark ``instance.<relation>`` as read and empty, as ``prefetch_related`` marks a relation it
    read, so that ``.all()`` asks no query (the case's ``Exists`` annotation said there is no row)."""
    queryset = getattr(instance, relation).none()
    queryset._result_cache, queryset._prefetch_done = [], True
    instance._prefetched_objects_cache[relation] = queryset


def _share(row, field: str, facilities: dict) -> None:
    """Give ``row`` the case's own facility object for ``field`` when it names one (else it is read
    when used, as any foreign key)."""
    facility = facilities.get(getattr(row, f"{field}_id"))
    if facility is not None:
        setattr(row, field, facility)


def open_obligation_due(*, consultation: Consultation):
    """JL-C2: when the earliest open 24-hour upload obligation this request answers falls due —
    one linked to it, or its patient's not yet linked at the inviting facility (one query)."""
    return (
        Obligation.objects.filter(state=ObligationState.OPEN, facility_id=consultation.inviting_id)
        .filter(Q(consultation=consultation) | Q(consultation__isnull=True, patient_id=consultation.patient_id))
        .order_by("due_at").values_list("due_at", flat=True).first()
    )


def consent_for(consultation: Consultation):
    return getattr(consultation, "consent", None) if hasattr(consultation, "consent") else None


def obligation_list(*, user, state: str = ObligationState.OPEN):
    queryset = Obligation.objects.visible_to(user).select_related("patient", "facility", "consultation")
    if state:
        queryset = queryset.filter(state=state)
    return queryset.order_by("due_at")


def open_obligation_count(*, user) -> int:
    """How many open JL-C2 obligations the user's facilities have (the inviting work list's tab).
    Facility staff count with a statement compiled once (``work_list_statements``, issue 11)."""
    ids = Scope.of(user).facility_ids
    if Consultation.objects.staff_only(user, Side.INVITING):
        return work_list_statements.open_obligation_count(user=user, facility_ids=ids)
    return obligation_list(user=user).filter(facility_id__in=ids).count()


def violation_list(*, user):
    """Violations the user may see; each row carries its patient's id (``Violation.patient_id``,
    through the joined obligation) for the access log (JL-C8), since a violation names the patient
    only through its obligation. No annotation: Django would keep its join in the paginator's
    ``COUNT(*)``, a scan of every obligation (issue 11); the count reads the violations alone."""
    return (
        Violation.objects.visible_to(user)
        .select_related("facility__division", "obligation__patient")
        .order_by("-due_at")
    )


def notification_list(*, user, unread_only: bool = False):
    """The user's own notifications, newest first, each with its e-mail/SMS deliveries (issue 12)."""
    queryset = Notification.objects.filter(user=user).prefetch_related("deliveries")
    if unread_only:
        queryset = queryset.filter(read_at__isnull=True)
    return queryset.order_by("-created_at")


# --- Reads for the pages (consultations.views) ----------------------------------------------------


def consultations_on_side(*, user, side: str = ""):
    """The requests ``user`` may see on ``side`` (all sides when ""), bare
    (``ConsultationQuerySet.on_side``)."""
    return Consultation.objects.on_side(user, side)


def work_list_order(queryset, *, side: str):
    """A work list's rows joined and in its order: the inviting side newest first; the invited inbox
    puts requests awaiting acceptance first (most urgent, earliest requested time), then the ones
    under way (JL-C4)."""
    queryset = _with_suspension_flags(queryset.select_related("inviting", "invited", "service_type", "patient"))
    if side == Side.INVITED:
        return queryset.order_by(*INBOX_ORDER)  # its open requests' index: consult_inbox_open_order_idx
    return queryset.order_by("-created_at")


def consultation_work_list(*, user, side: str = "", states=(), search: str = ""):
    """A work list (``work_list_order``): what ``user`` sees on ``side`` in ``states``, the request
    number or the patient's name containing ``search``."""
    queryset = Consultation.objects.on_side(user, side, states)
    if search:
        term = search.strip()
        queryset = queryset.filter(number__icontains=term) | queryset.filter(patient__name__icontains=term)
    return work_list_order(queryset, side=side)


def consultation_work_rows(*, user, side: str = "", states=()):
    """A work list's rows (no search) as ``list_rows.values`` reads them, for a ``Paginator`` given
    its count. Facility staff read them with a statement compiled once per shape
    (``work_list_statements``, issue 11); anyone else through ``consultation_work_list``."""
    if Consultation.objects.staff_only(user, side):
        return work_list_statements.WorkRows(user=user, side=side, states=states, facility_ids=Scope.of(user).facility_ids)
    return list_rows.values(consultation_work_list(user=user, side=side, states=states))


# --- Work lists of issue 12: what I must answer, what waits for my facility (JL-C4) ----------------

# An opinion or report is still due from the assigned expert in these states (JL-C6: signing ends it).
OPINION_DUE_STATES = (ConsultationState.ACCEPTED, ConsultationState.SCHEDULED, ConsultationState.IN_SESSION)
# "Scheduled soon" on the invited coordinator's start page: a session within this time from now.
SCHEDULED_SOON = timedelta(hours=24)
WAITING_ACCEPT, WAITING_EXPERT, WAITING_SESSION = "accept", "expert", "session"


def _work_rows(queryset):
    return queryset.select_related("inviting", "invited", "service_type", "patient")


def expert_assigned_list(*, user):
    """分配给我: the cases where the user's physician is an assigned expert (invited side) and the
    opinion or report is still due — 急诊 first, then 加急, then by the scheduled time, the time the
    inviting side asked for and the time sent. One query; the filter follows the indexed foreign
    keys Participant.physician and Physician.user, the rows per expert are few."""
    mine = Participant.objects.filter(consultation=OuterRef("pk"), side=Side.INVITED, physician__user_id=user.pk)
    return _work_rows(
        Consultation.objects.visible_to(user).filter(Exists(mine), state__in=list(OPINION_DUE_STATES))
    ).order_by(
        URGENCY_RANK,
        F("scheduled_for").asc(nulls_last=True),
        F("requested_time").asc(nulls_last=True),
        F("sent_at").asc(nulls_last=True),
        "pk",
    )


def invited_waiting_list(*, user, now: datetime):
    """The invited coordinator's start page (JL-C4): requests to their facilities that wait for them —
    sent and awaiting acceptance, accepted without an expert, or with a session within
    ``SCHEDULED_SOON`` — each with ``waiting_for``; 急诊 first, then by the due time (the session's,
    else the requested one), then the time sent. One query (index ``consult_invited_state_idx``)."""
    ids = Scope.of(user).facilities_with_role(*rules.INVITED_COORDINATION)
    has_expert = Exists(Participant.objects.filter(consultation=OuterRef("pk"), side=Side.INVITED))
    queryset = (
        Consultation.objects.visible_to(user)
        .filter(invited_id__in=ids, state__in=list(OPINION_DUE_STATES) + [ConsultationState.SENT])
        .annotate(has_expert=has_expert)
        .filter(
            Q(state=ConsultationState.SENT)
            | Q(state__in=list(OPINION_DUE_STATES), has_expert=False)
            | Q(state=ConsultationState.SCHEDULED, scheduled_for__lte=now + SCHEDULED_SOON)
        )
        .annotate(
            waiting_for=Case(
                When(state=ConsultationState.SENT, then=Value(WAITING_ACCEPT)),
                When(has_expert=False, then=Value(WAITING_EXPERT)),
                default=Value(WAITING_SESSION),
                output_field=CharField(),
            )
        )
    )
    return _work_rows(queryset).order_by(
        URGENCY_RANK,
        Coalesce("scheduled_for", "requested_time").asc(nulls_last=True),
        F("sent_at").asc(nulls_last=True),
        "pk",
    )


def with_response_clocks(rows, *, now: datetime) -> list:
    """Give each row awaiting acceptance its JL-C4 ``response`` clock (None for the others). No query."""
    rows = list(rows)
    targets = settings.TELEMED_RESPONSE_TARGET_MINUTES
    for row in rows:
        row.response = (
            rules.response_clock(urgency=row.urgency, sent_at=row.sent_at, now=now, targets_minutes=targets)
            if row.state == ConsultationState.SENT and row.sent_at
            else None
        )
    return rows


def consultation_state_counts(*, user, side: str = "") -> dict[str, int]:
    """How many visible requests are in each state on ``side`` (one query, for the tabs), each at most
    ``list_rows.TAB_COUNT_CAP + 1`` (a tab shows "999+" above the cap).

    Issue 11: a facility's staff count with ``COUNT(*)`` on the side's ``(facility, state)`` index
    alone (an index-only scan; ``COUNT(pk)`` read every row of the facility's history), with a
    statement compiled once per shape (``work_list_statements``)."""
    if Consultation.objects.staff_only(user, side):
        return work_list_statements.state_counts(user=user, side=side, facility_ids=Scope.of(user).facility_ids)
    queryset = Consultation.objects.on_side(user, side)
    sql, params = work_list_statements.capped_counts_sql(queryset, queryset.db, list_rows.TAB_COUNT_CAP)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return {state: n for state, n in cursor.fetchall() if n}


def consultation_tab_count(*, user, side: str = "", states=()) -> int:
    """How many visible requests are in ``states`` (all when empty) on ``side``, exactly: the paginator's
    count for a tab past ``list_rows.TAB_COUNT_CAP``."""
    if Consultation.objects.staff_only(user, side):
        return work_list_statements.tab_count(
            user=user, side=side, states=tuple(states), facility_ids=Scope.of(user).facility_ids
        )
    return Consultation.objects.on_side(user, side, states).order_by().count()


def case_actor(*, user, consultation: Consultation) -> rules.Actor:
    """What ``user`` is on a case, for ``rules.decide_transition``: roles from the cached scope; the
    assigned expert from the participants ``consultation_detail`` prefetched (no query), or else by
    one query (the services, which load the case bare)."""
    scope = Scope.of(user)
    user_id = getattr(user, "pk", None)
    if not user_id:
        is_expert = False
    elif "participants" in getattr(consultation, "_prefetched_objects_cache", {}):
        is_expert = any(p.side == Side.INVITED and p.physician.user_id == user_id for p in consultation.participants.all())
    else:
        is_expert = Participant.objects.filter(consultation=consultation, side=Side.INVITED, physician__user_id=user_id).exists()
    return rules.Actor(
        inviting_roles=scope.facility_roles.get(consultation.inviting_id, frozenset()),
        invited_roles=scope.facility_roles.get(consultation.invited_id, frozenset()),
        is_assigned_expert=is_expert,
    )


def consultation_allowed_actions(*, user, consultation: Consultation) -> dict[str, rules.Edge]:
    """The state-graph actions ``user`` may take on a case from ``consultation_detail`` now, by
    ``rules.decide_transition`` (the same decision the services take again). No queries: roles come
    from the cached scope, the expert from the prefetched participants, JL-F5 from the annotations."""
    actor = case_actor(user=user, consultation=consultation)
    allowed = {}
    for action in rules.ACTIONS:
        decision = rules.decide_transition(
            state=consultation.state,
            action=action,
            category=consultation.service_type.category,
            actor=actor,
            inviting_suspended=bool(getattr(consultation, "inviting_suspended", False)),
            invited_suspended=bool(getattr(consultation, "invited_suspended", False)),
        )
        if decision.allowed:
            allowed[action] = decision.edge
    return allowed


def consultation_timeline(*, consultation: Consultation):
    """Every audit event of a case (JL-A1), in the order of the chain: the events that name it in
    their details and those whose object it is (e.g. the JL-P checks of an expert assignment)."""
    return (
        AuditEvent.objects.alias(case_number=DetailText("consultation"))
        .filter(
            Q(case_number=consultation.number)
            | Q(object_type="consultations.consultation", object_id=str(consultation.pk))
        )
        .chain_order()  # issue 11: events not yet chained last
    )


def case_page_events(*, consultation: Consultation, fields: tuple[str, ...], accesses_shown: int) -> list:
    """The case page's events (``consultation_timeline``), one statement, as named rows of ``fields``
    and ``is_access``, ``access_total``: every event of the timeline, and of the JL-C8 accesses
    (``record.*``), which grow with every view of the case, the latest ``accesses_shown`` (issue 11);
    ``access_total`` counts them all. In the chain's order."""
    # Issue 11: compiled once a process (``case_statements.read_events``), run with the case's id and number.
    return read_events(case_page_events_queryset, consultation, fields, accesses_shown)


def case_page_events_queryset(consultation: Consultation, fields: tuple[str, ...], accesses_shown: int):
    """The statement of ``case_page_events``."""
    is_access = Case(When(event_type__startswith="record.", then=Value(True)), default=Value(False))
    newest_first = (F("sequence").desc(nulls_first=True), F("id").desc())  # AuditEvent.objects.newest_first()
    return (
        consultation_timeline(consultation=consultation)
        .annotate(
            is_access=is_access,
            newer=Window(RowNumber(), partition_by=[is_access], order_by=newest_first),
            access_total=Window(Count("id"), partition_by=[is_access]),
        )
        .filter(Q(is_access=False) | Q(newer__lte=accesses_shown))
        .values_list(*fields, "is_access", "access_total", named=True)
    )


def document_for_download(*, user, consultation_pk: int, pk: int) -> Document:
    """A document of a request the user may see (JL-C5, JL-C8); anything else is not found."""
    return Document.objects.select_related("consultation").get(
        pk=pk, consultation_id=consultation_pk, consultation__in=Consultation.objects.visible_to(user)
    )


def physicians_registered_at(*, user, facility_id: int):
    """Physicians registered to practise at ``facility_id`` (JL-P2), for the attending/expert choice."""
    return (
        Physician.objects.visible_to(user)
        .filter(registrations__facility_id=facility_id)
        .distinct()
        .order_by("name", "id")
    )


def expert_scopes(consultation: Consultation) -> tuple[str, ...]:
    """JL-P5 (art. 14.5): the scopes of practice of which the case's expert must hold one — the
    diagnosis service's own (``ServiceType.required_scope``; ECG per ``TELEMED_ECG_SCOPES``), the
    wanted speciality for an opinion service (``facilities.rules.expert_scopes``)."""
    service_type = consultation.service_type
    return facility_rules.expert_scopes(
        category=service_type.category,
        required_scope=service_type.required_scope,
        modality=consultation.modality,
        wanted_scope=consultation.wanted_scope,
        ecg_scopes=settings.TELEMED_ECG_SCOPES,
    )


def expert_candidates(*, user, consultation: Consultation, on: date) -> list[Physician]:
    """The physicians of the invited facility who would pass every JL-P check (P1..P6, with the
    case's JL-P5 scopes) and the JL-C4 title wanted, as of ``on``: what the assign form and the
    API offer. The service checks again at the act."""
    scopes = expert_scopes(consultation)
    candidates = []
    for physician in physicians_registered_at(user=user, facility_id=consultation.invited_id).prefetch_related("registrations"):
        registration = next((r for r in physician.registrations.all() if r.facility_id == consultation.invited_id), None)
        checks = facility_rules.physician_checks(physician, registration, acting_role=ActingRole.EXPERT, scope=scopes, on=on)
        if not failing(checks) and facility_rules.title_meets_wanted(title=physician.title, wanted_title=consultation.wanted_title):
            candidates.append(physician)
    return candidates


def agreement_destinations(*, user, inviting_id: int, on: date):
    """JL-F3 (art. 15): the agreements in force on ``on`` with ``inviting_id`` as the inviting side,
    their invited facility (with its JL-F5 flag) and their active service types prefetched."""
    return (
        CooperationAgreement.objects.visible_to(user)
        .in_force_on(on)
        .filter(inviting_id=inviting_id)
        .select_related("invited")
        .annotate(
            invited_suspended=Exists(Suspension.objects.filter(facility=OuterRef("invited_id"), lifted_at__isnull=True))
        )
        .prefetch_related(
            Prefetch("service_types", queryset=ServiceType.objects.filter(active=True).order_by("sort_order", "code"))
        )
        .order_by("invited__name", "-valid_from")
    )


def patient_search(*, user, facility_ids, search: str = ""):
    """Patients of the user's facilities by name, or by the full record, identity or phone number
    (a partial number finds nobody: JL-C9; the numbers through their blind indexes: JL-A2)."""
    queryset = Patient.objects.visible_to(user).filter(facility_id__in=list(facility_ids)).select_related("facility")
    term = search.strip()
    if term:
        queryset = queryset.filter(
            Q(name__icontains=term) | Q(medical_record_number=term) | Patient.objects.number_q(term)
        )
    return queryset.order_by("name", "id")


SEARCH_LIMIT = 50


def record_search(*, user, term: str, limit: int = SEARCH_LIMIT) -> tuple[list[Patient], list[Consultation]]:
    """Issue 12: patients and cases within the user's scope (``visible_to``) by the patient's name,
    the last 4 characters of the identity number (``Patient.id_last4``, what the JL-C9 mask shows
    anyway — never more of it), the request number, the record number (病案号/门诊号) or an
    inpatient number (住院号). Two queries; at most ``limit`` of each, most recent cases first.
    Indexed: ``patient_id_last4_idx``, ``patient_record_number_idx``, ``admission_unique_number``
    and the unique request number; a name is matched anywhere in it, as the other patient lookups."""
    term = term.strip()
    if not term:
        return [], []
    suffix = term.upper() if len(term) == 4 else None

    def matching(prefix: str = "") -> Q:
        condition = Q(**{f"{prefix}name__icontains": term}) | Q(**{f"{prefix}medical_record_number": term})
        if suffix:
            condition |= Q(**{f"{prefix}id_last4": suffix})
        return condition | Q(**{f"{prefix}pk__in": Admission.objects.filter(inpatient_number=term).values("patient_id")})

    patients = list(
        Patient.objects.visible_to(user).filter(matching()).select_related("facility").order_by("name", "id")[:limit]
    )
    cases = list(
        _work_rows(Consultation.objects.visible_to(user))
        .filter(Q(number__iexact=term) | Q(number__istartswith=term) | matching("patient__"))
        .order_by("-created_at", "-pk")[:limit]
    )
    return patients, cases


def patient_detail(*, user, pk: int) -> Patient:
    return (
        Patient.objects.visible_to(user)
        .select_related("facility")
        .prefetch_related(Prefetch("admissions", queryset=Admission.objects.order_by("-admitted_at")))
        .get(pk=pk)
    )


def admission_watch_list(*, user):
    """JL-C2 (1): inpatient episodes without a confirmed diagnosis, oldest admission first."""
    return (
        Admission.objects.visible_to(user)
        .filter(diagnosis_confirmed_at__isnull=True, discharged_at__isnull=True)
        .select_related("patient", "facility")
        .order_by("admitted_at", "pk")
    )


_UNREAD_USER_MARK = -7_340_039  # no user has this id: it marks where the user's id goes in the compiled count


@functools.lru_cache(maxsize=8)
def _unread_count_sql(alias: str, vendor: str) -> tuple[str, tuple, int]:
    """The SQL of ``notification_unread_count``'s count, compiled once per database (issue 11: the
    navigation counts on every work page, and building and compiling ``.count()`` cost several times
    its round trip). The rows counted are the queryset's own (the same conditions, the same table);
    the count is taken over them as Django does for a sliced or distinct queryset."""
    query = Notification.objects.using(alias).filter(user_id=_UNREAD_USER_MARK, read_at__isnull=True).order_by()
    sql, params = query.values_list("pk").query.get_compiler(using=alias).as_sql()
    user_at = [i for i, value in enumerate(params) if value == _UNREAD_USER_MARK]
    if len(user_at) != 1:
        raise RuntimeError("the unread count does not have one place for the user")
    quote = connections[alias].ops.quote_name
    return f"SELECT COUNT(*) FROM ({sql}) {quote('unread')}", tuple(params), user_at[0]  # noqa: S608 - compiled


def notification_unread_count(*, user) -> int:
    """How many of ``user``'s notifications are unread: ``Notification.objects.filter(user=user,
    read_at__isnull=True).count()``, run as a statement compiled once (``_unread_count_sql``)."""
    if user is None or user.pk is None:
        return 0
    alias = Notification.objects.db
    connection = connections[alias]
    sql, params, user_at = _unread_count_sql(alias, connection.vendor)
    bound = list(params)
    bound[user_at] = user.pk
    with connection.cursor() as cursor:
        cursor.execute(sql, bound)
        return cursor.fetchone()[0]


def home_work_summary(*, user, now: datetime | None = None, obligations: int = 10, violations: int = 10, rows: int = 10) -> dict:
    """The start page: staff see their open JL-C2 obligations (most urgent first) and how many
    drafts, inbox requests and requests awaiting an opinion they have; regulators see the latest
    violations in their division. A fixed number of queries."""
    scope = Scope.of(user)
    now = now or timezone.now()
    summary: dict = {"now": now, "obligations": [], "obligations_open": 0, "counts": None, "violations": [], "assigned": [], "waiting": []}
    if scope.facility_roles:
        ids = scope.facility_ids
        summary["counts"] = Consultation.objects.filter(Q(inviting_id__in=ids) | Q(invited_id__in=ids)).aggregate(
            drafts=Count(
                "pk", filter=Q(inviting_id__in=ids, state__in=[ConsultationState.DRAFT, ConsultationState.RETURNED])
            ),
            inbox=Count("pk", filter=Q(invited_id__in=ids, state=ConsultationState.SENT)),
            awaiting=Count(
                "pk",
                filter=Q(
                    inviting_id__in=ids,
                    state__in=[ConsultationState.ACCEPTED, ConsultationState.SCHEDULED, ConsultationState.IN_SESSION],
                ),
            ),
        )
        open_obligations = obligation_list(user=user).filter(facility_id__in=ids)
        summary["obligations"] = list(open_obligations[:obligations])
        summary["obligations_open"] = (
            len(summary["obligations"]) if len(summary["obligations"]) < obligations else open_obligations.count()
        )
        # Issue 12: the expert's cases to answer and the invited coordinator's waiting cases (one query each).
        summary["assigned"] = list(expert_assigned_list(user=user)[:rows])
        if scope.facilities_with_role(*rules.INVITED_COORDINATION):
            summary["waiting"] = with_response_clocks(invited_waiting_list(user=user, now=now)[:rows], now=now)
    if scope.is_regulator:  # plain rows, no model instances (issue 11, ``violation_rows``)
        summary["violations"] = violation_rows(violation_list(user=user)[:violations])
    # JL-C10: the dashboard counts referrals (one query).
    summary["referrals"] = referral_counts(user=user) if scope.facility_roles or scope.is_regulator else None
    return summary


# --- Medical records under the law (JL-C8, JL-C9) ------------------------------------------------

# Who needs a patient's full identity and phone numbers (JL-C9, art. 36): the clinicians and the
# telemedicine coordinators of the patient's own hospital (the inviting facility), who call the
# patient and match them with their own records. Nobody else, the invited side included.
REVEAL_ROLES = (StaffRole.CLINICIAN, StaffRole.COORDINATOR)
# Query parameters of a list whose value may be a patient's number; the access log keeps them masked.
_NUMBER_FILTERS = ("q", "search", "medical_record_number", "external_id")


def may_reveal_identity(*, user, patient: Patient) -> bool:
    """JL-C9: may ``user`` see ``patient``'s full identity and phone numbers? No query (cached scope)."""
    return Scope.of(user).has_role(patient.facility_id, *REVEAL_ROLES)


def sealed_access_purpose(*, user, consultation: Consultation, seal) -> str:
    """The purpose ``user`` stated on ``audit:sealed-access`` for this seal of ``consultation``
    (JL-C8, art. 37), to be carried by every access they make while it stays sealed; "" if none."""
    purpose = (
        AuditEvent.objects.filter(
            actor=user,
            event_type=EventType.RECORD_VIEW,
            details__consultation=consultation.number,
            details__page="sealed-access",
            details__seal=seal.pk,
        )
        .newest_first()
        .values_list("details__purpose", flat=True)
        .first()
    )
    return str(purpose or "").strip()


def notifications_naming_patients(notifications) -> list[Notification]:
    """The notifications among ``notifications`` whose subject names a patient, for the access log.

    Only the JL-C2 reminders and violation notices do (``患者 王桂芝 …``); the obligation sweep files
    them under the dedupe key ``obligation:<id>:…``. Each is given that obligation's
    ``patient_id`` and ``facility_id``. One query, none when no notification names a patient.
    """

    def obligation_id(notification) -> int | None:
        kind, _sep, rest = notification.dedupe_key.partition(":")
        number = rest.partition(":")[0]
        return int(number) if kind == "obligation" and number.isdigit() else None

    notifications = list(notifications)
    ids = {obligation_id(n) for n in notifications} - {None}
    if not ids:
        return []
    owners = {pk: (patient_id, facility_id) for pk, patient_id, facility_id in
              Obligation.objects.filter(pk__in=ids).values_list("pk", "patient_id", "facility_id")}
    named = []
    for notification in notifications:
        owner = owners.get(obligation_id(notification))
        if owner is not None:
            notification.patient_id, notification.facility_id = owner
            named.append(notification)
    return named


def access_filters(params) -> dict:
    """What a list's access event (``record.list``) records of its query: the parameters given,
    with any value that may be a patient's number masked (JL-C9) — the audit log keeps no full
    identity or phone number either."""
    logged = {}
    for key, value in params.items():
        value = str(value).strip()
        if not value:
            continue
        masked = key in _NUMBER_FILTERS and any(ch.isdigit() for ch in value)
        logged[key] = rules.mask_number(value) if masked else value
    return logged


# --- JL-C10: two-way referral -------------------------------------------------------------------


def _referral_rows(queryset):
    """Joined for a list or the case page: each row carries its patient's id for the access log
    (JL-C8) and its facilities' JL-F5 flags for ``referral_allowed_actions``."""
    return (
        queryset.select_related("consultation__patient", "sending__division", "receiving__division", "offered_by")
        .annotate(
            patient_id=F("consultation__patient_id"),
            sending_suspended=Exists(Suspension.objects.filter(facility=OuterRef("sending_id"), lifted_at__isnull=True)),
            receiving_suspended=Exists(Suspension.objects.filter(facility=OuterRef("receiving_id"), lifted_at__isnull=True)),
        )
        .order_by("-offered_at", "-pk")
    )


def referral_list(*, user, direction: str = "", state: str = "", consultation_id: int | None = None):
    """Referrals the user may see (both facilities of the case and their regulators, JL-C10, JL-O1),
    newest first; filtered by direction and state (indexes ``referral_*_idx``)."""
    queryset = _referral_rows(Referral.objects.visible_to(user))
    if direction:
        queryset = queryset.filter(direction=direction)
    if state:
        queryset = queryset.filter(state=state)
    if consultation_id:
        queryset = queryset.filter(consultation_id=consultation_id)
    return queryset


def referral_detail(*, user, pk: int) -> Referral:
    return referral_list(user=user).get(pk=pk)


def referral_allowed_actions(*, user, referral: Referral) -> list[str]:
    """The steps ``user`` may take on ``referral`` now, by ``rules.decide_referral_step`` (the
    services decide again). No queries: the scope is cached, JL-F5 comes from the annotations."""
    scope = Scope.of(user)
    allowed = []
    for action in rules.REFERRAL_ACTIONS:
        decision = rules.decide_referral_step(
            state=referral.state, action=action,
            sending_roles=scope.facility_roles.get(referral.sending_id, frozenset()),
            receiving_roles=scope.facility_roles.get(referral.receiving_id, frozenset()),
            sending_suspended=bool(getattr(referral, "sending_suspended", False)),
            receiving_suspended=bool(getattr(referral, "receiving_suspended", False)),
        )
        if decision.allowed:
            allowed.append(action)
    return allowed


def referral_offerable(*, user, consultation: Consultation) -> list[str]:
    """The directions in which ``user`` may offer a referral on a case from ``consultation_detail``
    now (the time aside), by ``rules.decide_referral_offer``. No queries: opinions and referrals
    are prefetched, JL-F5 comes from the annotations."""
    scope = Scope.of(user)
    opinions = list(consultation.opinions.all())
    referrals = [(r.direction, r.state) for r in consultation.referrals.all()]
    suspended = {
        consultation.inviting_id: bool(getattr(consultation, "inviting_suspended", False)),
        consultation.invited_id: bool(getattr(consultation, "invited_suspended", False)),
    }
    offerable = []
    for direction in ReferralDirection.values:
        sending_id, receiving_id = rules.referral_parties(
            direction, inviting_id=consultation.inviting_id, invited_id=consultation.invited_id
        )
        decision = rules.decide_referral_offer(
            direction=direction,
            receiving_roles=scope.facility_roles.get(receiving_id, frozenset()),
            consultation_state=consultation.state,
            recommends_transfer=bool(opinions and opinions[-1].recommends_transfer),
            up_transferred=(ReferralDirection.UP, ReferralState.TRANSFERRED) in referrals,
            open_in_direction=any(d == direction and st in OPEN_REFERRAL_STATES for d, st in referrals),
            sending_suspended=suspended[sending_id],
            receiving_suspended=suspended[receiving_id],
        )
        if decision.allowed:
            offerable.append(direction)
    return offerable


def referral_counts(*, user) -> dict:
    """The start page (JL-C10): referrals awaiting the user's facilities (to confirm or to record
    the transfer) and, for regulators, their division's referrals by direction — one query."""
    scope = Scope.of(user)
    ids = scope.facility_ids
    if not ids:  # a regulator only: counted by direction and state (issue 11: five filtered counts cost more to build)
        counts: dict[tuple[str, str], int] = {
            (direction, state): n for direction, state, n in
            Referral.objects.visible_to(user).order_by().values_list("direction", "state").annotate(n=Count("pk"))
        }
        return {
            "awaiting": 0, "offered_by_us": 0,
            "up": counts.get((ReferralDirection.UP, ReferralState.TRANSFERRED), 0),
            "down": counts.get((ReferralDirection.DOWN, ReferralState.TRANSFERRED), 0),
            "open": sum(n for (_direction, state), n in counts.items() if state in OPEN_REFERRAL_STATES),
        }
    return Referral.objects.visible_to(user).aggregate(
        awaiting=Count("pk", filter=Q(sending_id__in=ids, state__in=list(OPEN_REFERRAL_STATES))),
        offered_by_us=Count("pk", filter=Q(receiving_id__in=ids, state__in=list(OPEN_REFERRAL_STATES))),
        up=Count("pk", filter=Q(direction=ReferralDirection.UP, state=ReferralState.TRANSFERRED)),
        down=Count("pk", filter=Q(direction=ReferralDirection.DOWN, state=ReferralState.TRANSFERRED)),
        open=Count("pk", filter=Q(state__in=list(OPEN_REFERRAL_STATES))),
    )
