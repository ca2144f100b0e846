"""JL-A1: the audit log as FHIR R4 AuditEvent (IHE ATNA) for auditors, validated with fhir.resources.

The R4B models of ``fhir.resources`` are used: AuditEvent and Bundle are the same in R4 and R4B.
"""

import datetime as dt
import json

import pytest
import time_machine
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.bundle import Bundle as FhirBundle

from audit import fhir, records, rules
from audit.choices import Outcome
from audit.models import AuditEvent
from audit.services import audit_event_append
from audit.tasks import audit_verify_chain_task
from consultations import services
from facilities.choices import AdminRole, StaffRole
from telemed.context import use_context
from telemed.errors import ApplicationError
from tests.api_cases import assert_error, partner, token_client
from tests.factories import FacilityFactory, administrator, regulator, staff

pytestmark = pytest.mark.django_db

URL = "/api/v1/fhir/AuditEvent"
PARTIES = dict(inviting_party_name="王主任", inviting_party_role="医务科科长", invited_party_name="张某", invited_party_role="患者之子")
BEIJING = dt.timezone(dt.timedelta(hours=8))


def search(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    bundle = response.json()
    FhirBundle.model_validate(bundle)
    for entry in bundle["entry"]:
        FhirAuditEvent.model_validate(entry["resource"])
    return bundle


def resources(bundle) -> list[dict]:
    return [entry["resource"] for entry in bundle["entry"]]


def by_type(bundle) -> dict[str, dict]:
    return {r["type"]["code"]: r for r in resources(bundle)}


def chain(resource) -> dict:
    [ext] = [e for e in resource["extension"] if e["url"] == fhir.AUDIT_CHAIN_EXTENSION]
    return {part["url"]: next(v for k, v in part.items() if k.startswith("value")) for part in ext["extension"]}


def patient_refs(resource) -> set[str]:
    return {e["what"]["reference"] for e in resource.get("entity", []) if e["what"].get("reference", "").startswith("Patient/")}


@pytest.fixture
def auditor():
    return token_client(regulator("220000"))


@pytest.fixture
def every_kind(world):
    """Events of every kind: reads with a purpose, lists, creations, transitions, a seal by a
    regulator, a refused qualification check, a background task without a person."""
    with use_context(request_id="req-fhir-0001", ip_address="10.22.1.5", channel="web"):
        consultation = world.sent()
        services.consultation_accept(actor=world.invited_coordinator, consultation=consultation)
        records.record_access(actor=world.invited_coordinator, action="view", consultation=consultation, purpose="会诊准备")
        records.record_list_access(actor=world.clinician, what="consultations.patient", rows=[consultation.patient])
        records.seal_create(actor=regulator("220100"), consultation=consultation, reason="争议", **PARTIES)
    surgery = world.sent(wanted_scope="surgery")
    services.consultation_accept(actor=world.invited_coordinator, consultation=surgery)
    with pytest.raises(ApplicationError):  # JL-P5: the expert is not registered for surgery
        services.expert_assign(actor=world.invited_coordinator, consultation=surgery, physician=world.expert_physician)
    audit_verify_chain_task()
    return consultation


# --- the resource -------------------------------------------------------------------------------


def test_jl_a1_every_event_is_a_valid_fhir_r4_audit_event(world, every_kind, auditor):
    bundle = search(auditor, _count=500)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == AuditEvent.objects.count() - 1 == len(bundle["entry"])  # the read itself comes after
    kinds = {r["type"]["code"] for r in resources(bundle)}
    assert {"patient.register", "consultation.create", "consultation.send", "record.view", "record.list", "record.seal",
            "physician.qualification.assign", "audit.chain.verify", "responsibility.record"} <= kinds
    assert {r["outcome"] for r in resources(bundle)} == {"0", "4"}
    for resource in resources(bundle):
        assert resource["action"] in {"C", "R", "U", "D", "E"}
        assert resource["type"]["system"] == fhir.EVENT_TYPE_SYSTEM
        assert resource["source"]["type"][0]["code"] == "4" and resource["source"]["observer"]["display"] == "吉林省远程医疗服务平台"
        assert sum(a["requestor"] for a in resource["agent"]) == 1
        row = AuditEvent.objects.get(pk=resource["id"])
        link = chain(resource)
        assert (link["sequence"], link["hash"], link["prevHash"]) == (row.sequence, row.hash, row.prev_hash)
        assert link.get("requestId", "") == row.request_id and link.get("channel", "") == row.channel
        assert dt.datetime.fromisoformat(resource["recorded"]) == row.occurred_at
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"http://testserver{URL}/{entry['resource']['id']}" and entry["search"]["mode"] == "match"


def _hashed_fields(resource) -> dict:
    """What an external auditor rebuilds from one exported resource, to recompute its hash."""
    link = chain(resource)
    person, *organisations = resource["agent"]
    human = person["type"]["coding"][0]["code"] == "humanuser"
    ids = {a["who"]["identifier"]["system"]: a["who"]["identifier"]["value"] for a in organisations}
    object_type, _slash, object_id = link.get("object", "").partition("/")
    return {
        "sequence": int(link["sequence"]),
        "occurred_at": dt.datetime.fromisoformat(resource["recorded"]),
        "actor_id": int(person["who"]["identifier"]["value"]) if human else None,
        "actor_label": person["who"]["display"] if human else "",
        "acting_facility_id": int(ids[fhir.FACILITY_SYSTEM]) if fhir.FACILITY_SYSTEM in ids else None,
        "acting_division_code": ids.get(fhir.DIVISION_SYSTEM, ""),
        "ip_address": person.get("network", {}).get("address"),
        "request_id": link.get("requestId", ""),
        "channel": link.get("channel", ""),
        "event_type": resource["type"]["code"],
        "object_type": object_type,
        "object_id": object_id,
        "facility_ids": json.loads(link["facilityIds"]),
        "outcome": "success" if resource["outcome"] == "0" else "failure",
        "details": json.loads(link.get("details", "{}")),
        "leaf_hash": link.get("leafHash", ""),  # issue 11: the content's hash, then the link over it
        "prev_hash": link["prevHash"],
        "hash": link["hash"],
    }


def test_jl_a1_an_auditor_can_recompute_the_chain_from_the_export_alone(world, every_kind, auditor):
    exported = sorted((_hashed_fields(r) for r in resources(search(auditor, _count=500))), key=lambda f: f["sequence"])
    report = rules.verify_chain(exported)
    assert report.intact and report.checked == len(exported) > 20


def test_jl_a1_mapping_of_actor_facility_object_patient_and_outcome(world, every_kind, auditor):
    kinds = by_type(search(auditor, _count=500))
    view = kinds["record.view"]
    assert view["action"] == "R" and view["outcome"] == "0" and view["outcomeDesc"] == "成功"
    person, organisation = view["agent"]
    assert person["who"]["identifier"]["value"] == str(world.invited_coordinator.pk)
    assert person["who"]["display"].endswith("（invited_coordinator）") and person["requestor"] is True
    assert person["network"] == {"address": "10.22.1.5", "type": "2"}
    assert person["purposeOfUse"] == [{"text": "会诊准备"}]
    assert organisation["who"]["identifier"] == {"system": fhir.FACILITY_SYSTEM, "value": str(world.invited.pk)}
    assert organisation["who"]["display"] == "吉林大学第一医院" and organisation["requestor"] is False
    assert view["entity"][0]["what"]["identifier"]["value"] == f"consultations.consultation/{every_kind.pk}"
    assert patient_refs(view) == {f"Patient/{every_kind.patient_id}"}
    assert chain(view)["requestId"] == "req-fhir-0001" and chain(view)["channel"] == "web"

    seal = kinds["record.seal"]
    assert seal["action"] == "U" and seal["agent"][1]["who"]["identifier"] == {"system": fhir.DIVISION_SYSTEM, "value": "220100"}
    assert seal["agent"][1]["who"]["display"] == "长春市卫生健康行政部门"
    assert kinds["record.list"]["action"] == "R" and patient_refs(kinds["record.list"]) == {f"Patient/{every_kind.patient_id}"}
    assert kinds["consultation.create"]["action"] == "C" and kinds["consultation.send"]["action"] == "U"
    assert kinds["patient.register"]["entity"][0]["what"] == {"reference": f"Patient/{every_kind.patient_id}"}

    refused = kinds["physician.qualification.assign"]
    assert refused["action"] == "E" and refused["outcome"] == "4" and "JL-P5" in refused["outcomeDesc"]
    task = kinds["audit.chain.verify"]
    assert task["action"] == "E" and task["agent"][0]["type"]["coding"][0]["code"] == "dataprocessor"
    assert "entity" not in task or not patient_refs(task)


def test_jl_a1_read_one_event_and_the_read_is_itself_logged(world, every_kind, auditor):
    row = AuditEvent.objects.filter(event_type="record.seal").get()
    response = auditor.get(f"{URL}/{row.pk}", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/fhir+json")
    resource = FhirAuditEvent.model_validate(response.json())
    assert resource.id == str(row.pk) and resource.type.code == "record.seal"
    read = AuditEvent.objects.order_by("-sequence").first()
    assert read.event_type == "audit.log.read" and read.object_id == str(row.pk) and read.acting_division_code == "220000"
    assert_error(auditor.get(f"{URL}/999999"), 404, "not_found")


def test_jl_a1_fhir_action_from_the_event_type():
    assert [fhir.fhir_action(t) for t in ("record.view", "record.list", "document.download", "record.export", "record.reveal")] == ["R"] * 5
    assert [fhir.fhir_action(t) for t in ("consultation.create", "patient.register", "facility.accreditation.apply", "obligation.open")] == ["C"] * 4
    assert [fhir.fhir_action(t) for t in ("record.seal", "record.unseal", "consultation.accept", "consultation.return_material")] == ["U"] * 4
    assert [fhir.fhir_action(t) for t in ("physician.qualification.sign", "audit.chain.verify", "obligation.violated")] == ["E"] * 3


# --- search parameters ------------------------------------------------------------------------


def test_jl_a1_search_by_patient(world, auditor):
    first, second = world.patient(), world.patient(name="李四", id_number="")
    records.record_access(actor=world.clinician, action="view", patient=first)
    records.record_access(actor=world.clinician, action="view", patient=second)
    records.record_list_access(actor=world.clinician, what="consultations.patient", rows=[first, second])
    found = resources(search(auditor, patient=first.pk))
    assert sorted(r["type"]["code"] for r in found) == ["patient.register", "record.list", "record.view"]
    assert all(f"Patient/{first.pk}" in patient_refs(r) for r in found)
    assert len(resources(search(auditor, patient=f"Patient/{second.pk}"))) == 3
    assert search(auditor, patient=999999)["total"] == 0


def test_jl_a1_search_by_facility_matches_facilities_concerned_or_acting(world, auditor):
    other = FacilityFactory()
    concerned = audit_event_append(actor=None, event_type="billing.statement.export", facility_ids=[world.invited.pk, other.pk])
    acting = audit_event_append(actor=None, event_type="billing.statement.export", acting_facility_id=other.pk)
    audit_event_append(actor=None, event_type="billing.statement.export", facility_ids=[world.invited.pk])
    found = resources(search(auditor, facility=other.pk))
    assert sorted(int(r["id"]) for r in found) == [concerned.pk, acting.pk]
    assert search(auditor, facility=world.invited.pk, type="billing.statement.export")["total"] == 2


def test_jl_a1_search_by_period_edges_inclusive(auditor):
    instants = [
        dt.datetime(2025, 2, 28, 23, 59, 59, 999000, tzinfo=BEIJING),
        dt.datetime(2025, 3, 1, 0, 0, tzinfo=BEIJING),
        dt.datetime(2025, 3, 15, 12, 0, tzinfo=BEIJING),
        dt.datetime(2025, 3, 31, 23, 59, 59, 999000, tzinfo=BEIJING),
        dt.datetime(2025, 4, 1, 0, 0, tzinfo=BEIJING),
    ]
    ids = []
    for moment in instants:
        with time_machine.travel(moment, tick=False):
            ids.append(audit_event_append(actor=None, event_type="billing.statement.confirm").pk)

    def found(*dates, **params):
        bundle = search(auditor, date=list(dates), type="billing.statement.confirm", **params)
        return sorted(int(r["id"]) for r in resources(bundle))

    assert found("ge2025-03-01", "le2025-03-31") == ids[1:4]
    assert found("2025-03-01") == [ids[1]]
    assert found("gt2025-03-01", "lt2025-03-31") == [ids[2]]
    assert found("2025-03") == ids[1:4]
    assert found("ge2025-03-15T12:00:00+08:00", "le2025-03-15T04:00:00Z") == [ids[2]]
    assert found("ne2025-03") == [ids[0], ids[4]]
    for bad in ("2025-13-01", "soon", "ap2025-03-01"):
        assert_error(auditor.get(URL, {"date": bad}), 400, "invalid")


def test_jl_a1_search_by_type_exact_prefix_or_several(world, every_kind, auditor):
    assert {r["type"]["code"] for r in resources(search(auditor, type="record.seal"))} == {"record.seal"}
    assert {r["type"]["code"] for r in resources(search(auditor, type="record."))} == {"record.view", "record.list", "record.seal"}
    both = search(auditor, type=f"{fhir.EVENT_TYPE_SYSTEM}|consultation.accept,record.seal")
    assert sorted(r["type"]["code"] for r in resources(both)) == ["consultation.accept", "consultation.accept", "record.seal"]
    assert search(auditor, type="record")["total"] == 0  # no dot: an exact code, and there is none
    assert_error(auditor.get(URL, {"type": "http://other.example/cs|record.view"}), 400, "invalid")


def test_jl_a1_paging_with_count_and_links(auditor):
    ids = [audit_event_append(actor=None, event_type="billing.statement.paid", details={"n": n}).pk for n in range(5)]
    first = search(auditor, type="billing.statement.paid", _count=2)
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert first["total"] == 5 and len(first["entry"]) == 2 and "previous" not in links
    assert links["last"].endswith("_count=2&_page=3") and "type=billing.statement.paid" in links["next"]
    seen = [int(r["id"]) for r in resources(first)]
    page = first
    while "next" in {link["relation"] for link in page["link"]}:
        next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
        response = auditor.get(next_url)
        page = response.json()
        FhirBundle.model_validate(page)
        seen += [int(r["id"]) for r in resources(page)]
    assert seen == sorted(ids, reverse=True)  # newest first, each exactly once
    assert "previous" in {link["relation"] for link in page["link"]}
    assert_error(auditor.get(URL, {"_count": "0"}), 400, "invalid")
    assert_error(auditor.get(URL, {"_page": "x"}), 400, "invalid")


def test_jl_a1_search_query_count_does_not_grow_with_rows(world, auditor, django_assert_max_num_queries):
    counts = []
    for more in (3, 30):
        for n in range(more):
            audit_event_append(actor=world.clinician, event_type="billing.price.set", acting_facility_id=world.inviting.pk, details={"n": n})
        with django_assert_max_num_queries(15) as captured:
            search(auditor, type="billing.price.set")
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


# --- who may read (JL-O1) -----------------------------------------------------------------------


def test_jl_o1_city_regulator_reads_only_their_divisions_events(world, every_kind):
    own = token_client(regulator("220100"))  # 长春市: both facilities of the world are theirs
    mine = search(own, _count=500)
    assert {"record.view", "record.seal", "consultation.send"} <= {r["type"]["code"] for r in resources(mine)}
    assert "audit.chain.verify" not in {r["type"]["code"] for r in resources(mine)}  # concerns no facility of theirs

    other = token_client(regulator("220200"))  # 吉林市
    elsewhere = FacilityFactory(division_id="220202")
    theirs = audit_event_append(actor=None, event_type="billing.allocation.adopt", facility_ids=[elsewhere.pk])
    visible = resources(search(other, _count=500))
    assert [r["id"] for r in visible if r["type"]["code"] != "audit.log.read"] == [str(theirs.pk)]
    assert search(other, facility=world.inviting.pk)["total"] == 0
    seal_event = AuditEvent.objects.get(event_type="record.seal")
    assert_error(other.get(f"{URL}/{seal_event.pk}"), 404, "not_found")
    assert own.get(f"{URL}/{seal_event.pk}").status_code == 200

    everything = search(token_client(administrator(AdminRole.AUDIT, username="auditor")), _count=500)  # JL-A2 审计管理员
    assert "audit.chain.verify" in {r["type"]["code"] for r in resources(everything)}


def test_jl_a1_staff_and_partner_systems_get_403(world, every_kind):
    for client in (token_client(world.coordinator), token_client(staff(world.invited, StaffRole.FACILITY_ADMIN)), partner(world.inviting)):
        response = client.get(URL)
        assert_error(response, 403, "permission_denied")
        assert response["Content-Type"] == "application/json"
        assert_error(client.get(f"{URL}/{AuditEvent.objects.first().pk}"), 403, "permission_denied")
    from rest_framework.test import APIClient

    assert_error(APIClient().get(URL), 401, "not_authenticated")
    assert not AuditEvent.objects.filter(event_type="audit.log.read").exists()


def test_jl_a1_failure_without_patient_and_system_events_validate(auditor):
    audit_event_append(actor=None, event_type="billing.account.register", outcome=Outcome.FAILURE,
                       object_type="facilities.facility", object_id=3, details={"reason": "账户信息不全"})
    audit_event_append(actor=None, event_type="billing.charge.missing_price")
    kinds = by_type(search(auditor))
    assert kinds["billing.account.register"]["outcome"] == "4" and kinds["billing.account.register"]["outcomeDesc"] == "账户信息不全"
    assert "entity" not in kinds["billing.charge.missing_price"] and kinds["billing.charge.missing_price"]["action"] == "E"


def test_jl_a1_search_parameters_in_the_schema_are_what_the_search_takes(auditor):
    """Issue 14 (found by the regulator's fuzz run): ``patient=<text>`` was schema-valid but 400; the schema now
    states what the search parses (an id, or Patient/id; an Organization id; FHIR dates; counts from 1), and a
    value outside it is still refused."""
    from drf_spectacular.generators import SchemaGenerator

    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"][URL]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["patient"]["pattern"] == "^((Patient/)?[0-9]{1,18})?$"
    assert params["facility"]["pattern"] == "^((Organization/)?[0-9]{1,18})?$"
    assert params["_count"]["minimum"] == params["_page"]["minimum"] == 1 and "pattern" in params["date"]["items"]
    assert auditor.get(URL, {"patient": "à@G"}).status_code == 400
    assert auditor.get(URL, {"_page": "0"}).status_code == 400
    assert search(auditor, patient="")["resourceType"] == "Bundle"
