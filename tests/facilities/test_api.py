"""The facilities partner API (/api/v1/): scoping (JL-O1), roles, rule refusals, query counts."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from audit.models import AuditEvent
from facilities import services
from facilities.choices import (
    AccreditationCondition,
    AccreditationStatus,
    FacilityLevel,
    StaffRole,
    SuspensionCause,
    Title,
)
from facilities.models import CooperationAgreement, DutyShift, Physician
from tests.api_cases import (
    Access,
    Call,
    EndpointAccessCases,
    assert_error,
    assert_list_queries_constant,
    audit_count,
    partner,
    rows,
    token_client,
)
from tests.factories import (
    AgreementFactory,
    FacilityFactory,
    PhysicianFactory,
    RegistrationFactory,
    UserFactory,
    division,
    pdf,
    regulator,
    staff,
)

API = "/api/v1"


def jilin_city_facility(**overrides):
    """A level-3 hospital in 吉林市昌邑区, licensed by 吉林市 (220200)."""
    return FacilityFactory(division=division("220202"), licence_issuer=division("220200"), **overrides)


def duty_shift(facility, *, physician=None, start=None, hours: int = 8):
    physician = physician or RegistrationFactory(facility=facility).physician
    start = start or timezone.now()
    coordinator = staff(facility, StaffRole.COORDINATOR)
    return services.duty_shift_add(
        actor=coordinator, facility=facility, physician=physician, scope="internal",
        starts_at=start, ends_at=start + dt.timedelta(hours=hours),
    )


def suspend(facility, *, cause=SuspensionCause.QUALITY_RISK):
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    return services.suspension_report(actor=admin, facility=facility, cause=cause, description="CT 设备故障，暂停服务")


def apply_for_accreditation(facility, conditions=None):
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    items = [
        services.AccreditationItemInput(condition=c, statement=f"{c.label} 情况说明", evidence=pdf(f"{c.value}.pdf"))
        for c in (conditions or list(AccreditationCondition))
    ]
    return services.accreditation_apply(actor=admin, facility=facility, items=items)


def agreement_form(inviting, invited, **overrides) -> dict:
    data = {
        "number": "JLYC-API-0001",
        "inviting": inviting.pk,
        "invited": invited.pk,
        "service_types": ["consultation", "imaging"],
        "valid_from": timezone.localdate().isoformat(),
        "valid_until": (timezone.localdate() + dt.timedelta(days=365)).isoformat(),
        "purpose": "提升基层诊疗能力",
        "conditions": "双方均已通过远程医疗评估验收",
        "process": "邀请方提交申请，受邀方受理并出具意见",
        "rights_obligations": "邀请方负责上传资料，受邀方负责出具意见",
        "liability_sharing": "按第二十八、二十九条分担",
        "inviting_fee_share": 2,
        "invited_fee_share": 8,
        "signed_copy": pdf("agreement.pdf"),
    }
    data.update(overrides)
    return data


def physician_form(facility, **overrides) -> dict:
    data = {
        "facility": facility.pk,
        "name": "张明",
        "qualification_number": "Q20050700001",
        "qualification_obtained_on": "2005-07-01",
        "certificate_number": "C11022000001",
        "certificate_valid_until": None,
        "title": Title.ASSOCIATE_CHIEF_PHYSICIAN,
        "scopes": ["internal", "imaging"],
        "registered_on": "2015-01-01",
        "is_primary": True,
    }
    data.update(overrides)
    return data


# --- Scoping: out of scope is 404 (STYLE 3, JL-O1) --------------------------------------------


def test_scope_partner_of_facility_a_gets_404_on_facility_b_objects(db):
    """A partner system sees its own facility's rows; another facility's are 404, never 403."""
    facility_a, facility_b = FacilityFactory(), jilin_city_facility()
    client = partner(facility_a)
    agreement_b = AgreementFactory(invited=facility_b)
    physician_b = RegistrationFactory(facility=facility_b).physician
    shift_b = duty_shift(facility_b, physician=physician_b)
    for url in (
        f"{API}/facilities/{facility_b.pk}/",
        f"{API}/agreements/{agreement_b.pk}/",
        f"{API}/physicians/{physician_b.pk}/",
        f"{API}/duty/{shift_b.pk}/",
    ):
        assert_error(client.get(url), 404, "not_found")

    assert client.get(f"{API}/facilities/{facility_a.pk}/").status_code == 200
    assert [f["id"] for f in rows(client.get(f"{API}/facilities/"))] == [facility_a.pk]
    assert rows(client.get(f"{API}/agreements/")) == []
    assert rows(client.get(f"{API}/physicians/")) == []
    assert rows(client.get(f"{API}/duty/")) == []


def test_scope_partner_sees_the_counterpart_of_its_own_agreement(db):
    facility_a, facility_b = FacilityFactory(), jilin_city_facility()
    AgreementFactory(inviting=facility_a, invited=facility_b)
    response = partner(facility_a).get(f"{API}/facilities/{facility_b.pk}/")
    assert response.status_code == 200
    assert response.json()["name"] == facility_b.name


def test_jl_o1_city_regulator_does_not_see_another_citys_facility(db):
    """JL-O1 (art. 6, 7, 48): 吉林市 (220200) does not see 长春市南关区; the province and 长春市 do."""
    changchun = FacilityFactory()  # 220102 南关区
    jilin_city = jilin_city_facility()
    url = f"{API}/facilities/{changchun.pk}/"

    city_220200 = token_client(regulator("220200"))
    assert_error(city_220200.get(url), 404, "not_found")
    assert [f["id"] for f in rows(city_220200.get(f"{API}/facilities/"))] == [jilin_city.pk]

    assert token_client(regulator("220000")).get(url).status_code == 200
    assert token_client(regulator("220100")).get(url).status_code == 200
    assert token_client(regulator("220102")).get(url).status_code == 200
    province_rows = rows(token_client(regulator("220000")).get(f"{API}/facilities/"))
    assert {f["id"] for f in province_rows} == {changchun.pk, jilin_city.pk}


def test_jl_o1_regulator_sees_suspensions_and_physicians_only_in_its_division(db):
    changchun = FacilityFactory()
    suspension = suspend(changchun)
    physician = RegistrationFactory(facility=changchun).physician
    city_220200 = token_client(regulator("220200"))
    assert_error(city_220200.get(f"{API}/suspensions/{suspension.pk}/"), 404, "not_found")
    assert_error(city_220200.get(f"{API}/physicians/{physician.pk}/"), 404, "not_found")
    city_220100 = token_client(regulator("220100"))
    assert city_220100.get(f"{API}/suspensions/{suspension.pk}/").status_code == 200
    assert city_220100.get(f"{API}/physicians/{physician.pk}/").status_code == 200


def test_anonymous_and_bad_token_get_401_not_authenticated(db):
    facility = FacilityFactory()
    assert_error(token_client().get(f"{API}/facilities/{facility.pk}/"), 401, "not_authenticated")
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert_error(client.get(f"{API}/facilities/"), 401, "not_authenticated")


# --- Facilities (JL-F1, JL-F5) ----------------------------------------------------------------


def test_jl_f1_jl_f5_facility_shows_participation_checks(db):
    facility = FacilityFactory(accreditation_status=AccreditationStatus.PENDING)
    suspend(facility)
    body = partner(facility).get(f"{API}/facilities/{facility.pk}/").json()
    assert body["is_suspended"] is True
    checks = {c["rule"]: c for c in body["participation"]}
    assert set(checks) == {"JL-F1", "JL-F5"}
    assert checks["JL-F1"]["passed"] is False and "待审核" in checks["JL-F1"]["detail"]
    assert checks["JL-F5"]["passed"] is False
    assert checks["JL-F1"]["article"] == "第十条、第十三条"
    assert set(checks["JL-F1"]) == {"rule", "article", "label", "passed", "detail", "text"}


def test_jl_o1_facility_filters_by_division_prefix_level_accreditation_and_name(db):
    nanguan = FacilityFactory(name="南关区医院")
    nongan = FacilityFactory(name="农安县医院", division=division("220122"), level=FacilityLevel.LEVEL_2)
    jilin_city = jilin_city_facility(name="吉林市中心医院", accreditation_status=AccreditationStatus.NONE)
    client = token_client(regulator("220000"))

    def ids(query: str) -> set[int]:
        return {f["id"] for f in rows(client.get(f"{API}/facilities/?{query}"))}

    assert ids("division=220100") == {nanguan.pk, nongan.pk}
    assert ids("division=220122") == {nongan.pk}
    assert ids("division=220000") == {nanguan.pk, nongan.pk, jilin_city.pk}
    assert ids("level=2") == {nongan.pk}
    assert ids("accreditation_status=none") == {jilin_city.pk}
    assert ids("search=南关") == {nanguan.pk}
    assert_error(client.get(f"{API}/facilities/?division=22"), 400, "invalid")


# --- Cooperation agreements (JL-F2, JL-F3) ----------------------------------------------------


def test_jl_f2_agreement_with_a_level_1_invited_facility_is_refused(db):
    inviting = FacilityFactory(level=FacilityLevel.LEVEL_2, division=division("220122"))
    invited = FacilityFactory(level=FacilityLevel.LEVEL_1)
    admin = staff(inviting, StaffRole.FACILITY_ADMIN)
    response = token_client(admin).post(f"{API}/agreements/", agreement_form(inviting, invited), format="multipart")
    body = assert_error(response, 400, "JL-F2")
    assert "JL-F2 第十二条: 受邀方须为二级以上医疗机构（现为一级）" in body["message"]
    failing = [r for r in body["extra"]["reasons"] if not r["passed"]]
    assert [r["rule"] for r in failing] == ["JL-F2"]
    assert failing[0]["label"] == "受邀方须为二级以上医疗机构"
    assert not CooperationAgreement.objects.exists()
    assert audit_count("facility.agreement.register") == 0


def test_jl_f3_agreement_refusal_lists_every_failing_term_at_once(db):
    inviting, invited = FacilityFactory(level=FacilityLevel.LEVEL_2, division=division("220122")), FacilityFactory()
    admin = staff(inviting, StaffRole.FACILITY_ADMIN)
    form = agreement_form(inviting, invited, purpose="", liability_sharing="", invited_fee_share=0, inviting_fee_share=0)
    body = assert_error(token_client(admin).post(f"{API}/agreements/", form, format="multipart"), 400, "JL-F3")
    assert [r["rule"] for r in body["extra"]["reasons"]] == ["JL-F3", "JL-B3"]
    assert "合作目的" in body["message"] and "医疗损害风险和责任分担" in body["message"]


class TestJlF3AgreementRegister(EndpointAccessCases):
    """JL-F3 (art. 15): an administrator of either party registers the agreement (multipart).

    The counterpart need not be visible yet, so "wrong facility" here is an administrator of a
    third facility naming two others: a 403, not a 404.
    """

    event_type = "facility.agreement.register"
    success_status = 201
    wrong_facility_status = 403
    wrong_facility_code = "permission_denied"

    def arrange(self) -> Access:
        inviting = FacilityFactory(level=FacilityLevel.LEVEL_2, division=division("220122"))
        invited = jilin_city_facility()

        def check(response):
            body = response.json()
            assert body["inviting"] == {"id": inviting.pk, "name": inviting.name}
            assert body["service_types"] == ["consultation", "imaging"]
            assert len(body["signed_copy_sha256"]) == 64
            assert "signed_copy" not in body

        return Access(
            call=Call("POST", f"{API}/agreements/", lambda: agreement_form(inviting, invited), format="multipart"),
            right=staff(invited, StaffRole.FACILITY_ADMIN),
            wrong_facility=staff(FacilityFactory(), StaffRole.FACILITY_ADMIN),
            wrong_role=staff(inviting, StaffRole.COORDINATOR),
            check=check,
        )


class TestJlF3AgreementTerminate(EndpointAccessCases):
    """JL-F3 (art. 15): either party's administrator terminates, with a reason."""

    event_type = "facility.agreement.terminate"

    def arrange(self) -> Access:
        agreement = AgreementFactory()

        def check(response):
            assert response.json()["status"] == "terminated"
            assert response.json()["termination_reason"] == "合作期满不再续签"

        return Access(
            call=Call("POST", f"{API}/agreements/{agreement.pk}/terminate/", {"reason": "合作期满不再续签"}),
            right=staff(agreement.inviting, StaffRole.FACILITY_ADMIN),
            wrong_facility=staff(jilin_city_facility(), StaffRole.FACILITY_ADMIN),
            wrong_role=staff(agreement.invited, StaffRole.PARTNER_SYSTEM),
            check=check,
        )


def test_jl_f3_terminating_without_a_reason_is_refused(db):
    agreement = AgreementFactory()
    admin = staff(agreement.invited, StaffRole.FACILITY_ADMIN)
    body = assert_error(token_client(admin).post(f"{API}/agreements/{agreement.pk}/terminate/", {}), 400, "JL-F3")
    assert "终止协议须写明原因" in body["message"]


def test_jl_f3_agreements_filter_by_facility_and_status(db):
    facility = FacilityFactory()
    mine = AgreementFactory(invited=facility)
    other = AgreementFactory(inviting=facility, invited=jilin_city_facility())
    services.agreement_terminate(actor=staff(facility, StaffRole.FACILITY_ADMIN), agreement=other, reason="到期")
    client = partner(facility)
    assert {a["id"] for a in rows(client.get(f"{API}/agreements/?facility={facility.pk}"))} == {mine.pk, other.pk}
    assert [a["id"] for a in rows(client.get(f"{API}/agreements/?status=active"))] == [mine.pk]


# --- Physicians (JL-P1..P6) -------------------------------------------------------------------


def test_jl_p2_clinician_cannot_register_a_physician_but_facility_admin_can(db):
    facility = FacilityFactory()
    clinician = staff(facility, StaffRole.CLINICIAN)
    response = token_client(clinician).post(f"{API}/physicians/", physician_form(facility), format="json")
    assert_error(response, 403, "permission_denied")
    assert not Physician.objects.exists()
    assert audit_count("physician.register") == 0

    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    response = token_client(admin).post(f"{API}/physicians/", physician_form(facility), format="json")
    assert response.status_code == 201, response.data
    body = response.json()
    assert body["name"] == "张明" and body["title_label"] == "副主任医师"
    assert [(r["facility"], r["verified"], r["authorised"]) for r in body["registrations"]] == [(facility.pk, False, False)]
    assert audit_count("physician.register") == 1


class TestJlP2PhysicianRegister(EndpointAccessCases):
    """JL-P2 (art. 14.2): a facility administrator records a practice registration at their facility.

    A facility outside the user's scope in the body is refused like a missing one (404 not_found, issue 14), so a
    request body cannot probe for facilities.
    """

    event_type = "physician.register"
    success_status = 201
    wrong_facility_status = 404
    wrong_facility_code = "not_found"

    def arrange(self) -> Access:
        facility = FacilityFactory()
        return Access(
            call=Call("POST", f"{API}/physicians/", physician_form(facility)),
            right=staff(facility, StaffRole.FACILITY_ADMIN),
            wrong_facility=staff(jilin_city_facility(), StaffRole.FACILITY_ADMIN),
            wrong_role=staff(facility, StaffRole.CLINICIAN),
        )


def test_jl_p1_certificate_number_of_another_physician_is_refused(db):
    facility = FacilityFactory()
    existing = RegistrationFactory(facility=facility).physician
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    other = FacilityFactory()
    staff(other, StaffRole.FACILITY_ADMIN, username=admin.username)  # same admin at a second facility
    form = physician_form(other, certificate_number=existing.certificate_number)
    assert_error(token_client(admin).post(f"{API}/physicians/", form, format="json"), 400, "JL-P1")


def test_jl_p1_jl_p4_qualification_returns_every_failing_check_at_once(db):
    """A 主治医师 (JL-P4) with an expired certificate (JL-P1): both reasons in one answer."""
    facility = FacilityFactory()
    physician = PhysicianFactory(
        title=Title.ATTENDING_PHYSICIAN, certificate_valid_until=timezone.localdate() - dt.timedelta(days=1)
    )
    RegistrationFactory(physician=physician, facility=facility)
    client = partner(facility)
    url = f"{API}/physicians/{physician.pk}/qualification/"

    body = client.get(url, {"facility": facility.pk, "role": "expert", "scope": "internal"}).json()
    assert body["qualified"] is False
    assert body["failing_rules"] == ["JL-P1", "JL-P4"]
    assert [c["rule"] for c in body["checks"]] == ["JL-P1", "JL-P2", "JL-P3", "JL-P4", "JL-P5", "JL-P6"]
    failing = {c["rule"]: c for c in body["checks"] if not c["passed"]}
    assert "执业证书有效期至" in failing["JL-P1"]["detail"]
    assert failing["JL-P4"]["detail"] == "现为主治医师"
    assert failing["JL-P4"]["text"].startswith("JL-P4 第十四条第四项:")

    attending = client.get(url, {"facility": facility.pk, "role": "attending"}).json()
    assert attending["failing_rules"] == ["JL-P1"]
    assert [c["rule"] for c in attending["checks"]] == ["JL-P1", "JL-P2", "JL-P3", "JL-P6"]


def test_jl_p2_jl_p6_qualification_at_a_facility_without_registration(db):
    home, counterpart = FacilityFactory(), jilin_city_facility()
    AgreementFactory(inviting=home, invited=counterpart)
    physician = RegistrationFactory(facility=home).physician
    body = partner(home).get(
        f"{API}/physicians/{physician.pk}/qualification/", {"facility": counterpart.pk, "role": "attending"}
    ).json()
    assert body["failing_rules"] == ["JL-P2", "JL-P3", "JL-P6"]


def test_jl_p5_qualification_for_an_expert_needs_a_scope(db):
    facility = FacilityFactory()
    physician = RegistrationFactory(facility=facility).physician
    response = partner(facility).get(f"{API}/physicians/{physician.pk}/qualification/", {"facility": facility.pk, "role": "expert"})
    body = assert_error(response, 400, "invalid")
    assert "scope" in body["extra"]["fields"]


def test_jl_p2_physician_shows_only_registrations_in_scope_and_no_certificate_numbers(db):
    home, elsewhere = FacilityFactory(), jilin_city_facility()
    physician = RegistrationFactory(facility=home).physician
    RegistrationFactory(physician=physician, facility=elsewhere, is_primary=False)
    body = partner(home).get(f"{API}/physicians/{physician.pk}/").json()
    assert [r["facility"] for r in body["registrations"]] == [home.pk]
    assert set(body) == {"id", "name", "title", "title_label", "scopes", "scope_labels", "platform_registered", "registrations",
                         "updated_at"}  # issue 14: the sync stamp (additive)
    assert physician.certificate_number not in str(body)
    # The province sees both registrations.
    province = token_client(regulator("220000")).get(f"{API}/physicians/{physician.pk}/").json()
    assert {r["facility"] for r in province["registrations"]} == {home.pk, elsewhere.pk}


def test_jl_p5_physicians_filter_by_facility_title_and_scope(db):
    facility = FacilityFactory()
    surgeon = RegistrationFactory(facility=facility, physician__scopes=["surgery"]).physician
    attending = RegistrationFactory(facility=facility, physician__title=Title.ATTENDING_PHYSICIAN).physician
    client = token_client(regulator("220000"))

    def ids(query: str) -> set[int]:
        return {p["id"] for p in rows(client.get(f"{API}/physicians/?{query}"))}

    assert ids(f"facility={facility.pk}") == {surgeon.pk, attending.pk}
    assert ids("scope=surgery") == {surgeon.pk}
    assert ids(f"title={Title.ATTENDING_PHYSICIAN.value}") == {attending.pk}
    assert ids(f"search={surgeon.certificate_number}") == {surgeon.pk}


class TestJlP3RegistrationVerify(EndpointAccessCases):
    """JL-P3 (art. 14.3): the physician's facility verifies the platform registration."""

    event_type = "physician.registration.verify"

    def arrange(self) -> Access:
        registration = RegistrationFactory(verified_at=None)

        def check(response):
            assert response.json()["verified"] is True

        return Access(
            call=Call("POST", f"{API}/registrations/{registration.pk}/verify/"),
            right=staff(registration.facility, StaffRole.FACILITY_ADMIN),
            wrong_facility=staff(jilin_city_facility(), StaffRole.FACILITY_ADMIN),
            wrong_role=staff(registration.facility, StaffRole.COORDINATOR),
            check=check,
        )


class TestJlP6RegistrationAuthorise(EndpointAccessCases):
    """JL-P6 (art. 30): only the facility's administrator authorises a physician to act for it."""

    event_type = "physician.authorisation.grant"

    def arrange(self) -> Access:
        registration = RegistrationFactory(authorised_at=None)

        def check(response):
            assert response.json()["authorised"] is True

        return Access(
            call=Call("POST", f"{API}/registrations/{registration.pk}/authorise/"),
            right=staff(registration.facility, StaffRole.FACILITY_ADMIN),
            wrong_facility=staff(jilin_city_facility(), StaffRole.FACILITY_ADMIN),
            wrong_role=staff(registration.facility, StaffRole.PARTNER_SYSTEM),
            check=check,
        )


def test_jl_p6_revoked_authorisation_fails_the_qualification(db):
    registration = RegistrationFactory()
    admin = staff(registration.facility, StaffRole.FACILITY_ADMIN)
    client = token_client(admin)
    response = client.post(f"{API}/registrations/{registration.pk}/revoke/")
    assert response.status_code == 200 and response.json()["authorised"] is False
    assert audit_count("physician.authorisation.revoke") == 1
    body = client.get(
        f"{API}/physicians/{registration.physician_id}/qualification/",
        {"facility": registration.facility_id, "role": "attending"},
    ).json()
    assert body["failing_rules"] == ["JL-P6"]


# --- Duty roster (JL-F4) ----------------------------------------------------------------------


class TestJlF4DutyShiftAdd(EndpointAccessCases):
    """JL-F4 (art. 24): the coordinator or administrator keeps the duty roster."""

    event_type = "facility.duty.add"
    success_status = 201
    wrong_facility_status = 404
    wrong_facility_code = "not_found"

    def arrange(self) -> Access:
        facility = FacilityFactory()
        physician = RegistrationFactory(facility=facility).physician
        start = timezone.now().replace(microsecond=0)
        form = {
            "facility": facility.pk,
            "physician": physician.pk,
            "scope": "imaging",
            "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(hours=12)).isoformat(),
        }
        return Access(
            call=Call("POST", f"{API}/duty/", form),
            right=staff(facility, StaffRole.COORDINATOR),
            wrong_facility=staff(jilin_city_facility(), StaffRole.COORDINATOR),
            wrong_role=staff(facility, StaffRole.CLINICIAN),
        )


def test_jl_p2_duty_for_a_physician_not_registered_here_is_refused(db):
    """A coordinator of two facilities cannot put one facility's physician on the other's roster."""
    facility, other = FacilityFactory(), jilin_city_facility()
    coordinator = staff(facility, StaffRole.COORDINATOR)
    staff(other, StaffRole.COORDINATOR, username=coordinator.username)
    outsider = RegistrationFactory(facility=other).physician
    start = timezone.now()
    form = {
        "facility": facility.pk, "physician": outsider.pk, "scope": "internal",
        "starts_at": start.isoformat(), "ends_at": (start + dt.timedelta(hours=8)).isoformat(),
    }
    body = assert_error(token_client(coordinator).post(f"{API}/duty/", form, format="json"), 400, "JL-P2")
    assert "未在本机构注册执业" in body["message"]


def test_jl_p2_duty_for_a_physician_out_of_scope_is_not_found(db):
    """JL-O1, issue 14: a physician out of scope in the body is what a missing one is: 404 naming the field."""
    facility = FacilityFactory()
    outsider = RegistrationFactory(facility=jilin_city_facility()).physician
    start = timezone.now()
    form = {
        "facility": facility.pk, "physician": outsider.pk, "scope": "internal",
        "starts_at": start.isoformat(), "ends_at": (start + dt.timedelta(hours=8)).isoformat(),
    }
    body = assert_error(token_client(staff(facility, StaffRole.COORDINATOR)).post(f"{API}/duty/", form, format="json"), 404, "not_found")
    assert "physician" in body["extra"]["fields"]


def test_jl_f4_duty_filters_by_facility_and_time_window(db):
    facility = FacilityFactory()
    monday = timezone.now().replace(microsecond=0) + dt.timedelta(days=7)
    early = duty_shift(facility, start=monday)
    late = duty_shift(facility, start=monday + dt.timedelta(hours=8))
    client = partner(facility)

    def ids(params: dict) -> list[int]:
        return [d["id"] for d in rows(client.get(f"{API}/duty/", params))]

    assert ids({"facility": facility.pk}) == [early.pk, late.pk]
    window = {"from": (monday + dt.timedelta(hours=9)).isoformat(), "to": (monday + dt.timedelta(hours=10)).isoformat()}
    assert ids(window) == [late.pk]
    assert ids({"to": (monday + dt.timedelta(hours=1)).isoformat()}) == [early.pk]


# --- Suspension (JL-F5) -----------------------------------------------------------------------


def test_jl_f5_suspension_lift_by_the_wrong_regulator_is_refused(db):
    """JL-F5 (art. 34): only the regulator that issued the licence (长春市 220100) lifts it."""
    facility = FacilityFactory()  # licence issued by 220100
    suspension = suspend(facility)
    url = f"{API}/suspensions/{suspension.pk}/lift/"

    for wrong in ("220000", "220102"):  # the province and the district both see it, neither issued the licence
        body = assert_error(token_client(regulator(wrong)).post(url, {"reason": "整改完成"}), 403, "JL-F5")
        assert "只有核发执业许可证的卫生健康行政部门可以解除暂停" in body["message"]
        assert [r["rule"] for r in body["extra"]["reasons"]] == ["JL-F5"]
    # Both refusals are on record as failures; nothing was lifted.
    assert list(AuditEvent.objects.filter(event_type="facility.suspension.lift").values_list("outcome", flat=True)) == [
        "failure", "failure"]

    response = token_client(regulator("220100")).post(url, {"reason": "整改完成，经现场核查"})
    assert response.status_code == 200, response.data
    assert response.json()["is_open"] is False
    assert AuditEvent.objects.filter(event_type="facility.suspension.lift", outcome="success").count() == 1


class TestJlF5SuspensionLift(EndpointAccessCases):
    """JL-F5 (art. 34): lifting is a regulator's act; a facility's own staff cannot lift it."""

    event_type = "facility.suspension.lift"

    def arrange(self) -> Access:
        facility = FacilityFactory()
        suspension = suspend(facility)
        return Access(
            call=Call("POST", f"{API}/suspensions/{suspension.pk}/lift/", {"reason": "整改完成"}),
            right=regulator("220100"),
            wrong_facility=regulator("220200"),
            wrong_role=staff(facility, StaffRole.FACILITY_ADMIN),
        )


class TestJlF5SuspensionReport(EndpointAccessCases):
    """JL-F5 (art. 34): the facility stops at once and reports to its licensing regulator."""

    event_type = "facility.suspension.report"
    success_status = 201
    wrong_facility_status = 404
    wrong_facility_code = "not_found"

    def arrange(self) -> Access:
        facility = FacilityFactory()

        def check(response):
            body = response.json()
            assert body["issuing_division"] == "220100" and body["is_open"] is True

        return Access(
            call=Call("POST", f"{API}/suspensions/", {"facility": facility.pk, "cause": "quality_risk", "description": "设备故障"}),
            right=staff(facility, StaffRole.COORDINATOR),
            wrong_facility=staff(jilin_city_facility(), StaffRole.FACILITY_ADMIN),
            wrong_role=staff(facility, StaffRole.CLINICIAN),
            check=check,
        )


def test_jl_f5_a_second_open_suspension_is_refused(db):
    facility = FacilityFactory()
    suspend(facility)
    client = token_client(regulator("220100"))
    body = assert_error(
        client.post(f"{API}/suspensions/", {"facility": facility.pk, "cause": "quality_risk", "description": "再次暂停"}),
        400,
        "JL-F5",
    )
    assert "已处于暂停状态" in body["message"]


# --- Accreditation (JL-F1) --------------------------------------------------------------------


class TestJlF1AccreditationDecide(EndpointAccessCases):
    """JL-F1 (art. 10): only the provincial health commission decides an application."""

    event_type = "facility.accreditation.decide"

    def arrange(self) -> Access:
        facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
        application = apply_for_accreditation(facility)

        def check(response):
            assert response.json()["status"] == "approved"
            facility.refresh_from_db()
            assert facility.accreditation_status == AccreditationStatus.APPROVED

        return Access(
            call=Call("POST", f"{API}/accreditation-applications/{application.pk}/decide/", {"approve": True}),
            right=regulator("220000"),
            wrong_role=regulator("220100"),
            check=check,
        )


def test_jl_f1_rejection_without_a_reason_is_refused(db):
    application = apply_for_accreditation(FacilityFactory(accreditation_status=AccreditationStatus.NONE))
    client = token_client(regulator("220000"))
    url = f"{API}/accreditation-applications/{application.pk}/decide/"
    body = assert_error(client.post(url, {"approve": False}), 400, "JL-F1")
    assert "不予通过须写明理由" in body["message"]
    assert client.post(url, {"approve": False, "reason": "网络专线未接通"}).json()["status"] == "rejected"


def test_jl_f1_application_missing_conditions_lists_every_one(db):
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    client = token_client(staff(facility, StaffRole.FACILITY_ADMIN))
    first_two = list(AccreditationCondition)[:2]
    form = {"facility": facility.pk}
    for condition in first_two:
        form[f"{condition.value}_statement"] = "已具备"
        form[f"{condition.value}_evidence"] = pdf(f"{condition.value}.pdf")
    body = assert_error(client.post(f"{API}/accreditation-applications/", form, format="multipart"), 400, "JL-F1")
    failing = [r for r in body["extra"]["reasons"] if not r["passed"]]
    assert len(failing) == 5

    for condition in list(AccreditationCondition)[2:]:
        form[f"{condition.value}_statement"] = "已具备"
        form[f"{condition.value}_evidence"] = pdf(f"{condition.value}.pdf")
    for condition in first_two:
        form[f"{condition.value}_evidence"] = pdf(f"{condition.value}.pdf")
    response = client.post(f"{API}/accreditation-applications/", form, format="multipart")
    assert response.status_code == 201, response.data
    assert len(response.json()["items"]) == 7
    assert audit_count("facility.accreditation.apply") == 1


# --- Query counts: lists do not grow with rows (STYLE 7) --------------------------------------
# Every list: token (1), Scope.of (2: staff roles, regulator divisions), page count (1), rows (1),
# plus one per prefetch (agreement service types, physician registrations, application items).


def test_facility_list_queries_do_not_grow(db, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            suspend(FacilityFactory())

    client = token_client(regulator("220100"))
    assert_list_queries_constant(client, f"{API}/facilities/", add_rows=add, assert_max_num_queries=django_assert_max_num_queries, max_queries=5)


def test_agreement_list_queries_do_not_grow(db, django_assert_max_num_queries):
    facility = FacilityFactory()
    client = partner(facility)

    def add(n):
        for _ in range(n):
            AgreementFactory(inviting=facility)

    assert_list_queries_constant(client, f"{API}/agreements/", add_rows=add, assert_max_num_queries=django_assert_max_num_queries, max_queries=6)


def test_physician_list_queries_do_not_grow(db, django_assert_max_num_queries):
    facility, other = FacilityFactory(), FacilityFactory()
    client = partner(facility)

    def add(n):
        for _ in range(n):
            registration = RegistrationFactory(facility=facility)
            RegistrationFactory(physician=registration.physician, facility=other, is_primary=False)

    assert_list_queries_constant(client, f"{API}/physicians/", add_rows=add, assert_max_num_queries=django_assert_max_num_queries, max_queries=6)


def test_duty_list_queries_do_not_grow(db, django_assert_max_num_queries):
    facility = FacilityFactory()
    client = partner(facility)
    physician = RegistrationFactory(facility=facility).physician
    start = timezone.now()

    def add(n):
        for i in range(n):
            duty_shift(facility, physician=physician, start=start + dt.timedelta(hours=8 * (DutyShift.objects.count() + i)))

    assert_list_queries_constant(client, f"{API}/duty/", add_rows=add, assert_max_num_queries=django_assert_max_num_queries, max_queries=5)


def test_suspension_list_queries_do_not_grow(db, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            suspend(FacilityFactory())

    client = token_client(regulator("220000"))
    assert_list_queries_constant(client, f"{API}/suspensions/", add_rows=add, assert_max_num_queries=django_assert_max_num_queries, max_queries=5)


def test_application_list_queries_do_not_grow(db, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            apply_for_accreditation(FacilityFactory(accreditation_status=AccreditationStatus.NONE))

    client = token_client(regulator("220000"))
    assert_list_queries_constant(
        client, f"{API}/accreditation-applications/", add_rows=add, assert_max_num_queries=django_assert_max_num_queries, max_queries=6
    )


# --- Schema -----------------------------------------------------------------------------------


def test_openapi_schema_generates(db):
    response = token_client(UserFactory()).get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/v1/facilities/", "/api/v1/physicians/{id}/qualification/", "/api/v1/suspensions/{id}/lift/"):
        assert path in text
