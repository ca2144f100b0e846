"""JL-C11 (GB/T 14396), JL-C6: structured opinions and reports — the ICD-10 format rule, the report
templates per service type, the signature over the structure (and old signatures still verifying),
the editor on the case page, the API with its schema, and the printable report (scoped, logged)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from consultations import report_rules, services
from consultations.models import Opinion
from consultations.services.opinions import opinion_signature_intact, signed_content_hash
from facilities.models import ServiceType
from telemed.errors import ApplicationError
from tests.api_cases import assert_error, token_client
from tests.consultations import signed
from tests.factories import FacilityFactory, division, regulator, staff

pytestmark = pytest.mark.django_db

IMAGING = {
    "sections": {"technique": "胸部CT平扫+增强", "findings": "左肺上叶见团块影，约3.2cm，边缘分叶。", "impression": "左肺上叶占位，考虑肺癌。"},
    "diagnoses": [{"code": "C34.1", "text": "左肺上叶恶性肿瘤（待病理证实）"}, {"code": "i21.001", "text": "急性前壁心肌梗死"}],
    "recommendations": "建议支气管镜活检。",
}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _in_session(world, **kwargs):
    """An opinion service (consultation) in session, ready for the expert to sign."""
    consultation = world.accepted_with_expert(**kwargs)
    services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                   scheduled_for=timezone.now() + dt.timedelta(hours=1), video_link="https://meet.example.cn/r1")
    return services.consultation_start_session(actor=world.expert, consultation=consultation)


def _sign_imaging(world, structure=None, **kwargs):
    consultation = world.accepted_with_expert(service="imaging")
    return services.opinion_sign(actor=world.expert, consultation=consultation, structure=structure or IMAGING, **kwargs)


# --- JL-C11: the ICD-10 format, a pure rule ----------------------------------------------------------


@pytest.mark.parametrize("code", ["A00", "Z99", "I21", "I21.0", "I21.001", "C34.1", "I21.000x001", "U07.1", " i21.001 ", "I21．001"])
def test_jl_c11_icd10_format_accepts_codes_and_national_extensions(code):
    assert report_rules.is_icd10(code) and report_rules.icd10_check(code).passed


@pytest.mark.parametrize("code", ["", "I2", "121.0", "I21.", "I21.00001", "II21", "I21-001", "Z100", "心梗", "I 21", "I21.000x01"])
def test_jl_c11_icd10_format_refuses_malformed_codes_citing_the_rule(code):
    check = report_rules.icd10_check(code)
    assert not check.passed and check.rule == "JL-C11" and "ICD-10" in check.text and "GB/T 14396" in check.text


def test_jl_c11_codes_are_normalised_to_upper_case_with_the_extension_marker_kept():
    assert report_rules.normalise_icd10(" i21.001 ") == "I21.001"
    assert report_rules.normalise_icd10("i21.000X001") == "I21.000x001"
    assert report_rules.normalise_icd10("c34.1") == "C34.1"


# --- JL-C11: templates per service type, held as data ------------------------------------------------


@pytest.mark.parametrize("code, modality, keys", [
    ("imaging", "radiology", ["technique", "findings", "impression"]),
    ("imaging", "ecg", ["rhythm", "intervals", "conclusion"]),
    ("pathology", "", ["gross", "microscopic", "diagnosis"]),
    ("consultation", "", ["history", "assessment", "plan"]),
    ("laboratory", "", ["specimen", "results", "interpretation"]),
])
def test_jl_c11_each_built_in_service_type_has_its_template(code, modality, keys):
    template = ServiceType.objects.get(code=code).report_template
    assert [s.key for s in report_rules.template_sections(template, modality)] == keys
    assert all(c.passed for c in report_rules.report_template_checks(template, modalities=["ecg", "radiology"]))


@pytest.mark.parametrize("template, fragment", [
    ({"sections": [{"key": "Findings", "label": "所见"}]}, "小写字母"),
    ({"sections": [{"key": "a", "label": "甲"}, {"key": "a", "label": "乙"}]}, "不能重复"),
    ({"sections": [{"key": "a", "label": ""}]}, "须有名称"),
    ({"sections": [], "modalities": {"xray": [{"key": "a", "label": "甲"}]}}, "不存在"),
    ({"other": []}, "只能包含"),
])
def test_jl_c11_a_malformed_template_is_refused(template, fragment):
    (check,) = report_rules.report_template_checks(template, modalities=["ecg"])
    assert not check.passed and fragment in check.detail and check.rule == "JL-C11"


def test_jl_c11_the_provincial_regulator_sets_a_template_and_it_is_audited(world):
    province, city = regulator("220000", username="jilin"), regulator("220100", username="changchun")
    service_type = ServiceType.objects.get(code="laboratory")
    template = {"sections": [{"key": "specimen", "label": "标本"}, {"key": "result", "label": "结果"}]}
    with pytest.raises(ApplicationError) as caught:
        services.service_type_report_template_set(actor=city, service_type=service_type, template=template)
    assert caught.value.status == 403 and "JL-C11" in caught.value.message
    services.service_type_report_template_set(actor=province, service_type=service_type, template=template)
    assert ServiceType.objects.get(code="laboratory").report_template == template
    event = AuditEvent.objects.get(event_type="facility.service_type.report_template")
    assert event.actor_id == province.pk and event.details["after"] == template


def test_jl_c11_template_over_the_api_provincial_regulator_only(world):
    url = "/api/v1/service-types/pathology/report-template/"
    body = {"sections": [{"key": "gross", "label": "大体"}, {"key": "micro", "label": "镜下"}]}
    assert_error(token_client(regulator("220100", username="changchun")).post(url, body, format="json"), 403, "permission_denied")
    province = token_client(regulator("220000", username="jilin"))
    assert_error(province.post(url, {"sections": [{"key": "Bad Key", "label": "x"}]}, format="json"), 400, "JL-C11")
    response = province.post(url, body, format="json")
    assert response.status_code == 200 and response.json()["report_template"] == {"sections": body["sections"]}
    assert token_client(world.clinician).get("/api/v1/service-types/pathology/").json()["report_template"]["sections"][1]["key"] == "micro"


def test_jl_c11_template_page_for_the_provincial_regulator(world):
    url = reverse("consultations:report-template", args=["imaging"])
    assert _client(regulator("220100", username="changchun")).get(url).status_code == 403
    assert _client(world.coordinator).get(url).status_code == 403
    client = _client(regulator("220000", username="jilin"))
    listing = client.get(reverse("facilities:service-type-list")).content.decode()
    assert url in listing and "检查方法 · 影像所见 · 诊断意见" in listing
    page = client.get(url).content.decode()
    assert "findings 影像所见" in page and "rhythm 心律" in page and 'name="modality_ecg"' in page
    refused = client.post(url, {"sections": "Findings 影像所见", "modality_ecg": ""})
    assert refused.status_code == 400 and "JL-C11" in refused.content.decode() and "Findings 影像所见" in refused.content.decode()
    done = client.post(url, {"sections": "technique 检查方法\nfindings|影像所见\n\nimpression 印象", "modality_ecg": ""})
    assert done.status_code == 302
    template = ServiceType.objects.get(code="imaging").report_template
    assert template == {"sections": [{"key": "technique", "label": "检查方法"}, {"key": "findings", "label": "影像所见"},
                                     {"key": "impression", "label": "印象"}]}
    assert [s.key for s in report_rules.template_sections(template, "ecg")] == ["technique", "findings", "impression"]


# --- JL-C6: the signature covers the structure --------------------------------------------------------


def test_jl_c11_structured_report_is_stored_in_template_order_and_signed(world):
    opinion = _sign_imaging(world)
    structure = opinion.structure
    assert [s["key"] for s in structure["sections"]] == ["technique", "findings", "impression"]
    assert [s["label"] for s in structure["sections"]] == ["检查方法", "影像所见", "诊断意见"]
    assert structure["diagnoses"][1] == {"code": "I21.001", "text": "急性前壁心肌梗死"}
    assert "【影像所见】" in opinion.content and "急性前壁心肌梗死（I21.001）" in opinion.content
    consultation = opinion.consultation
    expected = signed_content_hash(
        consultation_number=consultation.number, version=1, kind=opinion.kind, content=opinion.content,
        physician_id=opinion.signed_by_id, signed_at=opinion.signed_at, structure=structure,
    )
    assert opinion.content_sha256 == expected
    assert opinion.content_sha256 != signed_content_hash(
        consultation_number=consultation.number, version=1, kind=opinion.kind, content=opinion.content,
        physician_id=opinion.signed_by_id, signed_at=opinion.signed_at,
    )
    event = AuditEvent.objects.get(event_type="opinion.sign", details__consultation=consultation.number)
    assert event.details["structured"] is True and event.details["diagnoses"] == ["C34.1", "I21.001"]


def test_jl_c6_changing_a_diagnosis_code_after_signing_is_detected(world):
    """The stored structure is what was signed: a code changed in the database breaks the signature."""
    opinion = _sign_imaging(world)
    number = opinion.consultation.number
    assert opinion_signature_intact(Opinion.objects.get(pk=opinion.pk), consultation_number=number)
    tampered = json.loads(json.dumps(opinion.structure))
    tampered["diagnoses"][0]["code"] = "C34.9"
    Opinion.objects.filter(pk=opinion.pk).update(structure=tampered)  # behind the portal's back
    assert not opinion_signature_intact(Opinion.objects.get(pk=opinion.pk), consultation_number=number)
    tampered["diagnoses"][0]["code"] = "C34.1"
    tampered["sections"][1]["text"] = "未见异常。"
    Opinion.objects.filter(pk=opinion.pk).update(structure=tampered)
    assert not opinion_signature_intact(Opinion.objects.get(pk=opinion.pk), consultation_number=number)
    with pytest.raises(ValueError, match="JL-C6"):
        Opinion.objects.get(pk=opinion.pk).save()


def test_jl_c6_free_text_opinions_keep_their_old_canonical_hash_and_verify(world):
    """Signed before structures existed (or as free text since): the canonical form has no structure
    and no form marker, and the signature still verifies."""
    consultation = signed(world, recommends=False)
    opinion = consultation.opinions.get()
    legacy = {"consultation": consultation.number, "version": 1, "kind": opinion.kind, "content": opinion.content,
              "physician": opinion.signed_by_id, "signed_at": opinion.signed_at.isoformat()}
    expected = hashlib.sha256(json.dumps(legacy, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
    assert opinion.structure == {} and opinion.content_sha256 == expected
    assert opinion_signature_intact(opinion, consultation_number=consultation.number)
    Opinion.objects.filter(pk=opinion.pk).update(content=opinion.content + "补充")
    assert not opinion_signature_intact(Opinion.objects.get(pk=opinion.pk), consultation_number=consultation.number)


def test_jl_c6_a_structured_correction_is_a_new_signed_version(world):
    first = _sign_imaging(world)
    changed = {**IMAGING, "diagnoses": [{"code": "C34.1", "text": "左肺上叶腺癌"}]}
    second = services.opinion_sign(actor=world.expert, consultation=first.consultation, structure=changed,
                                   corrects=first, correction_reason="病理回报")
    assert second.version == 2 and second.supersedes_id == first.pk
    assert second.structure["diagnoses"] == [{"code": "C34.1", "text": "左肺上叶腺癌"}]
    assert second.content_sha256 != first.content_sha256
    assert opinion_signature_intact(second, consultation_number=first.consultation.number)


# --- JL-C11: refusals ----------------------------------------------------------------------------------


def test_jl_c11_a_malformed_code_is_refused_as_icd10_invalid_and_nothing_is_signed(world):
    consultation = world.accepted_with_expert(service="imaging")
    bad = {**IMAGING, "diagnoses": [{"code": "C34.1", "text": "肺癌"}, {"code": "I21-001", "text": "心梗"}]}
    with pytest.raises(ApplicationError) as caught:
        services.opinion_sign(actor=world.expert, consultation=consultation, structure=bad)
    error = caught.value
    assert error.code == "icd10_invalid" and "JL-C11" in error.message and "第 2 条" in error.message and "I21-001" in error.message
    assert len(error.extra["reasons"]) == 1 and error.extra["field"] == "diagnoses"
    assert not Opinion.objects.filter(consultation=consultation).exists()


@pytest.mark.parametrize("structure, content, fragment", [
    ({**IMAGING, "diagnoses": []}, "", "1 至 10 条诊断"),
    ({**IMAGING, "diagnoses": [{"code": "C34.1", "text": ""}]}, "", "诊断名称"),
    ({**IMAGING, "sections": {"gross": "大体"}}, "", "未知栏目"),
    ({**IMAGING, "sections": {}}, "", "至少填写一项"),
    (IMAGING, "另附自由文本", "请勿同时提交"),
])
def test_jl_c11_structure_refusals_cite_the_rule(world, structure, content, fragment):
    consultation = world.accepted_with_expert(service="imaging")
    with pytest.raises(ApplicationError) as caught:
        services.opinion_sign(actor=world.expert, consultation=consultation, structure=structure, content=content)
    assert caught.value.code == "JL-C11" and fragment in caught.value.message
    assert not Opinion.objects.filter(consultation=consultation).exists()


def test_jl_c11_opinion_services_use_the_consultation_template(world):
    consultation = _in_session(world)
    opinion = services.opinion_sign(actor=world.expert, consultation=consultation, structure={
        "sections": {"history": "发热2周", "assessment": "考虑肺结核", "plan": "痰检、胸部CT"},
        "diagnoses": [{"code": "A16.2", "text": "肺结核"}],
    })
    assert opinion.kind == "opinion" and [s["label"] for s in opinion.structure["sections"]] == ["病史摘要", "病情评估", "诊疗计划"]


# --- The API: round trip and schema ----------------------------------------------------------------------


def test_jl_c11_api_round_trip(world):
    consultation = world.accepted_with_expert(service="imaging")
    client = token_client(world.expert)
    url = f"/api/v1/consultations/{consultation.pk}/sign/"
    body = {"structure": {"sections": [{"key": k, "text": v} for k, v in IMAGING["sections"].items()],
                          "diagnoses": IMAGING["diagnoses"], "recommendations": IMAGING["recommendations"]}}
    bad = json.loads(json.dumps(body))
    bad["structure"]["diagnoses"][0]["code"] = "C3"
    refused = assert_error(client.post(url, bad, format="json"), 400, "icd10_invalid")
    assert "JL-C11" in refused["message"] and refused["extra"]["reasons"][0]["rule"] == "JL-C11"
    response = client.post(url, body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["structure"]["diagnoses"][1] == {"code": "I21.001", "text": "急性前壁心肌梗死"}
    assert created["structure"]["sections"][0] == {"key": "technique", "label": "检查方法", "text": "胸部CT平扫+增强"}
    detail = token_client(world.coordinator).get(f"/api/v1/consultations/{consultation.pk}/").json()
    (opinion,) = detail["opinions"]
    assert opinion["structure"] == created["structure"] and opinion["content_sha256"] == created["content_sha256"]
    stored = Opinion.objects.get(pk=created["id"])
    assert opinion_signature_intact(stored, consultation_number=consultation.number)


def test_jl_c11_api_free_text_still_works_and_reads_structure_null(world):
    consultation = world.accepted_with_expert(service="imaging")
    response = token_client(world.expert).post(f"/api/v1/consultations/{consultation.pk}/sign/", {"content": "未见异常。"}, format="json")
    assert response.status_code == 201 and response.json()["structure"] is None
    duplicate = {"structure": {"sections": [{"key": "findings", "text": "a"}, {"key": "findings", "text": "b"}]}}
    corrected = token_client(world.expert).post(f"/api/v1/consultations/{consultation.pk}/correct/",
                                                {**duplicate, "opinion": response.json()["id"], "correction_reason": "补充"}, format="json")
    assert_error(corrected, 400, "invalid")


def test_jl_c11_openapi_schema_describes_the_structure(db, world):
    response = token_client(world.clinician).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    components = schema["components"]["schemas"]
    opinion = components["Opinion"]["properties"]["structure"]
    assert opinion.get("nullable") is True or "oneOf" in opinion or "allOf" in opinion
    assert {"schema", "sections", "diagnoses", "recommendations"} <= set(components["OpinionStructure"]["properties"])
    sign = components["Sign"]["properties"]
    assert {"content", "structure"} <= set(sign)
    assert {"code", "text"} <= set(components["DiagnosisIn"]["properties"])
    assert "/api/v1/service-types/{code}/report-template/" in schema["paths"]
    assert "report_template" in components["ServiceType"]["properties"]


# --- The editor on the case page ------------------------------------------------------------------------


def test_jl_c11_the_case_page_offers_the_template_sections_and_signs_them(world):
    consultation = world.accepted_with_expert(service="imaging")
    client = _client(world.expert)
    page = client.get(reverse("consultations:detail", args=[consultation.pk])).content.decode()
    for label in ("检查方法", "影像所见", "诊断意见", "ICD-10 编码", "不分栏，改用自由文本"):
        assert label in page
    assert 'name="sign-section_findings"' in page and 'name="sign-dx0_code"' in page
    sign = reverse("consultations:sign", args=[consultation.pk])
    post = {"sign-section_findings": "右肺下叶结节", "sign-dx0_code": "R91", "sign-dx0_text": "肺结节",
            "sign-dx1_code": "X1.2", "sign-dx1_text": "错误编码"}
    refused = client.post(sign, post)
    text = refused.content.decode()
    assert refused.status_code == 400 and "JL-C11" in text and "X1.2" in text and "右肺下叶结节" in text
    post.update({"sign-dx1_code": "", "sign-dx1_text": "", "sign-recommendations": "3个月复查"})
    assert client.post(sign, post).status_code == 302
    opinion = Opinion.objects.get(consultation=consultation)
    assert opinion.structure["diagnoses"] == [{"code": "R91", "text": "肺结节"}] and opinion.structure["recommendations"] == "3个月复查"
    page = client.get(reverse("consultations:detail", args=[consultation.pk])).content.decode()
    assert "肺结节" in page and "R91" in page and reverse("consultations:opinion-print", args=[consultation.pk, opinion.pk]) in page
    # The correction editor starts from the signed structure.
    assert 'name="correct-dx0_code"' in page and 'value="R91"' in page


def test_jl_c11_old_free_text_opinions_display_as_before(world):
    consultation = signed(world, recommends=False)
    page = _client(world.coordinator).get(reverse("consultations:detail", args=[consultation.pk])).content.decode()
    assert "考虑急性主动脉夹层，建议转上级医院。" in page and "diagnosis-list" not in page


# --- The printable report --------------------------------------------------------------------------------


def test_jl_c11_printable_report_has_header_masked_patient_signer_and_hash(world, django_assert_max_num_queries):
    opinion = _sign_imaging(world)
    consultation = opinion.consultation
    url = reverse("consultations:opinion-print", args=[consultation.pk, opinion.pk])
    client = _client(world.coordinator)
    with django_assert_max_num_queries(24):
        response = client.get(url)
    page = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    invited = world.invited
    assert invited.name in page and invited.level_and_grade in page and "远程诊断报告" in page
    assert consultation.patient.name in page and "220***********1234" in page and "220102196005011234" not in page
    assert "13812341234" not in page
    assert world.expert_physician.name in page and world.expert_physician.get_title_display() in page
    assert opinion.content_sha256 in page and "内容与签发时一致" in page and "I21.001" in page
    assert "<script>" not in page and "style=" not in page and "report.css" in page
    event = AuditEvent.objects.filter(event_type="record.view").latest("sequence")
    assert event.actor_id == world.coordinator.pk and event.object_type == "consultations.opinion"
    assert event.object_id == str(opinion.pk) and event.details["patient_id"] == consultation.patient_id
    Opinion.objects.filter(pk=opinion.pk).update(structure={**opinion.structure, "recommendations": "改过"})
    assert "内容与签名不一致" in client.get(url).content.decode()


def test_jl_c11_printable_report_is_404_for_another_facility_and_for_another_case(world):
    opinion = _sign_imaging(world)
    url = reverse("consultations:opinion-print", args=[opinion.consultation_id, opinion.pk])
    elsewhere = FacilityFactory(name="吉林市中心医院", division=division("220202"), licence_issuer=division("220200"))
    outsider = staff(elsewhere, "coordinator", username="outsider")
    before = AuditEvent.objects.filter(event_type="record.view").count()
    assert _client(outsider).get(url).status_code == 404
    assert AuditEvent.objects.filter(event_type="record.view").count() == before
    other = signed(world, recommends=False)
    wrong = reverse("consultations:opinion-print", args=[other.pk, opinion.pk])
    assert _client(world.coordinator).get(wrong).status_code == 404
    assert _client(world.expert).get(url).status_code == 200


def test_jl_c8_a_sealed_case_asks_the_purpose_before_the_printable_report(world):
    from audit import records

    opinion = _sign_imaging(world)
    records.seal_create(actor=world.coordinator, consultation=opinion.consultation, reason="医疗争议",
                        inviting_party_name="王主任", inviting_party_role="医务科科长",
                        invited_party_name="张某", invited_party_role="患者之子")
    url = reverse("consultations:opinion-print", args=[opinion.consultation_id, opinion.pk])
    before = AuditEvent.objects.filter(event_type="record.view", object_type="consultations.opinion").count()
    response = _client(world.coordinator).get(url)
    assert response.status_code == 302 and reverse("audit:sealed-access", args=[opinion.consultation_id]) in response["Location"]
    assert AuditEvent.objects.filter(event_type="record.view", object_type="consultations.opinion").count() == before


def test_jl_c11_printable_report_of_a_free_text_opinion(world):
    consultation = signed(world, recommends=True)
    opinion = consultation.opinions.get()
    page = _client(world.clinician).get(reverse("consultations:opinion-print", args=[consultation.pk, opinion.pk])).content.decode()
    assert "远程会诊意见" in page and opinion.content in page and "建议转诊" in page and "内容与签发时一致" in page
