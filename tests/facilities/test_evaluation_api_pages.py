"""JL-O3 (art. 45–47): the yearly evaluation over the API (scoped, stable codes, on record), its
pages (the evaluating regulator, a county regulator who only sees, the facility once published,
the facility page's flags) and its exports (the numbers of the page, no formula can sneak in)."""

from __future__ import annotations

import io
import re

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from audit.models import AuditEvent
from consultations import services as consultation_services
from facilities import evaluation as ev
from facilities.choices import StaffRole
from facilities.models import EvaluationFormula, EvaluationResult
from tests.api_cases import assert_error, rows, token_client
from tests.billing.test_exports import _pdf_text
from tests.consultations import signed
from tests.facilities.evaluation_data import THRESHOLDS, WEIGHTS, publish_formula
from tests.factories import division, regulator, staff

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-12-20T10:00:00+08:00")]
API = "/api/v1/evaluation"


@pytest.fixture
def province(db):
    return regulator("220000", username="province_eval")


@pytest.fixture
def round_2025(world, province):
    publish_formula(province)
    return ev.evaluation_start(actor=province, division=division("220000"), year=2025)


# --- API ------------------------------------------------------------------------------------------


def test_jl_o3_api_formula_start_adjust_publish_with_stable_codes(world, province):
    client = token_client(province)
    body = {"weights": WEIGHTS, "thresholds": THRESHOLDS, "document_number": "吉卫〔2026〕3号"}
    assert_error(client.post(f"{API}/formulas/", {**body, "weights": {**WEIGHTS, "qc": 11}}, format="json"), 400, "evaluation_formula_invalid")
    created = client.post(f"{API}/formulas/", body, format="json")
    assert created.status_code == 201 and created.json()["version"] == 1
    assert_error(token_client(regulator("220100")).post(f"{API}/formulas/", body, format="json"), 403, "evaluation_not_your_division")
    assert_error(client.post(f"{API}/rounds/", {"division": "220000", "year": 2026}, format="json"), 409, "evaluation_year_not_ended")
    # Issue 14: a division code not on the register is a missing reference (404), not a malformed body.
    assert_error(client.post(f"{API}/rounds/", {"division": "229999", "year": 2025}, format="json"), 404, "not_found")
    started = client.post(f"{API}/rounds/", {"division": "220000", "year": 2025}, format="json")
    assert started.status_code == 201, started.json()
    round_id = started.json()["id"]
    results = {r["facility"]: r for r in started.json()["results"]}
    assert set(results) == {world.inviting.pk, world.invited.pk} and started.json()["formula_version"] == 1
    result_id = results[world.invited.pk]["id"]
    assert_error(client.post(f"{API}/results/{result_id}/adjust/", {"grade": "excellent", "reason": ""}, format="json"),
                 400, "evaluation_reason_required")
    county = token_client(regulator("220104"))
    assert_error(county.post(f"{API}/results/{result_id}/adjust/", {"grade": "excellent", "reason": "复核"}, format="json"),
                 403, "evaluation_wrong_level")
    adjusted = client.post(f"{API}/results/{result_id}/adjust/", {"grade": "excellent", "reason": "现场复核"}, format="json")
    assert adjusted.status_code == 200 and adjusted.json()["grade"] == "excellent"
    assert adjusted.json()["provisional_grade"] == results[world.invited.pk]["provisional_grade"]
    assert client.post(f"{API}/rounds/{round_id}/publish/").json()["published_at"]
    assert_error(client.post(f"{API}/rounds/{round_id}/publish/"), 409, "evaluation_already_published")
    assert_error(client.post(f"{API}/results/{result_id}/adjust/", {"grade": "pass", "reason": "再议"}, format="json"),
                 409, "evaluation_already_published")
    refusals = AuditEvent.objects.filter(event_type="evaluation.refuse")
    assert {e.details["code"] for e in refusals} == {"evaluation_formula_invalid", "evaluation_not_your_division", "evaluation_year_not_ended",
                                                   "evaluation_reason_required", "evaluation_wrong_level", "evaluation_already_published"}


def test_jl_o3_api_is_scoped_the_facility_sees_its_own_result_once_published(world, province, round_2025):
    invited_result = round_2025.results.get(facility=world.invited)
    admin = token_client(staff(world.invited, StaffRole.FACILITY_ADMIN))
    assert rows(admin.get(f"{API}/results/")) == []
    assert_error(admin.get(f"{API}/results/{invited_result.pk}/"), 404, "not_found")
    ev.evaluation_publish(actor=province, round_=round_2025)
    admin = token_client(staff(world.invited, StaffRole.FACILITY_ADMIN))
    assert [r["id"] for r in rows(admin.get(f"{API}/results/"))] == [invited_result.pk]
    detail = admin.get(f"{API}/rounds/{round_2025.pk}/").json()
    assert [r["facility"] for r in detail["results"]] == [world.invited.pk]  # not the other facility's
    outsider = token_client(regulator("220202"))
    assert_error(outsider.get(f"{API}/rounds/{round_2025.pk}/"), 404, "not_found")
    assert_error(outsider.get(f"{API}/results/{invited_result.pk}/"), 404, "not_found")
    assert rows(token_client(regulator("220122")).get(f"{API}/results/"))[0]["facility"] == world.inviting.pk


# --- Pages ----------------------------------------------------------------------------------------


def test_jl_o3_pages_the_province_starts_adjusts_and_publishes(client, world, province):
    publish_formula(province)
    client.force_login(province)
    page = client.get(reverse("facilities:evaluation-list"))
    assert page.status_code == 200 and "启动年度评价考核" in page.content.decode()
    response = client.post(reverse("facilities:evaluation-list"), {"division": "220000", "year": "2025"})
    round_ = ev.round_list(user=province).get()
    assert response.status_code == 302 and response["Location"] == reverse("facilities:evaluation-round", args=[round_.pk])
    result = round_.results.get(facility=world.invited)
    url = reverse("facilities:evaluation-result", args=[result.pk])
    refused = client.post(url, {"grade": "excellent", "reason": ""})
    assert refused.status_code == 400 and "JL-O3 第四十七条: 调整等次须写明理由" in refused.content.decode()
    assert client.post(url, {"grade": "excellent", "reason": "现场复核优秀"}).status_code == 302
    text = client.get(reverse("facilities:evaluation-round", args=[round_.pk])).content.decode()
    assert "现场复核优秀" in text and "公布结果" in text
    assert client.post(reverse("facilities:evaluation-publish", args=[round_.pk])).status_code == 302
    again = client.post(reverse("facilities:evaluation-publish", args=[round_.pk]), follow=True).content.decode()
    assert "不能重复公布" in again
    assert "调整等次" not in client.get(url).content.decode()  # no form after publication


def test_jl_o3_pages_a_county_regulator_sees_only_its_facility_and_cannot_grade(client, world, round_2025):
    county = regulator("220122")
    client.force_login(county)
    text = client.get(reverse("facilities:evaluation-round", args=[round_2025.pk])).content.decode()
    assert world.inviting.name in text and world.invited.name not in text and "公布结果" not in text
    assert client.post(reverse("facilities:evaluation-publish", args=[round_2025.pk])).status_code == 403
    assert client.get(reverse("facilities:evaluation-result", args=[round_2025.results.get(facility=world.invited).pk])).status_code == 404
    assert "启动年度评价考核" not in client.get(reverse("facilities:evaluation-list")).content.decode()


def test_jl_o3_facility_page_shows_the_accountability_flag_and_the_barred_principal(client, world, province):
    publish_formula(province, excellent=100, **{"pass": 99})
    world.inviting.principal_name = "孙院长"
    world.inviting.save(update_fields=["principal_name"])
    with time_machine.travel("2025-01-10T09:00:00+08:00", tick=True):
        ev.evaluation_publish(actor=province, round_=ev.evaluation_start(actor=province, division=division("220000"), year=2024))
    ev.evaluation_publish(actor=province, round_=ev.evaluation_start(actor=province, division=division("220000"), year=2025))
    admin = staff(world.inviting, StaffRole.FACILITY_ADMIN)
    client.force_login(admin)
    text = client.get(reverse("facilities:facility-detail", args=[world.inviting.pk])).content.decode()
    assert "连续两年（至 2025 年度）评价考核不合格，实行问责" in text and "孙院长 不得参与当年评先选优" in text
    result = EvaluationResult.objects.get(facility=world.inviting, year=2025)
    text = client.get(reverse("facilities:evaluation-result", args=[result.pk])).content.decode()
    assert "主要负责人 孙院长 不能参与 2025 年度评先选优" in text and "实行问责" in text
    client.force_login(regulator("220122"))  # its county's regulator sees the flag too
    assert "实行问责" in client.get(reverse("facilities:facility-detail", args=[world.inviting.pk])).content.decode()


def test_jl_o3_formula_page_the_province_publishes_a_new_version(client, world, province):
    client.force_login(province)
    data = {f"weight_{k}": v for k, v in WEIGHTS.items()} | {f"threshold_{k}": v for k, v in THRESHOLDS.items()}
    assert client.post(reverse("facilities:evaluation-formulas"), {**data, "weight_qc": 50}).status_code == 400
    assert client.post(reverse("facilities:evaluation-formulas"), data).status_code == 302
    assert EvaluationFormula.objects.get().weights == WEIGHTS
    client.force_login(regulator("220100"))
    assert client.post(reverse("facilities:evaluation-formulas"), data).status_code == 403


# --- Exports --------------------------------------------------------------------------------------


def test_jl_o3_excel_and_pdf_carry_the_numbers_of_the_results_and_are_on_record(client, world, province):
    publish_formula(province)
    consultation_services.consultation_close(actor=world.clinician, consultation=signed(world))
    world.invited.name = "=HYPERLINK(\"http://x\")医院"
    world.invited.save(update_fields=["name"])
    with time_machine.travel("2027-01-10T09:00:00+08:00", tick=True):
        call_command("rebuild_metrics")
        round_ = ev.evaluation_start(actor=province, division=division("220000"), year=2026)
        client.force_login(province)
        xlsx = client.get(reverse("facilities:evaluation-export", args=[round_.pk, "xlsx"]))
        pdf = client.get(reverse("facilities:evaluation-export", args=[round_.pk, "pdf"]))
    assert xlsx.status_code == 200 and pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=4)]
    by_name = {row[1]: row for row in values}
    for result in round_.results.select_related("facility"):
        row = by_name[result.facility.name if not result.facility.name.startswith("=") else "'" + result.facility.name]
        assert row[4] == result.inputs["volume"] and row[10] == result.inputs["violations"]
        assert row[12] == float(result.score) and row[14] == result.get_grade_display()
    invited = round_.results.get(facility=world.invited)
    assert invited.inputs["volume"] == 1 and by_name["'" + world.invited.name][4] == 1
    assert not any(isinstance(v, str) and v.startswith("=") for row in values for v in row)  # neutralised
    text = _pdf_text(pdf.content)
    assert "2026 年度远程医疗服务评价考核结果" in text and str(invited.score) in text
    assert re.search("第 1 页", text)
    assert AuditEvent.objects.filter(event_type="evaluation.export").count() == 2


def test_jl_o3_round_page_and_api_query_counts_do_not_grow_with_the_facilities(client, world, province):
    """A list needs constant queries (STYLE 7): 2 facilities or 12, the same number."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import FacilityFactory

    publish_formula(province)
    small = ev.evaluation_start(actor=province, division=division("220000"), year=2024)
    for n in range(10):
        FacilityFactory(name=f"评价测试医院{n}")
    large = ev.evaluation_start(actor=province, division=division("220000"), year=2025)
    assert large.results.count() == small.results.count() + 10
    client.force_login(province)
    api = token_client(province)
    counts = []
    for round_ in (small, large):
        with CaptureQueriesContext(connection) as page_queries:
            assert client.get(reverse("facilities:evaluation-round", args=[round_.pk])).status_code == 200
        with CaptureQueriesContext(connection) as api_queries:
            assert api.get(f"{API}/rounds/{round_.pk}/").status_code == 200
        counts.append((len(page_queries), len(api_queries)))
    assert counts[0] == counts[1], counts


def test_jl_o3_the_formula_body_in_the_schema_names_every_part_and_threshold(world, province):
    """Issue 14 (found by the regulator's fuzz run): ``{"weights": {}, "thresholds": {}}`` was schema-valid but
    refused; the schema now requires every part and every threshold and nothing else, as the rule does."""
    from drf_spectacular.generators import SchemaGenerator

    from facilities import evaluation_rules as rules

    body = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]["EvaluationFormulaPublish"]
    weights, thresholds = body["properties"]["weights"], body["properties"]["thresholds"]
    assert set(weights["required"]) == set(rules.PARTS) and weights["additionalProperties"] is False
    assert set(thresholds["required"]) == set(rules.THRESHOLDS) and thresholds["additionalProperties"] is False
    refused = token_client(province).post(f"{API}/formulas/", {"weights": {}, "thresholds": {}}, format="json")
    assert_error(refused, 400, "evaluation_formula_invalid")
    assert refused.json()["extra"]["rule"] == "JL-O3"
