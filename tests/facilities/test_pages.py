"""The facilities pages: scoping (404 outside scope), refusals shown on forms, query counts."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from facilities import services
from facilities.choices import (
    AccreditationCondition,
    AccreditationStatus,
    AgreementStatus,
    FacilityKind,
    FacilityLevel,
    StaffRole,
    SuspensionCause,
    Title,
)
from facilities.models import AccreditationApplication, Facility, Physician, PracticeRegistration, Suspension
from tests.factories import (
    AgreementFactory,
    FacilityFactory,
    PhysicianFactory,
    RegistrationFactory,
    division,
    pdf,
    regulator,
    staff,
)

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"facilities:{name}", args=args)


def seven_items():
    return [
        services.AccreditationItemInput(c.value, f"{c.label} 情况说明", pdf(f"{c.value}.pdf"))
        for c in AccreditationCondition
    ]


def level_1_clinic(**overrides):
    values = {
        "level": FacilityLevel.LEVEL_1,
        "kind": FacilityKind.TOWNSHIP_CENTRE,
        "division": division("220122"),
    }
    values.update(overrides)
    return FacilityFactory(**values)


# --- Login, layout, home ------------------------------------------------------------------


def test_login_page_renders_in_chinese(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "登录" in html and "用户名" in html and "密码" in html
    assert 'action="/i18n/setlang/"' in html  # the language switch
    assert "English" in html and "简体中文" in html


def test_pages_need_a_login(client):
    response = client.get(url("facility-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_layout_shows_navigation_user_and_logout_form(client):
    facility = FacilityFactory()
    admin = staff(facility, StaffRole.FACILITY_ADMIN, first_name="王", last_name="")
    client.force_login(admin)
    html = client.get(reverse("home")).content.decode()
    for name in (
        "facility-list",
        "agreement-list",
        "physician-list",
        "duty-list",
        "application-list",
        "suspension-list",
    ):
        assert f'href="{url(name)}"' in html
    assert f'action="{reverse("logout")}" method="post"' in html
    assert f'href="{reverse("password_change")}"' in html
    assert facility.name in html and "机构管理员" in html and "可开展" in html


def test_password_change_pages_render(client):
    client.force_login(staff(FacilityFactory()))
    response = client.get(reverse("password_change"))
    assert response.status_code == 200
    assert "修改密码" in response.content.decode() and "id_new_password1" in response.content.decode()
    assert "密码已修改" in client.get(reverse("password_change_done")).content.decode()


def test_home_shows_a_regulator_the_pending_applications_and_open_suspensions(client):
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    services.accreditation_apply(
        actor=staff(facility, StaffRole.FACILITY_ADMIN), facility=facility, items=seven_items()
    )
    province = regulator("220000")
    services.suspension_report(
        actor=province,
        facility=FacilityFactory(),
        cause=SuspensionCause.QUALITY_RISK,
        description="抽查发现隐患",
    )
    client.force_login(province)
    response = client.get(reverse("home"))
    assert response.context["pending_applications"] == 1
    assert response.context["open_suspensions"] == 1
    assert "待审核的评估验收申请" in response.content.decode()


# --- Lists: the right users, and a query count that does not grow with the rows ------------


def _facilities(n):
    user = regulator("220000")
    facilities = FacilityFactory.create_batch(n)
    services.suspension_report(
        actor=user, facility=facilities[0], cause=SuspensionCause.QUALITY_RISK, description="隐患"
    )
    return user, facilities[-1].name


def _agreements(n):
    own = FacilityFactory()
    user = staff(own, StaffRole.CLINICIAN)
    agreements = [AgreementFactory(invited=own) for _ in range(n)]
    return user, agreements[-1].number


def _physicians(n):
    own, other = FacilityFactory(), FacilityFactory()
    user = staff(own, StaffRole.FACILITY_ADMIN)
    registrations = [RegistrationFactory(facility=own) for _ in range(n)]
    for registration in registrations[:3]:
        RegistrationFactory(facility=other, physician=registration.physician, is_primary=False)
    return user, registrations[-1].physician.name


def _duty(n):
    own = FacilityFactory()
    user = staff(own, StaffRole.COORDINATOR)
    start = timezone.now() + dt.timedelta(hours=1)
    physicians = []
    for i in range(n):
        registration = RegistrationFactory(facility=own)
        physicians.append(registration.physician)
        services.duty_shift_add(
            actor=user,
            facility=own,
            physician=registration.physician,
            scope="internal",
            starts_at=start + dt.timedelta(hours=8 * i),
            ends_at=start + dt.timedelta(hours=8 * (i + 1)),
        )
    return user, physicians[0].name


def _applications(n):
    user = regulator("220000")
    for _ in range(n):
        facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
        services.accreditation_apply(
            actor=staff(facility, StaffRole.FACILITY_ADMIN), facility=facility, items=seven_items()
        )
    return user, facility.name


def _suspensions(n):
    user = regulator("220100")
    for _ in range(n):
        facility = FacilityFactory()
        services.suspension_report(
            actor=user, facility=facility, cause=SuspensionCause.QUALITY_RISK, description="隐患"
        )
    return user, facility.name


# A privileged user's session (regulator, facility administrator, one of the three administrators) passed the second step:
# django-otp's OTPMiddleware reads its device once per request (JL-A2, facilities/twofactor.py).
OTP = 1

LISTS = {
    "facility-list": (_facilities, 7 + OTP),
    "agreement-list": (_agreements, 8),
    "physician-list": (_physicians, 8 + OTP),
    "duty-list": (_duty, 7),
    "application-list": (_applications, 6 + OTP),
    "suspension-list": (_suspensions, 6 + OTP),
}


@pytest.mark.parametrize("rows", [3, 20])
@pytest.mark.parametrize("name", list(LISTS))
def test_list_page_renders_with_a_query_count_independent_of_rows(
    client, django_assert_max_num_queries, name, rows
):
    build, max_queries = LISTS[name]
    user, expected_text = build(rows)
    client.force_login(user)
    with django_assert_max_num_queries(max_queries):
        response = client.get(url(name))
    assert response.status_code == 200
    assert expected_text in response.content.decode()
    assert response.context["page_obj"].paginator.count == rows


def _facility_detail(n):
    facility = FacilityFactory()
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    for _ in range(n):
        RegistrationFactory(facility=facility)
        AgreementFactory(invited=facility)
    services.suspension_report(
        actor=admin, facility=facility, cause=SuspensionCause.QUALITY_RISK, description="隐患"
    )
    return admin, url("facility-detail", facility.pk)


def _physician_detail(n):
    physician = PhysicianFactory()
    for _ in range(n):
        registration = RegistrationFactory(physician=physician, is_primary=False, authorised_at=None)
        with pytest.raises(services.ApplicationError):  # JL-P6: an entry in the assessment file
            services.physician_require_qualified(
                actor=None,
                physician=physician,
                facility=registration.facility,
                acting_role="attending",
                scope=None,
                act="sign",
            )
    return regulator("220000"), url("physician-detail", physician.pk)


def _agreement_detail(n):
    agreement = AgreementFactory(service_types=SERVICE_CODES[:n])
    return staff(agreement.inviting), url("agreement-detail", agreement.pk)


SERVICE_CODES = ["consultation", "outpatient", "case_discussion", "pathology", "imaging", "laboratory"]
DETAILS = {
    "facility-detail": (_facility_detail, 12 + OTP),  # +1: JL-O6 substantiated complaints per year; +1: JL-O3 its grades
    "physician-detail": (_physician_detail, 9 + OTP),  # +1: JL-P6 entries' audit events (their chain position, JL-A1)
    "agreement-detail": (_agreement_detail, 6),
}


@pytest.mark.parametrize("rows", [3, 20])
@pytest.mark.parametrize("name", list(DETAILS))
def test_detail_page_query_count_is_independent_of_related_rows(
    client, django_assert_max_num_queries, name, rows
):
    build, max_queries = DETAILS[name]
    user, page = build(rows)
    client.force_login(user)
    with django_assert_max_num_queries(max_queries):
        response = client.get(page)
    assert response.status_code == 200


def test_lists_paginate_by_25_and_keep_the_filters(client):
    province = regulator("220000")
    FacilityFactory.create_batch(30, level=FacilityLevel.LEVEL_2)
    client.force_login(province)
    response = client.get(url("facility-list"), {"level": "2"})
    assert len(response.context["page_obj"]) == 25
    assert "level=2&amp;page=2" in response.content.decode()
    assert len(client.get(url("facility-list"), {"level": "2", "page": "2"}).context["page_obj"]) == 5


def test_facility_list_filters_by_search_division_level_and_accreditation(client):
    province = regulator("220000")
    FacilityFactory(name="吉林市人民医院", division=division("220202"))
    FacilityFactory(name="长春市中心医院", accreditation_status=AccreditationStatus.PENDING)
    client.force_login(province)

    def names(**params):
        return [f.name for f in client.get(url("facility-list"), params).context["page_obj"]]

    assert names(q="人民") == ["吉林市人民医院"]
    assert names(division="220200") == ["吉林市人民医院"]
    assert names(accreditation="pending") == ["长春市中心医院"]
    assert names(level="1") == []


def test_duty_list_is_for_coordinators_and_regulators_not_for_other_facilities(client):
    own, other = FacilityFactory(), FacilityFactory()
    coordinator = staff(own, StaffRole.COORDINATOR)
    other_coordinator = staff(other, StaffRole.COORDINATOR)
    registration = RegistrationFactory(facility=own)
    start = timezone.now() + dt.timedelta(hours=1)
    services.duty_shift_add(
        actor=coordinator,
        facility=own,
        physician=registration.physician,
        scope="internal",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=8),
    )
    client.force_login(other_coordinator)
    assert client.get(url("duty-list")).context["page_obj"].paginator.count == 0
    client.force_login(regulator("220100"))
    assert client.get(url("duty-list")).context["page_obj"].paginator.count == 1


# --- Scope: outside it is a 404 (STYLE 3, JL-O1) --------------------------------------------


def test_clinician_sees_own_and_partner_facility_but_gets_404_elsewhere(client):
    own, partner, stranger = FacilityFactory(), FacilityFactory(), FacilityFactory()
    AgreementFactory(inviting=own, invited=partner)
    client.force_login(staff(own))
    assert client.get(url("facility-detail", own.pk)).status_code == 200
    assert client.get(url("facility-detail", partner.pk)).status_code == 200
    response = client.get(url("facility-detail", stranger.pk))
    assert response.status_code == 404
    assert "不在您的管辖范围内" in response.content.decode()


def test_clinician_gets_404_on_a_physician_registered_only_elsewhere(client):
    own, other = FacilityFactory(), FacilityFactory()
    mine = RegistrationFactory(facility=own).physician
    theirs = RegistrationFactory(facility=other).physician
    client.force_login(staff(own))
    assert client.get(url("physician-detail", mine.pk)).status_code == 200
    assert client.get(url("physician-detail", theirs.pk)).status_code == 404


def test_clinician_gets_404_on_an_agreement_between_other_facilities(client):
    own = FacilityFactory()
    agreement = AgreementFactory()
    client.force_login(staff(own))
    assert client.get(url("agreement-detail", agreement.pk)).status_code == 404
    assert client.get(url("agreement-signed-copy", agreement.pk)).status_code == 404
    assert client.get(url("agreement-terminate", agreement.pk)).status_code == 404


def test_jl_o1_city_regulator_gets_404_on_a_facility_in_another_city(client):
    changchun = FacilityFactory(division=division("220102"))
    jilin = FacilityFactory(division=division("220202"), licence_issuer=division("220200"))
    client.force_login(regulator("220200"))
    assert client.get(url("facility-detail", jilin.pk)).status_code == 200
    assert client.get(url("facility-detail", changchun.pk)).status_code == 404
    names = [f.name for f in client.get(url("facility-list")).context["page_obj"]]
    assert names == [jilin.name]


# --- Details --------------------------------------------------------------------------------


def test_jl_f1_jl_f5_facility_detail_shows_participation_checks(client):
    facility = FacilityFactory(accreditation_status=AccreditationStatus.REJECTED)
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    services.suspension_report(
        actor=admin, facility=facility, cause=SuspensionCause.EQUIPMENT_CHANGE, description="CT 更换"
    )
    RegistrationFactory(facility=facility)
    AgreementFactory(invited=facility)
    client.force_login(admin)
    response = client.get(url("facility-detail", facility.pk))
    html = response.content.decode()
    assert [c.rule for c in response.context["participation"] if not c.passed] == ["JL-F1", "JL-F5"]
    assert "第十条、第十三条" in html and "第三十四条" in html
    assert "CT 更换" in html
    assert len(response.context["agreements"]) == 1 and len(response.context["physicians"]) == 1


def test_physician_detail_shows_the_qualification_table_and_assessment_file(client):
    facility = FacilityFactory()
    registration = RegistrationFactory(
        facility=facility, authorised_at=None, physician=PhysicianFactory(title=Title.ATTENDING_PHYSICIAN)
    )
    physician = registration.physician
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    with pytest.raises(services.ApplicationError):
        services.physician_require_qualified(
            actor=admin,
            physician=physician,
            facility=facility,
            acting_role="expert",
            scope="internal",
            act="accept",
        )
    client.force_login(admin)
    response = client.get(url("physician-detail", physician.pk))
    html = response.content.decode()
    row = response.context["table"][0]
    assert {c.rule for c in row["expert"] if not c.passed} == {"JL-P4", "JL-P6"}
    assert {c.rule for c in row["attending"] if not c.passed} == {"JL-P6"}
    assert "第十四条第四项" in html
    assert "未经所在机构授权" in html  # the assessment file entry (JL-P6, art. 31)
    assert url("registration-authorise", physician.pk, registration.pk) in html


def test_jl_f2_agreement_detail_shows_terms_and_invited_facility_checks(client):
    agreement = AgreementFactory()
    client.force_login(staff(agreement.inviting))
    response = client.get(url("agreement-detail", agreement.pk))
    html = response.content.decode()
    assert [c.rule for c in response.context["invited_checks"]] == ["JL-F2"] * 3
    assert all(c.passed for c in response.context["invited_checks"])
    for text in (
        agreement.purpose,
        agreement.process,
        "远程会诊",
        "邀请方 2 : 受邀方 8",
        url("agreement-signed-copy", agreement.pk),
    ):
        assert text in html


# --- Writes through the pages ---------------------------------------------------------------


def physician_post(facility, **overrides):
    data = {
        "facility": facility.pk,
        "name": "李明",
        "qualification_number": "110220000012345",
        "qualification_obtained_on": "2008-07-01",
        "certificate_number": "110220000054321",
        "certificate_valid_until": "",
        "title": str(Title.ASSOCIATE_CHIEF_PHYSICIAN.value),
        "scopes": ["internal", "imaging"],
        "registered_on": "2015-03-01",
        "registration_valid_until": "",
        "is_primary": "on",
    }
    data.update(overrides)
    return data


def test_jl_p2_facility_admin_registers_a_physician_through_the_page(client):
    facility = FacilityFactory()
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    client.force_login(admin)
    assert client.get(url("physician-create")).status_code == 200
    response = client.post(url("physician-create"), physician_post(facility))
    physician = Physician.objects.get(certificate_number="110220000054321")
    assert response.status_code == 302
    assert response["Location"] == url("physician-detail", physician.pk)
    assert physician.scopes == ["imaging", "internal"]
    registration = PracticeRegistration.objects.get(physician=physician, facility=facility)
    event = AuditEvent.objects.get(event_type="physician.register")
    assert event.actor_id == admin.pk
    assert event.object_id == str(registration.pk)
    assert event.channel == "web"


def test_jl_p1_physician_register_refusal_is_shown_on_the_form_with_the_input_kept(client):
    facility, other = FacilityFactory(), FacilityFactory()
    existing = RegistrationFactory(facility=other).physician
    client.force_login(staff(facility, StaffRole.FACILITY_ADMIN))
    response = client.post(
        url("physician-create"),
        physician_post(facility, certificate_number=existing.certificate_number, name="张冒名"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "JL-P1 第十四条第一项" in html
    assert 'value="张冒名"' in html
    assert not AuditEvent.objects.filter(event_type="physician.register").exists()


def test_clinician_cannot_open_the_physician_form(client):
    facility = FacilityFactory()
    client.force_login(staff(facility, StaffRole.CLINICIAN))
    assert client.get(url("physician-create")).status_code == 403


def test_jl_p3_jl_p6_admin_verifies_and_authorises_a_registration_clinician_is_refused(client):
    facility = FacilityFactory()
    registration = RegistrationFactory(facility=facility, verified_at=None, authorised_at=None)
    physician = registration.physician
    client.force_login(staff(facility, StaffRole.CLINICIAN))
    refused = client.post(url("registration-verify", physician.pk, registration.pk))
    assert refused.status_code == 403
    assert "没有执行此操作的角色" in refused.content.decode()

    client.force_login(staff(facility, StaffRole.FACILITY_ADMIN))
    for name in ("registration-verify", "registration-authorise"):
        response = client.post(url(name, physician.pk, registration.pk))
        assert response.status_code == 302
    registration.refresh_from_db()
    assert registration.verified_at is not None and registration.authorised_at is not None
    client.post(url("registration-revoke", physician.pk, registration.pk))
    registration.refresh_from_db()
    assert registration.authorisation_revoked_at is not None
    assert client.get(url("registration-verify", physician.pk, registration.pk)).status_code == 405


def test_jl_p3_platform_registration_through_the_page(client):
    facility = FacilityFactory()
    physician = RegistrationFactory(
        facility=facility, physician=PhysicianFactory(platform_registered_at=None)
    ).physician
    client.force_login(staff(facility, StaffRole.FACILITY_ADMIN))
    assert client.post(url("physician-platform-register", physician.pk)).status_code == 302
    physician.refresh_from_db()
    assert physician.platform_registered_at is not None


def agreement_post(inviting, invited, **overrides):
    today = timezone.localdate()
    data = {
        "number": "JLYC-2026-0999",
        "inviting": inviting.pk,
        "invited": invited.pk,
        "service_types": ["consultation", "imaging"],
        "valid_from": today.isoformat(),
        "valid_until": (today + dt.timedelta(days=365)).isoformat(),
        "purpose": "对口帮扶，提升基层影像诊断能力",
        "conditions": "双方通过评估验收",
        "process": "按省平台流程",
        "rights_obligations": "邀请方上传资料，受邀方出具报告",
        "liability_sharing": "按第二十八、二十九条",
        "inviting_fee_share": "3",
        "invited_fee_share": "7",
        "signed_copy": pdf("signed.pdf"),
    }
    data.update(overrides)
    return data


def test_jl_f3_facility_admin_registers_an_agreement_through_the_page(client):
    own, partner = FacilityFactory(), FacilityFactory()
    AgreementFactory(inviting=own, invited=partner, status=AgreementStatus.TERMINATED)
    client.force_login(staff(own, StaffRole.FACILITY_ADMIN))
    response = client.post(url("agreement-create"), agreement_post(own, partner))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(event_type="facility.agreement.register").count() == 1


def test_jl_f3_first_agreement_with_a_facility_never_dealt_with_before(client):
    """The form offers the facilities registry, not only existing partners."""
    own, newcomer = FacilityFactory(level=2), FacilityFactory(name="延边大学附属医院（新伙伴）")
    client.force_login(staff(own, StaffRole.FACILITY_ADMIN))
    form_page = client.get(url("agreement-create")).content.decode()
    assert "延边大学附属医院（新伙伴）" in form_page
    response = client.post(url("agreement-create"), agreement_post(own, newcomer))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(event_type="facility.agreement.register").count() == 1


def test_jl_f2_agreement_form_with_a_level_1_invited_facility_shows_the_rule_and_keeps_the_input(client):
    own = FacilityFactory()
    clinic = level_1_clinic()
    # The clinic already invites us (so it is our partner); now we try to invite it.
    AgreementFactory(inviting=clinic, invited=own)
    client.force_login(staff(own, StaffRole.FACILITY_ADMIN))
    response = client.post(url("agreement-create"), agreement_post(own, clinic))
    assert response.status_code == 200
    html = response.content.decode()
    assert "JL-F2 第十二条: 受邀方须为二级以上医疗机构（现为一级）" in html
    assert 'value="JLYC-2026-0999"' in html
    assert "对口帮扶，提升基层影像诊断能力" in html
    assert f'<option value="{clinic.pk}" selected>' in html
    assert not AuditEvent.objects.filter(event_type="facility.agreement.register").exists()


def test_jl_f3_agreement_terminate_needs_a_reason(client):
    agreement = AgreementFactory()
    client.force_login(staff(agreement.invited, StaffRole.FACILITY_ADMIN))
    response = client.post(url("agreement-terminate", agreement.pk), {"reason": ""})
    assert response.status_code == 200
    assert "JL-F3 第十五条: 终止协议须写明原因" in response.content.decode()
    response = client.post(url("agreement-terminate", agreement.pk), {"reason": "合作到期不再续签"})
    assert response.status_code == 302
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.TERMINATED


def test_jl_f3_signed_copy_streams_for_a_party_and_404s_for_an_outsider(client):
    agreement = AgreementFactory(signed_copy=pdf("agreement.pdf", b"%PDF-1.4 signed by both\n"))
    client.force_login(staff(agreement.inviting))
    response = client.get(url("agreement-signed-copy", agreement.pk))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 signed by both\n"
    assert response["Content-Disposition"].startswith("attachment")
    assert agreement.number in response["Content-Disposition"]

    client.force_login(staff(FacilityFactory()))
    assert client.get(url("agreement-signed-copy", agreement.pk)).status_code == 404


def application_post(facility, conditions=None):
    data = {"facility": facility.pk}
    for condition in AccreditationCondition:
        if conditions is None or condition in conditions:
            data[f"{condition.value}_statement"] = f"{condition.label}：已具备"
            data[f"{condition.value}_evidence"] = pdf(f"{condition.value}.pdf")
    return data


def test_jl_f1_admin_applies_through_the_page(client):
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    client.force_login(staff(facility, StaffRole.FACILITY_ADMIN))
    response = client.post(url("application-create"), application_post(facility))
    application = AccreditationApplication.objects.get(facility=facility)
    assert response.status_code == 302
    assert response["Location"] == url("application-detail", application.pk)
    detail = client.get(response["Location"])
    assert all(c.passed for c in detail.context["completeness"])
    item = application.items.get(condition=AccreditationCondition.LICENCE)
    evidence = client.get(url("application-evidence", application.pk, item.pk))
    assert evidence.status_code == 200
    assert b"".join(evidence.streaming_content).startswith(b"%PDF")


def test_jl_f1_incomplete_application_lists_every_missing_condition_on_the_form(client):
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    client.force_login(staff(facility, StaffRole.FACILITY_ADMIN))
    first_five = list(AccreditationCondition)[:5]
    response = client.post(url("application-create"), application_post(facility, first_five))
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert len(errors) == 2
    assert all(e.startswith("JL-F1 第十三条") for e in errors)
    assert "（一）依法取得《医疗机构执业许可证》：已具备" in response.content.decode()
    assert not AccreditationApplication.objects.exists()


def test_jl_f1_provincial_regulator_approves_an_application_through_the_page(client):
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    application = services.accreditation_apply(
        actor=staff(facility, StaffRole.FACILITY_ADMIN), facility=facility, items=seven_items()
    )
    client.force_login(regulator("220000"))
    detail = client.get(url("application-detail", application.pk))
    assert detail.context["decision_form"] is not None
    response = client.post(url("application-decide", application.pk), {"decision": "approve", "reason": ""})
    assert response.status_code == 302
    facility.refresh_from_db()
    application.refresh_from_db()
    assert application.status == AccreditationStatus.APPROVED
    assert facility.accreditation_status == AccreditationStatus.APPROVED


def test_jl_f1_rejection_without_reason_is_shown_on_the_form(client):
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    application = services.accreditation_apply(
        actor=staff(facility, StaffRole.FACILITY_ADMIN), facility=facility, items=seven_items()
    )
    client.force_login(regulator("220000"))
    response = client.post(url("application-decide", application.pk), {"decision": "reject", "reason": " "})
    assert response.status_code == 400
    assert "JL-F1 第十条: 不予通过须写明理由" in response.content.decode()


def test_jl_f1_city_regulator_cannot_decide(client):
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    application = services.accreditation_apply(
        actor=staff(facility, StaffRole.FACILITY_ADMIN), facility=facility, items=seven_items()
    )
    client.force_login(regulator("220100"))
    assert client.get(url("application-detail", application.pk)).context["decision_form"] is None
    response = client.post(url("application-decide", application.pk), {"decision": "approve", "reason": ""})
    assert response.status_code == 403
    assert "评估验收由省卫生健康委审核" in response.content.decode()


def test_jl_f4_coordinator_adds_a_duty_shift_through_the_page(client):
    facility = FacilityFactory()
    physician = RegistrationFactory(facility=facility).physician
    stranger = RegistrationFactory(facility=FacilityFactory()).physician
    client.force_login(staff(facility, StaffRole.COORDINATOR))
    data = {
        "facility": facility.pk,
        "physician": physician.pk,
        "scope": "imaging",
        "starts_at": "2031-01-05T08:00",
        "ends_at": "2031-01-05T20:00",
    }
    assert client.post(url("duty-create"), data).status_code == 302
    # A physician not registered here is not even offered (JL-P2).
    response = client.post(url("duty-create"), {**data, "physician": stranger.pk})
    assert response.status_code == 200 and response.context["form"].errors["physician"]


def test_jl_f5_staff_report_a_suspension_through_the_page(client):
    facility = FacilityFactory()
    client.force_login(staff(facility, StaffRole.COORDINATOR))
    response = client.post(
        url("suspension-create"),
        {"facility": facility.pk, "cause": SuspensionCause.KEY_STAFF_CHANGE, "description": "影像科主任离职"},
    )
    assert response.status_code == 302
    suspension = Suspension.objects.get(facility=facility)
    assert suspension.issuing_division_id == "220100"


def test_jl_f5_city_regulator_cannot_lift_a_suspension_issued_by_the_province(client):
    facility = FacilityFactory(division=division("220202"), licence_issuer=division("220000"))
    suspension = services.suspension_report(
        actor=staff(facility, StaffRole.FACILITY_ADMIN),
        facility=facility,
        cause=SuspensionCause.ADVERSE_OUTCOME,
        description="出现严重不良后果",
    )
    client.force_login(regulator("220200"))
    page = client.get(url("suspension-lift", suspension.pk))
    assert page.status_code == 200 and page.context["can_lift"] is False
    response = client.post(url("suspension-lift", suspension.pk), {"reason": "已整改"})
    assert response.status_code == 403
    assert "JL-F5 第三十四条: 只有核发执业许可证的卫生健康行政部门可以解除暂停" in response.content.decode()
    suspension.refresh_from_db()
    assert suspension.lifted_at is None

    client.force_login(regulator("220000"))
    assert (
        client.post(url("suspension-lift", suspension.pk), {"reason": "已整改，复查合格"}).status_code == 302
    )
    suspension.refresh_from_db()
    assert suspension.lifted_at is not None
    assert not Facility.objects.with_suspension().get(pk=facility.pk).is_suspended


def test_jl_f5_licensing_regulator_sees_the_lift_button_others_do_not(client):
    facility = FacilityFactory()
    city = regulator("220100")
    services.suspension_report(
        actor=city, facility=facility, cause=SuspensionCause.QUALITY_RISK, description="隐患"
    )
    client.force_login(city)
    assert client.get(url("suspension-list")).context["page_obj"][0].can_lift is True
    client.force_login(regulator("220000"))
    assert client.get(url("suspension-list")).context["page_obj"][0].can_lift is False


@pytest.mark.django_db
def test_level_and_grade_are_joined_as_each_language_joins_them():
    from django.utils import translation

    from facilities.choices import FacilityLevel
    from tests.factories import FacilityFactory

    facility = FacilityFactory(level=FacilityLevel.LEVEL_3, grade="A")
    with translation.override("zh-hans"):
        assert facility.level_and_grade == "三级甲等"
    with translation.override("en"):
        assert facility.level_and_grade == "Level III Grade A"
