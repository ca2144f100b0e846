"""JL-C10 (art. 9): two-way referral through a green channel — the signed recommendation, the
step table edge by edge, every refusal code with its audit event, scope, API and pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

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
from tests.api_cases import assert_error, assert_list_queries_constant, rows, token_client
from tests.consultations import offer, signed
from tests.factories import FacilityFactory, division, regulator, staff

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


# --- Scope (JL-O1): both facilities and their regulators, nobody else ---------------------------


def _elsewhere_staff():
    elsewhere = FacilityFactory(name="吉林市中心医院", division=division("220202"), licence_issuer=division("220200"))
    return staff(elsewhere, StaffRole.COORDINATOR, username="elsewhere")


def test_jl_c10_both_facilities_and_their_regulators_see_a_referral_others_get_404(world, up):
    API = f"/api/v1/referrals/{up.pk}/"
    for user in (world.coordinator, world.invited_coordinator, regulator("220122", username="nongan"),
                 regulator("220104", username="chaoyang"), regulator("220100", username="changchun"), regulator("220000", username="province")):
        assert Referral.objects.visible_to(user).filter(pk=up.pk).exists(), user.username
        assert token_client(user).get(API).status_code == 200, user.username
    outsider_staff = _elsewhere_staff()
    for user in (outsider_staff, regulator("220200", username="jilin_city")):
        assert not Referral.objects.visible_to(user).exists()
        assert_error(token_client(user).get(API), 404, "not_found")
        if user == outsider_staff:  # a regulator holds no coordinator role anywhere: 403 for any id
            assert_error(token_client(user).post(f"{API}confirm/", {}, format="json"), 404, "not_found")
        client = Client()
        client.force_login(user)
        assert client.post(reverse("consultations:referral-confirm", args=[up.pk])).status_code == 404
        page = client.get(reverse("consultations:referral-list"))
        assert page.status_code == 200 and up.department not in page.content.decode()


# --- API ------------------------------------------------------------------------------------------

API = "/api/v1/referrals/"


def test_jl_c10_api_offer_confirm_transfer_and_down(world, case):
    scheduled = (timezone.now() + dt.timedelta(days=1)).isoformat()
    body = {"consultation": case.pk, "direction": "up", "department": "心血管外科", "kind": "bed", "scheduled_for": scheduled}
    created = token_client(world.invited_coordinator).post(API, body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert (data["state"], data["direction"], data["receiving"]["id"], data["patient_name"]) == ("offered", "up", world.invited.pk, "张三")
    inviting = token_client(world.coordinator)
    assert inviting.post(f"{API}{data['id']}/confirm/", format="json").json()["state"] == "confirmed"
    assert inviting.post(f"{API}{data['id']}/transfer/", format="json").json()["state"] == "transferred"
    down = inviting.post(API, {**body, "direction": "down", "department": "康复医学科", "kind": "appointment"}, format="json")
    assert down.status_code == 201 and down.json()["receiving"]["id"] == world.inviting.pk
    listed = rows(token_client(world.invited_coordinator).get(API, {"direction": "down"}))
    assert [r["id"] for r in listed] == [down.json()["id"]]
    assert [r["id"] for r in rows(inviting.get(API, {"state": "transferred"}))] == [data["id"]]
    assert len(rows(inviting.get(API, {"consultation": case.pk}))) == 2


@pytest.mark.parametrize("code", ["referral_not_recommended", "referral_time_past", "referral_open_exists", "referral_down_too_early"])
def test_jl_c10_api_refusals_use_the_error_contract_and_are_audited(world, code):
    consultation = signed(world, recommends=code != "referral_not_recommended")
    body = {"consultation": consultation.pk, "direction": "up", "department": "心外科", "kind": "bed",
            "scheduled_for": (timezone.now() + dt.timedelta(hours=2)).isoformat()}
    client = token_client(world.invited_coordinator)
    if code == "referral_time_past":
        body["scheduled_for"] = (timezone.now() - dt.timedelta(hours=2)).isoformat()
    if code == "referral_open_exists":
        offer(world, consultation)
    if code == "referral_down_too_early":
        client, body["direction"] = token_client(world.coordinator), "down"
    before = refusals(code).count()
    assert_error(client.post(API, body, format="json"), 400, code)
    assert refusals(code).count() == before + 1


def test_jl_c10_api_invalid_transition_wrong_role_and_bad_input(world, up):
    inviting = token_client(world.coordinator)
    assert_error(inviting.post(f"{API}{up.pk}/transfer/", format="json"), 400, "invalid_transition")
    assert_error(token_client(world.clinician).post(f"{API}{up.pk}/confirm/", format="json"), 403, "permission_denied")
    assert_error(token_client(world.invited_coordinator).post(f"{API}{up.pk}/confirm/", format="json"), 403, "permission_denied")
    assert_error(inviting.post(f"{API}{up.pk}/decline/", {"reason": ""}, format="json"), 400, "referral_reason_required")
    assert_error(inviting.get(API, {"state": "nonsense"}), 400, "invalid")
    bad = {"consultation": up.consultation_id, "direction": "sideways", "department": "x", "kind": "bed", "scheduled_for": "tomorrow"}
    body = assert_error(token_client(world.invited_coordinator).post(API, bad, format="json"), 400, "invalid")
    assert {"direction", "scheduled_for"} <= set(body["extra"]["fields"])
    assert_error(token_client().get(API), 401, "not_authenticated")
    assert Referral.objects.get(pk=up.pk).state == R.OFFERED


def test_jl_c10_api_sign_with_recommendation(world):
    consultation = world.accepted_with_expert(service="imaging")
    client = token_client(world.expert)
    url = f"/api/v1/consultations/{consultation.pk}/sign/"
    assert_error(client.post(url, {"content": "报告", "recommends_transfer": True}, format="json"), 400, "JL-C10")
    signed_ = client.post(url, {"content": "报告", "recommends_transfer": True, "transfer_reason": "需介入治疗"}, format="json")
    assert signed_.status_code == 201 and signed_.json()["recommends_transfer"] is True and signed_.json()["transfer_reason"] == "需介入治疗"


def test_jl_c10_list_query_count_is_constant(world, django_assert_max_num_queries):
    client = token_client(world.coordinator)

    def add_rows(n):
        for _i in range(n):
            consultation = signed(world)
            referral = offer(world, consultation)
            services.referral_confirm(actor=world.coordinator, referral=referral)

    assert_list_queries_constant(client, API, add_rows=add_rows, assert_max_num_queries=django_assert_max_num_queries, max_queries=16)


# --- Pages ----------------------------------------------------------------------------------------


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_jl_c10_case_page_offers_each_side_its_steps(world, case):
    url = reverse("consultations:detail", args=[case.pk])
    page = _client(world.invited_coordinator).get(url).content.decode()
    assert "建议转诊（JL-C10）" in page and "病情危重，需上级医院手术治疗" in page
    assert reverse("consultations:referral-offer", args=[case.pk]) in page
    assert reverse("consultations:referral-offer", args=[case.pk]) not in _client(world.coordinator).get(url).content.decode()
    response = _client(world.invited_coordinator).post(reverse("consultations:referral-offer", args=[case.pk]), {
        "referral_offer-direction": "up", "referral_offer-department": "心血管外科", "referral_offer-kind": "bed",
        "referral_offer-scheduled_for": timezone.localtime(timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    })
    assert response.status_code == 302 and response["Location"].endswith("#referrals")
    referral = Referral.objects.get()
    inviting_page = _client(world.coordinator).get(url).content.decode()
    assert reverse("consultations:referral-confirm", args=[referral.pk]) in inviting_page
    assert reverse("consultations:referral-decline", args=[referral.pk]) in inviting_page
    invited_page = _client(world.invited_coordinator).get(url).content.decode()
    assert reverse("consultations:referral-confirm", args=[referral.pk]) not in invited_page
    assert reverse("consultations:referral-cancel", args=[referral.pk]) in invited_page
    assert _client(world.coordinator).post(reverse("consultations:referral-confirm", args=[referral.pk])).status_code == 302
    assert _client(world.coordinator).post(reverse("consultations:referral-transfer", args=[referral.pk])).status_code == 302
    assert Referral.objects.get().state == R.TRANSFERRED
    # Now the inviting side may offer the way back down.
    assert reverse("consultations:referral-offer", args=[case.pk]) in _client(world.coordinator).get(url).content.decode()


def reads_referrals(captured) -> bool:
    return any(q["sql"].startswith('SELECT "consultations_referral"') for q in captured)


def test_jl_c10_case_page_rows_name_the_facilities_and_follow_their_jl_f5_flags(world, up, django_assert_max_num_queries):
    """Issue 11: the case page takes a referral's facilities and JL-F5 flags from the case itself; a
    case without a referral does not read referrals at all."""
    url = reverse("consultations:detail", args=[up.consultation_id])
    client = _client(world.coordinator)
    client.get(url)
    with django_assert_max_num_queries(40) as captured:
        response = client.get(url)
    assert reads_referrals(captured.captured_queries)  # read before the next request resets the log
    (row,) = response.context["referrals"]
    assert (row.sending, row.receiving) == (world.inviting, world.invited)
    assert (row.sending_suspended, row.receiving_suspended, row.patient_id) == (False, False, up.consultation.patient_id)
    page = response.content.decode()
    assert f"{world.inviting.name} <span aria-hidden=\"true\">→</span> {world.invited.name}" in page
    assert reverse("consultations:referral-confirm", args=[up.pk]) in page
    other = world.sent()
    client.get(reverse("consultations:detail", args=[other.pk]))
    with django_assert_max_num_queries(40) as captured:
        assert client.get(reverse("consultations:detail", args=[other.pk])).context["referrals"] == []
    assert not reads_referrals(captured.captured_queries)
    facility_services.suspension_report(
        actor=world.coordinator, facility=world.inviting, cause=SuspensionCause.QUALITY_RISK, description="停电",
    )
    response = client.get(url)
    (row,) = response.context["referrals"]
    assert row.sending_suspended is True and row.receiving_suspended is False  # up: from the inviting side
    assert reverse("consultations:referral-confirm", args=[up.pk]) not in response.content.decode()


def test_jl_c10_page_refusals_keep_the_form_and_show_the_reason(world, case):
    client = _client(world.invited_coordinator)
    past = timezone.localtime(timezone.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("consultations:referral-offer", args=[case.pk]), {
        "referral_offer-direction": "up", "referral_offer-department": "心血管外科", "referral_offer-kind": "bed",
        "referral_offer-scheduled_for": past,
    })
    page = response.content.decode()
    assert response.status_code == 400 and "预约或入院时间不能早于当前时间" in page and "心血管外科" in page
    assert refusals("referral_time_past").count() == 1
    referral = offer(world, case)
    response = _client(world.coordinator).post(reverse("consultations:referral-decline", args=[referral.pk]), {f"referral{referral.pk}-decline-reason": ""})
    assert response.status_code == 400 and "谢绝或取消转诊须写明理由" in response.content.decode()
    response = _client(world.coordinator).post(reverse("consultations:referral-transfer", args=[referral.pk]))
    assert response.status_code == 400 and "不能进行该操作" in response.content.decode()
    assert _client(world.clinician).post(reverse("consultations:referral-confirm", args=[referral.pk])).status_code == 403


def test_jl_c10_sign_form_carries_the_recommendation(world):
    consultation = world.accepted_with_expert(service="imaging")
    client = _client(world.expert)
    sign = reverse("consultations:sign", args=[consultation.pk])
    response = client.post(sign, {"sign-content": "报告", "sign-recommends_transfer": "on", "sign-transfer_reason": ""})
    assert response.status_code == 400 and "建议转诊须简要写明理由" in response.content.decode()
    assert client.post(sign, {"sign-content": "报告", "sign-recommends_transfer": "on", "sign-transfer_reason": "需介入"}).status_code == 302
    assert Opinion.objects.get(consultation=consultation).recommends_transfer


def test_jl_c10_list_page_filters_and_is_linked_for_staff_and_regulators(world, case, up):
    reg = regulator("220100", username="changchun")
    for user in (world.coordinator, reg):
        client = _client(user)
        home = client.get(reverse("home")).content.decode()
        assert reverse("consultations:referral-list") in home
        page = client.get(reverse("consultations:referral-list"), {"direction": "up", "state": "offered"}).content.decode()
        assert case.number in page and "心血管外科" in page
        assert case.number not in client.get(reverse("consultations:referral-list"), {"direction": "down"}).content.decode()
    assert "双向转诊：待本院确认或转出" in _client(world.coordinator).get(reverse("home")).content.decode()
    bad = _client(reg).get(reverse("consultations:referral-list"), {"state": "<script>"})
    assert bad.status_code == 200


def test_jl_c10_list_page_query_count_is_constant(world, django_assert_max_num_queries):
    client = _client(world.coordinator)
    url = reverse("consultations:referral-list")
    counts = []
    for n in (2, 8):
        while Referral.objects.count() < n:
            offer(world, signed(world))
        with django_assert_max_num_queries(30) as captured:
            assert client.get(url).status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], counts


def test_jl_c10_the_step_table_in_the_docs_matches_the_code():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")
    for edge in rules.REFERRAL_EDGES:
        row = next((line for line in map(str.strip, doc.splitlines()) if line.startswith(f"| {edge.source} | {edge.action}")), "")
        assert f"| {edge.target} |" in row and str(edge.party) in row, edge
