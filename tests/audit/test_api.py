"""API of medical records under the law: /api/v1/responsibility/ (JL-C7) and /api/v1/seals/ (JL-C8)."""

import pytest

from audit import records
from audit.models import AuditEvent, Seal
from facilities.choices import StaffRole
from tests.api_cases import (
    Access,
    Call,
    EndpointAccessCases,
    assert_error,
    assert_list_queries_constant,
    rows,
    token_client,
)
from tests.factories import FacilityFactory, regulator, staff

pytestmark = pytest.mark.django_db

API = "/api/v1"
PARTIES = dict(inviting_party_name="王主任", inviting_party_role="邀请方医务科科长", invited_party_name="张某", invited_party_role="患者之子")


@pytest.fixture
def accepted(world):
    return world.accepted_with_expert()


def outsider():
    return staff(FacilityFactory(), StaffRole.COORDINATOR)


# --- JL-C7: responsibility ----------------------------------------------------------------------


class TestResponsibilityOfOneConsultation(EndpointAccessCases):
    event_type = "record.view"

    @pytest.fixture(autouse=True)
    def _world(self, world):
        self.world = world

    def arrange(self) -> Access:
        consultation = self.world.accepted_with_expert()

        def check(response):
            [record] = rows(response)
            assert record["occasion"] == "accepted" and record["article"] == "JL-C7 第二十八条"
            assert record["inviting_facility"] == {"id": self.world.inviting.pk, "name": "农安县人民医院"}
            assert record["consultation_sealed"] is False
            acts = [a["event_type"] for a in record["acts"]]
            assert "consultation.accept" in acts and "consultation.expert.assign" in acts
            assert "consultation.send" not in acts  # done before the record, not under it
            accept = next(a for a in record["acts"] if a["event_type"] == "consultation.accept")
            assert accept["actor"].endswith("（invited_coordinator）") and accept["acting_for"] == "吉林大学第一医院"
            assert [a["sequence"] for a in record["acts"]] == sorted(a["sequence"] for a in record["acts"])
            event = AuditEvent.objects.filter(event_type="record.view").order_by("-sequence").first()
            assert event.details["consultation"] == consultation.number and event.details["api"] == "responsibility"

        return Access(
            call=Call("GET", f"{API}/responsibility/?consultation={consultation.pk}"),
            right=self.world.clinician,
            wrong_facility=outsider(),
            check=check,
        )


def test_jl_c7_records_come_in_order_with_the_acts_done_under_each(world, accepted):
    from consultations import services

    services.consultation_schedule(actor=world.invited_coordinator, consultation=accepted,
                                   scheduled_for=accepted.created_at, video_link="https://meet.example/1")
    services.consultation_start_session(actor=world.invited_coordinator, consultation=accepted)
    services.opinion_sign(actor=world.expert, consultation=accepted, content="意见")
    first, second = rows(token_client(world.coordinator).get(f"{API}/responsibility/", {"consultation": accepted.pk}))
    assert (first["occasion"], second["occasion"]) == ("accepted", "signed")
    assert "consultation.schedule" in [a["event_type"] for a in first["acts"]]
    assert "opinion.sign" in [a["event_type"] for a in second["acts"]]
    assert max(a["sequence"] for a in first["acts"]) < min(a["sequence"] for a in second["acts"])


def test_jl_o1_regulator_lists_responsibility_by_facility_in_their_division_only(world, accepted):
    body = rows(token_client(regulator("220100")).get(f"{API}/responsibility/", {"facility": world.invited.pk}))
    assert [r["consultation"] for r in body] == [accepted.pk]
    listed = AuditEvent.objects.filter(event_type="record.list").order_by("-sequence").first()
    assert listed.details["object_ids"] == [accepted.pk] and listed.details["filters"] == {"facility": world.invited.pk}
    assert rows(token_client(regulator("220200")).get(f"{API}/responsibility/", {"facility": world.invited.pk})) == []
    assert_error(token_client(regulator("220200")).get(f"{API}/responsibility/", {"consultation": accepted.pk}), 404, "not_found")
    assert_error(token_client(world.coordinator).get(f"{API}/responsibility/", {"facility": "x"}), 400, "invalid")


def test_jl_c8_a_sealed_record_answers_only_to_a_stated_purpose(world, accepted):
    records.seal_create(actor=world.coordinator, consultation=accepted, reason="争议", **PARTIES)
    client = token_client(regulator("220000"))
    body = assert_error(client.get(f"{API}/responsibility/", {"consultation": accepted.pk}), 400, "JL-C8")
    assert body["extra"] == {"needs": "purpose"}
    [record] = rows(client.get(f"{API}/responsibility/", {"consultation": accepted.pk, "purpose": "医疗纠纷调查"}))
    assert record["consultation_sealed"] is True
    event = AuditEvent.objects.filter(event_type="record.view").order_by("-sequence").first()
    assert event.details["purpose"] == "医疗纠纷调查" and event.details["sealed"] is True
    assert event.acting_division_code == "220000"


def test_responsibility_list_queries_do_not_grow_with_rows(world, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            world.accepted_with_expert()

    assert_list_queries_constant(
        token_client(regulator("220000")), f"{API}/responsibility/?facility={world.inviting.pk}",
        add_rows=add, assert_max_num_queries=django_assert_max_num_queries, max_queries=16,
    )


# --- JL-C8: seals -------------------------------------------------------------------------------


class TestSealCreate(EndpointAccessCases):
    event_type = "record.seal"
    success_status = 201
    wrong_facility_status = 404  # the consultation in the body resolves only within scope
    wrong_facility_code = "not_found"

    @pytest.fixture(autouse=True)
    def _world(self, world):
        self.world = world

    def arrange(self) -> Access:
        consultation = self.world.sent()

        def check(response):
            body = response.json()
            assert body["consultation"] == consultation.pk and body["is_open"] is True
            assert body["verification"]["intact"] is True and body["verification"]["differences"] == []
            assert body["snapshot_sha256"] == body["verification"]["live_sha256"]
            assert "snapshot" not in body  # never rendered: it holds unmasked identity numbers
            assert body["inviting_party_name"] == "王主任" and body["sealed_by"]

        return Access(
            call=Call("POST", f"{API}/seals/", {"consultation": consultation.pk, "reason": "患方对诊断有异议", **PARTIES}),
            right=self.world.invited_coordinator,
            wrong_facility=outsider(),
            wrong_role=self.world.clinician,
            check=check,
        )


def test_jl_c8_seal_refusals_keep_the_rule_id(world):
    consultation = world.sent()
    client = token_client(world.coordinator)
    body = assert_error(client.post(f"{API}/seals/", {"consultation": consultation.pk, "reason": "争议"}, format="json"), 400, "JL-C8")
    assert "双方在场人" in body["message"]
    assert_error(client.post(f"{API}/seals/", {"consultation": consultation.pk, **PARTIES}, format="json"), 400, "JL-C8")
    assert client.post(f"{API}/seals/", {"consultation": consultation.pk, "reason": "争议", **PARTIES}, format="json").status_code == 201
    body = assert_error(client.post(f"{API}/seals/", {"consultation": consultation.pk, "reason": "再次", **PARTIES}, format="json"), 400, "JL-C8")
    assert "已处于封存状态" in body["message"]
    # A regulator of another division cannot even name the consultation: 404, as a missing one (issue 14).
    assert_error(token_client(regulator("220200")).post(f"{API}/seals/", {"consultation": consultation.pk, "reason": "x", **PARTIES}, format="json"), 404, "not_found")


class TestSealRelease(EndpointAccessCases):
    event_type = "record.unseal"

    @pytest.fixture(autouse=True)
    def _world(self, world):
        self.world = world

    def arrange(self) -> Access:
        seal = records.seal_create(actor=self.world.coordinator, consultation=self.world.sent(), reason="争议", **PARTIES)

        def check(response):
            body = response.json()
            assert body["is_open"] is False and body["unseal_reason"] == "调解完毕"
            assert body["unseal_invited_party_name"] == "张某" and body["unsealed_at"]
            assert not records.is_sealed(seal.consultation_id)

        return Access(
            call=Call("POST", f"{API}/seals/{seal.pk}/unseal/", {"reason": "调解完毕", **PARTIES}),
            right=regulator("220100"),
            wrong_facility=regulator("220200"),
            wrong_role=self.world.clinician,
            check=check,
        )


def test_jl_c8_seal_detail_verifies_against_the_live_record_and_is_an_access(world):
    from django.db import connection

    consultation = world.sent()
    seal = records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **PARTIES)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE consultations_document SET sha256 = %s WHERE id = %s", ["f" * 64, consultation.documents.first().pk])
    body = token_client(world.invited_coordinator).get(f"{API}/seals/{seal.pk}/").json()
    assert body["verification"]["intact"] is False and body["verification"]["differences"] == ["documents"]
    event = AuditEvent.objects.filter(event_type="record.view").order_by("-sequence").first()
    assert (event.object_type, event.object_id, event.actor_id) == ("audit.seal", str(seal.pk), world.invited_coordinator.pk)


def test_jl_c8_seal_list_is_scoped_and_filtered(world):
    open_one = records.seal_create(actor=world.coordinator, consultation=world.sent(), reason="争议", **PARTIES)
    closed = records.seal_create(actor=world.coordinator, consultation=world.sent(), reason="争议", **PARTIES)
    records.seal_release(actor=world.coordinator, seal=closed, reason="调解完毕", **PARTIES)
    client = token_client(world.clinician)  # anyone who sees the consultation sees its seals
    assert {s["id"] for s in rows(client.get(f"{API}/seals/"))} == {open_one.pk, closed.pk}
    assert [s["id"] for s in rows(client.get(f"{API}/seals/", {"open": "true"}))] == [open_one.pk]
    assert [s["id"] for s in rows(client.get(f"{API}/seals/", {"consultation": closed.consultation_id}))] == [closed.pk]
    assert rows(token_client(outsider()).get(f"{API}/seals/")) == []
    assert_error(token_client(outsider()).get(f"{API}/seals/{open_one.pk}/"), 404, "not_found")
    assert Seal.objects.count() == 2
