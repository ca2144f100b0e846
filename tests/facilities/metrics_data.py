"""Random but reproducible activity around a Beijing month boundary, made through the services.

Each case is a list of timed steps (send, decline, return and re-send, accept, sign, close, rate;
a JL-C2 obligation before some of them); the steps of all cases are merged and run in time order,
each with the clock travelled to its instant, so the audit log reads as real use would. The
window straddles 1 November 2026 00:00 Beijing time (31 October 16:00 UTC): a UTC day and a
Beijing day disagree for a third of it.

``raw_figures`` computes every figure straight from the raw rows, independently of the facts, as
the yardstick the facts are compared with.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from zoneinfo import ZoneInfo

import time_machine
from django.test import TestCase

from audit.choices import EventType, Outcome
from audit.models import AuditEvent
from billing import services as billing_services
from billing.models import Charge
from consultations import services
from consultations.choices import ObligationState, TriggerKind
from consultations.models import Consultation, Obligation, Opinion, Rating, Violation
from facilities.choices import StaffRole
from facilities.models import ServiceType
from tests.factories import regulator, staff

BEIJING = ZoneInfo("Asia/Shanghai")
WINDOW_START = dt.datetime(2026, 10, 31, 14, 0, tzinfo=BEIJING)
WINDOW_HOURS = 20
NOW = "2026-11-06T12:00:00+08:00"


def price(world) -> None:
    province = regulator("220000", username="province_pricing")
    finance = staff(world.invited, StaffRole.FINANCE, username="finance_metrics")
    for code, fen in (("consultation", 30000), ("imaging", 15001)):
        service_type = ServiceType.objects.get(code=code)
        billing_services.price_standard_publish(actor=province, service_type=service_type, facility_level=None, max_price_fen=fen,
                                                valid_from=dt.date(2026, 1, 1), valid_until=None, document_number="吉价〔2026〕8号")
        billing_services.facility_price_set(actor=finance, facility=world.invited, service_type=service_type,
                                            price_fen=fen, valid_from=dt.date(2026, 1, 1))


def _case_steps(world, rng: random.Random, index: int) -> list[tuple[dt.datetime, object]]:
    start = WINDOW_START + dt.timedelta(minutes=rng.randint(0, WINDOW_HOURS * 60))
    service = rng.choice(["imaging", "imaging", "consultation"])
    scenario = rng.choice(["decline", "return_accept", "sign", "sign", "unsent"])
    case: dict = {}
    steps: list[tuple[dt.datetime, object]] = []

    def later(minutes_low: int, minutes_high: int) -> dt.datetime:
        return steps[-1][0] + dt.timedelta(minutes=rng.randint(minutes_low, minutes_high), seconds=rng.randint(0, 59))

    def register():
        case["patient"] = world.patient(name=f"患者{index}", id_number="")

    steps.append((start - dt.timedelta(hours=40), register))
    if rng.random() < 0.6:
        event_at = start - dt.timedelta(hours=rng.randint(1, 30), minutes=rng.randint(0, 59))

        def open_obligation(event_at=event_at):
            services.obligation_open(actor=world.clinician, patient=case["patient"], trigger=TriggerKind.PATIENT_REQUEST,
                                     event_at=event_at, details={"requested_by": "患者家属"})

        steps.append((event_at + dt.timedelta(minutes=1), open_obligation))
    if scenario == "unsent":
        return steps

    def send():
        draft = world.draft(service=service, patient=case["patient"], wanted_scope="imaging" if service == "imaging" else "internal")
        case["c"] = services.consultation_send(actor=world.coordinator, consultation=world.ready(draft))

    steps.append((start, send))
    if scenario == "decline":
        steps.append((later(5, 600), lambda: services.consultation_decline(actor=world.invited_coordinator, consultation=case["c"], reason="无相应专家")))
        return steps
    if scenario == "return_accept":
        steps.append((later(5, 300), lambda: services.consultation_return_material(actor=world.invited_coordinator, consultation=case["c"], reason="资料不全")))
        steps.append((later(5, 300), lambda: services.consultation_send(actor=world.coordinator, consultation=case["c"])))
        steps.append((later(5, 300), lambda: services.consultation_accept(actor=world.invited_coordinator, consultation=case["c"])))
        return steps

    def accept():
        services.consultation_accept(actor=world.invited_coordinator, consultation=case["c"])
        services.expert_assign(actor=world.invited_coordinator, consultation=case["c"], physician=world.expert_physician)
        if service != "imaging":
            services.consultation_schedule(actor=world.invited_coordinator, consultation=case["c"],
                                           scheduled_for=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30), video_link="https://meet.example.cn/room-1")

    steps.append((later(1, 400), accept))
    if service != "imaging":
        steps.append((later(30, 60), lambda: services.consultation_start_session(actor=world.expert, consultation=case["c"])))
    steps.append((later(5, 500), lambda: services.opinion_sign(actor=world.expert, consultation=case["c"], content="意见")))

    def close():
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.consultation_close(actor=world.clinician, consultation=case["c"])

    steps.append((later(5, 300), close))
    if rng.random() < 0.8:
        score = rng.randint(1, 5)
        steps.append((later(1, 200), lambda: services.rating_record(actor=world.clinician, consultation=case["c"], rater_kind="clinician", score=score)))
    return steps


def make_activity(world, *, seed: int, cases: int = 12) -> None:
    """Run ``cases`` random cases, then the JL-C2 sweep (violations) at the test's "now"."""
    rng = random.Random(seed)
    steps = [step for index in range(cases) for step in _case_steps(world, rng, index)]
    for moment, act in sorted(steps, key=lambda step: step[0]):
        with time_machine.travel(moment, tick=False):
            act()
    services.obligation_sweep()


# --- The yardstick: every figure straight from the raw rows ---------------------------------------


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (dt.datetime.combine(start, dt.time.min, tzinfo=BEIJING),
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=BEIJING))


def _rank(values: list[int], p: int) -> int | None:
    values = sorted(values)
    return values[math.ceil(len(values) * p / 100) - 1] if values else None


def raw_figures(facility_ids: set[int], start: dt.date, end: dt.date, *, service_type: str | None = None) -> dict:
    lo, hi = _bounds(start, end)

    def case_ok(c: Consultation, side: str) -> bool:
        return getattr(c, f"{side}_id") in facility_ids and (service_type is None or c.service_type_id == service_type)

    cases = {c.pk: c for c in Consultation.objects.all()}
    events = list(AuditEvent.objects.filter(object_type="consultations.consultation", outcome=Outcome.SUCCESS).order_by("occurred_at"))
    values: dict = {}
    active: set[int] = set()
    for key, event_type, side in (("sent", EventType.CONSULTATION_SEND, "inviting"), ("accepted", EventType.CONSULTATION_ACCEPT, "invited"),
                                  ("declined", EventType.CONSULTATION_DECLINE, "invited"),
                                  ("returned", EventType.CONSULTATION_RETURN_MATERIAL, "invited")):
        hits = [e for e in events if e.event_type == event_type and lo <= e.occurred_at < hi and case_ok(cases[int(e.object_id)], side)]
        values[key] = len(hits)
        active |= {getattr(cases[int(e.object_id)], f"{side}_id") for e in hits}
    response = []
    for e in events:
        if e.event_type in (EventType.CONSULTATION_ACCEPT, EventType.CONSULTATION_DECLINE) and lo <= e.occurred_at < hi and case_ok(cases[int(e.object_id)], "invited"):
            sends = [s.occurred_at for s in events if s.event_type == EventType.CONSULTATION_SEND and s.object_id == e.object_id and s.occurred_at <= e.occurred_at]
            response.append(int((e.occurred_at - max(sends)).total_seconds()))
    signed = [c for c in cases.values() if c.signed_at and lo <= c.signed_at < hi and case_ok(c, "invited")]
    values["completed"] = len(signed)
    active |= {c.invited_id for c in signed}
    turnaround = [int((c.signed_at - c.accepted_at).total_seconds()) for c in signed]
    experts = {Opinion.objects.get(consultation=c, version=1).signed_by_id for c in signed}
    if service_type is None:
        obligations = [o for o in Obligation.objects.filter(facility_id__in=facility_ids) if lo <= o.due_at < hi]
        decided = [o for o in obligations if o.state in (ObligationState.MET, ObligationState.VIOLATED)]
        values["obligations_due"] = len(decided)
        values["obligations_met"] = sum(1 for o in decided if o.state == ObligationState.MET and o.met_at <= o.due_at)
        values["violations"] = sum(1 for v in Violation.objects.filter(facility_id__in=facility_ids) if lo <= v.due_at < hi)
    else:
        values["obligations_due"] = values["obligations_met"] = values["violations"] = 0
    ratings = [r for r in Rating.objects.select_related("consultation") if lo <= r.recorded_at < hi and case_ok(r.consultation, "invited")]
    values["ratings_count"] = len(ratings)
    values["ratings_sum"] = sum(r.score for r in ratings)
    charges = [ch for ch in Charge.objects.select_related("consultation") if lo <= ch.completed_at < hi and not hasattr(ch, "reversal")]
    values["fee_fen"] = sum(ch.fee_fen for ch in charges if case_ok(ch.consultation, "inviting"))
    values["inviting_share_fen"] = sum(ch.inviting_share_fen for ch in charges if case_ok(ch.consultation, "inviting"))
    values["invited_share_fen"] = sum(ch.invited_share_fen for ch in charges if case_ok(ch.consultation, "invited"))
    due = values["obligations_due"]
    values["compliance_percent"] = round(100 * values["obligations_met"] / due, 1) if due else None
    values["satisfaction_mean"] = round(values["ratings_sum"] / values["ratings_count"], 2) if ratings else None
    values["response_median"], values["response_p90"] = _rank(response, 50), _rank(response, 90)
    values["turnaround_median"], values["turnaround_p90"] = _rank(turnaround, 50), _rank(turnaround, 90)
    values["active_facilities"] = len(active)
    values["active_experts"] = len(experts)
    return values
