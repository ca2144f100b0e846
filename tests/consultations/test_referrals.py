"""JL-C10 (art. 9): two-way referral through a green channel — the signed recommendation, the
step table edge by edge, every refusal code with its audit event, scope, API and pages."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from consultations import rules, services
from consultations.choices import ReferralDirection as D
from consultations.choices import ReferralParty
from consultations.choices import ReferralState as R
from consultations.models import Notification, Opinion, Referral
from consultations.services.opinions import signed_content_hash
from facilities import services as facility_services
from facilities.choices import StaffRole, SuspensionCause
from telemed.errors import ApplicationError
from tests.consultations import offer, signed
from tests.factories import staff

pytestmark = pytest.mark.django_db


# --- Helpers ---------------------------------------------------------------------------------


def refusals(code: str):
    return AuditEvent.objects.filter(event_type="referral.refuse", outcome="failure", details__code=code)


def refused(code, call, *, audited=True):
    before = refusals(code).count()
    with pytest.raises(ApplicationError) as caught:
        call()
    assert caught.value.code == code, caught.value
    assert caught.value.message.strip()
    assert refusals(code).count() == before + (1 if audited else 0)
    return caught.value


@pytest.fixture
def case(world):
    return signed(world)


@pytest.fixture
def up(world, case):
    return offer(world, case)


# --- The signed recommendation (JL-C6, JL-C10) --------------------------------------------------


def test_jl_c10_recommendation_is_signed_and_in_the_content_hash(world, case):
    opinion = case.opinions.get()
    assert opinion.recommends_transfer and opinion.transfer_reason == "病情危重，需上级医院手术治疗"
    base = dict(consultation_number=case.number, version=1, kind=opinion.kind, content=opinion.content,
                physician_id=opinion.signed_by_id, signed_at=opinion.signed_at)
    assert opinion.content_sha256 == signed_content_hash(**base, recommends_transfer=True, transfer_reason=opinion.transfer_reason)
    assert opinion.content_sha256 != signed_content_hash(**base)
    assert signed_content_hash(**base, recommends_transfer=True, transfer_reason="别的理由") != opinion.content_sha256
    event = AuditEvent.objects.get(event_type="opinion.sign", details__consultation=case.number)
    assert event.details["recommends_transfer"] is True and event.details["sha256"] == opinion.content_sha256


def test_jl_c6_an_opinion_without_recommendation_keeps_the_old_canonical_hash(world):
    """Signatures made before JL-C10 still verify: without a recommendation the canonical form is unchanged."""
    import hashlib
    import json

    consultation = signed(world, recommends=False)
    opinion = consultation.opinions.get()
    legacy = {"consultation": consultation.number, "version": 1, "kind": opinion.kind, "content": opinion.content,
              "physician": opinion.signed_by_id, "signed_at": opinion.signed_at.isoformat()}
    expected = hashlib.sha256(json.dumps(legacy, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
    assert opinion.content_sha256 == expected and not opinion.recommends_transfer and opinion.transfer_reason == ""


def test_jl_c10_a_recommendation_needs_a_short_reason(world):
    consultation = world.accepted_with_expert(service="imaging")
    for reason, fragment in (("  ", "须简要写明理由"), ("长" * 201, "200")):
        with pytest.raises(ApplicationError) as caught:
            services.opinion_sign(actor=world.expert, consultation=consultation, content="报告", recommends_transfer=True, transfer_reason=reason)
        assert caught.value.code == "JL-C10" and fragment in caught.value.message
    assert not Opinion.objects.filter(consultation=consultation).exists()


def test_jl_c10_a_correction_may_withdraw_the_recommendation(world, case):
    first = case.opinions.get()
    services.opinion_sign(actor=world.expert, consultation=case, content="复核后无需转诊。", corrects=first, correction_reason="复核影像")
    refused("referral_not_recommended", lambda: offer(world, case))


# --- The step table, edge by edge -----------------------------------------------------------------

SENDING = frozenset({StaffRole.COORDINATOR})
NONE = frozenset()


@pytest.mark.parametrize("edge", rules.REFERRAL_EDGES, ids=lambda e: f"{e.source}-{e.action}-{e.party}")
def test_jl_c10_every_edge_is_allowed_to_its_party_only(edge):
    mine = dict(sending_roles=SENDING, receiving_roles=NONE) if edge.party == ReferralParty.SENDING else dict(sending_roles=NONE, receiving_roles=SENDING)
    decision = rules.decide_referral_step(state=edge.source, action=edge.action, sending_suspended=False, receiving_suspended=False, **mine)
    assert decision.allowed and decision.edge.target == edge.target
    clinician = frozenset({StaffRole.CLINICIAN})
    denied = rules.decide_referral_step(state=edge.source, action=edge.action, sending_roles=clinician, receiving_roles=clinician,
                                        sending_suspended=False, receiving_suspended=False)
    assert denied.code == "permission_denied" and denied.status == 403


@pytest.mark.parametrize("state", list(R))
@pytest.mark.parametrize("action", rules.REFERRAL_ACTIONS)
def test_jl_c10_anything_not_in_the_table_is_an_invalid_transition(state, action):
    decision = rules.decide_referral_step(state=state, action=action, sending_roles=SENDING, receiving_roles=SENDING,
                                          sending_suspended=False, receiving_suspended=False)
    in_table = any(e.source == state and e.action == action for e in rules.REFERRAL_EDGES)
    assert decision.allowed == in_table
    if not in_table:
        assert decision.code == "invalid_transition" and "JL-C10" in decision.message


@pytest.mark.parametrize("action", ["confirm", "decline", "transfer"])
def test_jl_f5_a_suspension_stops_every_step_but_cancel(action):
    state = R.CONFIRMED if action == "transfer" else R.OFFERED
    decision = rules.decide_referral_step(state=state, action=action, sending_roles=SENDING, receiving_roles=SENDING,
                                          sending_suspended=False, receiving_suspended=True)
    assert decision.code == "JL-F5" and "接收方" in decision.message
    assert rules.decide_referral_step(state=state, action="cancel", sending_roles=SENDING, receiving_roles=SENDING,
                                      sending_suspended=True, receiving_suspended=True).allowed


def test_jl_c10_referral_parties_up_and_down():
    assert rules.referral_parties(D.UP, inviting_id=1, invited_id=2) == (1, 2)
    assert rules.referral_parties(D.DOWN, inviting_id=1, invited_id=2) == (2, 1)


# --- The services: the whole way up and back down -------------------------------------------------


def test_jl_c10_up_then_down_with_every_step_audited_and_notified(world, case):
    up = offer(world, case)
    assert (up.state, up.sending_id, up.receiving_id, up.opinion_id) == (R.OFFERED, world.inviting.pk, world.invited.pk, case.opinions.get().pk)
    assert Notification.objects.filter(user=world.coordinator, dedupe_key=f"referral:{up.pk}:offered").exists()
    services.referral_confirm(actor=world.coordinator, referral=up)
    assert Notification.objects.filter(user=world.invited_coordinator, dedupe_key=f"referral:{up.pk}:confirmed").exists()
    up = services.referral_transfer(actor=world.coordinator, referral=up)
    assert up.state == R.TRANSFERRED and up.transferred_by == world.coordinator and up.confirmed_at is not None
    down = offer(world, case, direction=D.DOWN, department="康复医学科", kind="appointment")
    assert (down.sending_id, down.receiving_id, down.opinion_id) == (world.invited.pk, world.inviting.pk, None)
    services.referral_confirm(actor=world.invited_coordinator, referral=down)
    services.referral_transfer(actor=world.invited_coordinator, referral=down)
    events = list(AuditEvent.objects.filter(event_type__startswith="referral.").order_by("sequence").values_list("event_type", "acting_facility_id"))
    assert events == [
        ("referral.offer", world.invited.pk), ("referral.confirm", world.inviting.pk), ("referral.transfer", world.inviting.pk),
        ("referral.offer", world.inviting.pk), ("referral.confirm", world.invited.pk), ("referral.transfer", world.invited.pk),
    ]


def test_jl_c10_decline_and_cancel_need_a_reason_and_record_it(world, case, up):
    with pytest.raises(ApplicationError) as caught:
        services.referral_decline(actor=world.coordinator, referral=up, reason=" ")
    assert caught.value.code == "referral_reason_required"
    Referral.objects.get(pk=up.pk, state=R.OFFERED)
    declined = services.referral_decline(actor=world.coordinator, referral=up, reason="家属要求在本院治疗")
    assert declined.state == R.DECLINED and declined.end_reason == "家属要求在本院治疗" and declined.ended_by == world.coordinator
    again = offer(world, case)  # a declined referral is no longer open
    services.referral_cancel(actor=world.invited_coordinator, referral=again, reason="床位已满")
    third = offer(world, case)
    services.referral_confirm(actor=world.coordinator, referral=third)
    cancelled = services.referral_cancel(actor=world.coordinator, referral=third, reason="患者病情变化")
    assert cancelled.state == R.CANCELLED
    assert AuditEvent.objects.filter(event_type="referral.decline").count() == 1
    assert AuditEvent.objects.filter(event_type="referral.cancel").count() == 2


def test_jl_c10_referral_not_recommended_is_refused_and_audited(world):
    consultation = signed(world, recommends=False)
    refused("referral_not_recommended", lambda: offer(world, consultation))
    assert not Referral.objects.exists()


def test_jl_c10_referral_not_recommended_before_signing(world):
    consultation = world.accepted_with_expert()
    refused("referral_not_recommended", lambda: offer(world, consultation))


def test_jl_c10_down_before_an_up_transfer_is_refused_and_audited(world, case, up):
    refused("referral_down_too_early", lambda: offer(world, case, direction=D.DOWN))
    services.referral_confirm(actor=world.coordinator, referral=up)
    refused("referral_down_too_early", lambda: offer(world, case, direction=D.DOWN))


def test_jl_c10_one_open_referral_per_direction(world, case, up):
    refused("referral_open_exists", lambda: offer(world, case))
    assert Referral.objects.count() == 1


def test_jl_c10_scheduled_time_in_the_past_is_refused_and_audited(world, case):
    error = refused("referral_time_past", lambda: offer(world, case, hours=-1))
    assert error.extra["field"] == "scheduled_for"
    assert not Referral.objects.exists()
    assert offer(world, case, hours=0).state == R.OFFERED  # now is not the past


def test_jl_c10_invalid_transition_is_refused_and_audited(world, up):
    refused("invalid_transition", lambda: services.referral_transfer(actor=world.coordinator, referral=up))
    services.referral_decline(actor=world.coordinator, referral=up, reason="不转")
    refused("invalid_transition", lambda: services.referral_confirm(actor=world.coordinator, referral=up))
    assert Referral.objects.get(pk=up.pk).state == R.DECLINED


def test_jl_f5_a_suspended_facility_cannot_offer_or_confirm_but_may_cancel(world, case, up):
    facility_services.suspension_report(actor=staff(world.invited, StaffRole.FACILITY_ADMIN), facility=world.invited,
                                        cause=SuspensionCause.QUALITY_RISK, description="CT 设备故障")
    refused("JL-F5", lambda: services.referral_confirm(actor=world.coordinator, referral=up))
    assert Referral.objects.get(pk=up.pk).state == R.OFFERED
    services.referral_cancel(actor=world.invited_coordinator, referral=up, reason="本院暂停远程医疗服务")
    refused("JL-F5", lambda: offer(world, case))


def test_jl_c10_who_may_take_each_step(world, case, up):
    """The receiving facility's coordinator offers; the sending one's confirms and transfers;
    a clinician or the wrong side is refused with 403 and nothing is recorded as a refusal."""
    for actor, call in (
        (world.coordinator, lambda a: offer(world, case, actor=a)),  # inviting side cannot offer up
        (world.clinician, lambda a: services.referral_confirm(actor=a, referral=up)),
        (world.invited_coordinator, lambda a: services.referral_confirm(actor=a, referral=up)),
        (world.coordinator, lambda a: services.referral_cancel(actor=a, referral=up, reason="x")),  # only the receiver withdraws an offer
    ):
        with pytest.raises(ApplicationError) as caught:
            call(actor)
        assert (caught.value.code, caught.value.status) == ("permission_denied", 403)
    assert not AuditEvent.objects.filter(event_type="referral.refuse").exists()


def test_jl_c10_a_step_decides_on_the_stored_state_not_a_stale_copy(world, up):
    stale = Referral.objects.get(pk=up.pk)
    services.referral_confirm(actor=world.coordinator, referral=up)
    assert stale.state == R.OFFERED
    refused("invalid_transition", lambda: services.referral_decline(actor=world.coordinator, referral=stale, reason="x"))


def test_jl_c8_a_sealed_case_refuses_referrals(world, case):
    from audit import records

    records.seal_create(actor=world.coordinator, consultation=case, reason="医疗争议", inviting_party_name="王主任",
                        inviting_party_role="医务科科长", invited_party_name="张某", invited_party_role="患者之子")
    with pytest.raises(ApplicationError) as caught:
        offer(world, case)
    assert caught.value.code == "JL-C8"
    assert AuditEvent.objects.filter(event_type="record.change.refuse", details__act="referral_offer").exists()
