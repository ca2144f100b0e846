"""The facilities and physicians rulebook, tested as pure functions: no database, frozen dates."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from facilities import rules
from facilities.choices import AccreditationCondition, AccreditationStatus, ActingRole, Title
from facilities.models import Facility, Physician, PracticeRegistration

TODAY = dt.date(2026, 11, 24)
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def facility(**overrides) -> Facility:
    values = {"division_id": "220104", "level": 3, "licence_expires_on": dt.date(2028, 1, 1)}
    values.update(overrides)
    return Facility(**values)


def physician(**overrides) -> Physician:
    values = {
        "qualification_number": "Q1",
        "certificate_number": "C1",
        "certificate_valid_until": None,
        "certificate_revoked": False,
        "title": Title.ASSOCIATE_CHIEF_PHYSICIAN,
        "scopes": ["internal", "imaging"],
        "platform_registered_at": NOW,
    }
    values.update(overrides)
    return Physician(**values)


def registration(**overrides) -> PracticeRegistration:
    values = {"registered_on": dt.date(2015, 1, 1), "valid_until": None, "verified_at": NOW, "authorised_at": NOW}
    values.update(overrides)
    return PracticeRegistration(**values)


def failed_rules(checks) -> list[str]:
    return [c.rule for c in checks if not c.passed]


# --- JL-F1 / JL-F5 -----------------------------------------------------------------------------


def test_jl_f1_only_an_approved_accreditation_takes_part():
    for status in AccreditationStatus:
        checks = rules.participation_checks(accreditation_status=status, suspended=False)
        assert failed_rules(checks) == ([] if status == AccreditationStatus.APPROVED else ["JL-F1"])


def test_jl_f1_application_needs_all_seven_conditions_of_article_13():
    all_codes = [c.value for c in AccreditationCondition]
    assert len(all_codes) == 7
    assert failed_rules(rules.accreditation_completeness(all_codes)) == []
    missing_two = rules.accreditation_completeness(all_codes[2:])
    assert failed_rules(missing_two) == ["JL-F1", "JL-F1"]
    assert [c.label for c in missing_two if not c.passed] == [
        str(AccreditationCondition.LICENCE.label),
        str(AccreditationCondition.TECH_REVIEW.label),
    ]


def test_jl_f5_a_suspended_facility_does_not_take_part():
    checks = rules.participation_checks(accreditation_status=AccreditationStatus.APPROVED, suspended=True)
    assert failed_rules(checks) == ["JL-F5"]
    assert "第三十四条" in checks[1].text


def test_jl_f5_only_the_licensing_regulator_lifts_a_suspension():
    assert rules.suspension_lift_check(issuing_division_code="220100", regulator_division_codes=["220100"]).passed
    refused = rules.suspension_lift_check(issuing_division_code="220100", regulator_division_codes=["220000"])
    assert not refused.passed and refused.rule == "JL-F5"
    assert not rules.suspension_lift_check(issuing_division_code="220100", regulator_division_codes=[]).passed


# --- JL-F2 ---------------------------------------------------------------------------------------


def test_jl_f2_invited_facility_qualifies():
    checks = rules.invited_facility_checks(invited=facility(), inviting=facility(division_id="220122"), has_agreement=False, on=TODAY)
    assert failed_rules(checks) == []


@pytest.mark.parametrize("level, ok", [(1, False), (2, True), (3, True)])
def test_jl_f2_invited_facility_must_be_level_two_or_three(level, ok):
    checks = rules.invited_facility_checks(invited=facility(level=level), inviting=facility(), has_agreement=True, on=TODAY)
    assert (failed_rules(checks) == []) is ok
    if not ok:
        assert "二级以上" in next(c.text for c in checks if not c.passed)


def test_jl_f2_licence_valid_through_its_expiry_day():
    invited = facility(licence_expires_on=TODAY)
    assert failed_rules(rules.invited_facility_checks(invited=invited, inviting=facility(), has_agreement=True, on=TODAY)) == []
    next_day = TODAY + dt.timedelta(days=1)
    expired = rules.invited_facility_checks(invited=invited, inviting=facility(), has_agreement=True, on=next_day)
    assert failed_rules(expired) == ["JL-F2"]
    assert "许可证" in expired[0].text


def test_jl_f2_out_of_province_invited_facility_needs_an_agreement_with_a_jilin_inviter():
    beijing = facility(division_id="110000")
    jilin_county = facility(division_id="220122")
    assert failed_rules(rules.invited_facility_checks(invited=beijing, inviting=jilin_county, has_agreement=True, on=TODAY)) == []
    assert failed_rules(rules.invited_facility_checks(invited=beijing, inviting=jilin_county, has_agreement=False, on=TODAY)) == ["JL-F2"]
    liaoning = facility(division_id="210000")
    assert failed_rules(rules.invited_facility_checks(invited=beijing, inviting=liaoning, has_agreement=True, on=TODAY)) == ["JL-F2"]


def test_jl_f2_reports_every_failing_reason_at_once():
    bad = facility(division_id="110000", level=1, licence_expires_on=TODAY - dt.timedelta(days=1))
    checks = rules.invited_facility_checks(invited=bad, inviting=facility(), has_agreement=False, on=TODAY)
    assert failed_rules(checks) == ["JL-F2", "JL-F2", "JL-F2"]


# --- JL-F3 ---------------------------------------------------------------------------------------


def agreement(**overrides) -> dict:
    values = {
        "status": "active",
        "valid_from": dt.date(2026, 1, 1),
        "valid_until": dt.date(2026, 12, 31),
        "service_codes": ["consultation", "imaging"],
    }
    values.update(overrides)
    return values


def test_jl_f3_service_needs_an_agreement():
    checks = rules.agreement_checks([], service_code="consultation", on=TODAY)
    assert failed_rules(checks) == ["JL-F3"]
    assert "未签署" in checks[0].text


@pytest.mark.parametrize(
    "day, ok",
    [(dt.date(2026, 1, 1), True), (dt.date(2026, 12, 31), True), (dt.date(2025, 12, 31), False), (dt.date(2027, 1, 1), False)],
)
def test_jl_f3_agreement_in_force_on_the_day_inclusive(day, ok):
    assert (failed_rules(rules.agreement_checks([agreement()], service_code="imaging", on=day)) == []) is ok


def test_jl_f3_agreement_must_cover_the_service_type():
    checks = rules.agreement_checks([agreement()], service_code="pathology", on=TODAY)
    assert failed_rules(checks) == ["JL-F3"] and "未包含" in checks[0].text


def test_jl_f3_terminated_agreement_does_not_count_but_another_active_one_does():
    terminated = agreement(status="terminated")
    assert failed_rules(rules.agreement_checks([terminated], service_code="imaging", on=TODAY)) == ["JL-F3"]
    assert failed_rules(rules.agreement_checks([terminated, agreement()], service_code="imaging", on=TODAY)) == []


def test_jl_f3_agreement_terms_must_be_complete():
    texts = {"合作目的": "x", "合作条件": "", "远程医疗流程": "x", "双方权利义务": "  ", "医疗损害风险和责任分担": "x"}
    checks = rules.agreement_terms_checks(
        inviting_id=1, invited_id=1, valid_from=TODAY, valid_until=TODAY - dt.timedelta(days=1),
        inviting_share=0, invited_share=0, service_codes=[], texts=texts,
    )
    assert failed_rules(checks) == ["JL-F3", "JL-F3", "JL-F3", "JL-F3", "JL-B3"]
    assert "合作条件、双方权利义务" in checks[3].text


# --- JL-F4 ---------------------------------------------------------------------------------------


def shift(start_hour, end_hour, scope="imaging", qualified=True):
    base = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    return SimpleNamespace(
        starts_at=base + dt.timedelta(hours=start_hour), ends_at=base + dt.timedelta(hours=end_hour), scope=scope, qualified=qualified
    )


def test_jl_f4_a_qualified_person_of_that_speciality_must_be_on_duty():
    roster = [shift(0, 8), shift(8, 20)]
    at = dt.datetime(2026, 11, 24, 19, 59, tzinfo=dt.UTC)
    assert rules.duty_coverage(roster, at=at, scope="imaging").passed
    gap = rules.duty_coverage(roster, at=at + dt.timedelta(minutes=1), scope="imaging")
    assert not gap.passed and gap.rule == "JL-F4"
    assert not rules.duty_coverage(roster, at=at, scope="lab_pathology").passed
    assert not rules.duty_coverage([shift(0, 24, qualified=False)], at=at, scope="imaging").passed


# --- JL-P1..P6 -----------------------------------------------------------------------------------


def test_jl_p_a_qualified_expert_passes_all_six():
    checks = rules.physician_checks(physician(), registration(), acting_role=ActingRole.EXPERT, scope="imaging", on=TODAY)
    assert [c.rule for c in checks] == ["JL-P1", "JL-P2", "JL-P3", "JL-P4", "JL-P5", "JL-P6"]
    assert failed_rules(checks) == []


def test_jl_p1_certificate_must_be_valid_and_not_revoked():
    on_last_day = physician(certificate_valid_until=TODAY)
    assert failed_rules(rules.physician_checks(on_last_day, registration(), acting_role="expert", scope="internal", on=TODAY)) == []
    expired = physician(certificate_valid_until=TODAY - dt.timedelta(days=1))
    assert failed_rules(rules.physician_checks(expired, registration(), acting_role="expert", scope="internal", on=TODAY)) == ["JL-P1"]
    revoked = physician(certificate_revoked=True)
    assert failed_rules(rules.physician_checks(revoked, registration(), acting_role="expert", scope="internal", on=TODAY)) == ["JL-P1"]
    no_cert = physician(certificate_number="")
    assert failed_rules(rules.physician_checks(no_cert, registration(), acting_role="expert", scope="internal", on=TODAY)) == ["JL-P1"]


def test_jl_p2_must_be_registered_at_the_facility_acted_for():
    checks = rules.physician_checks(physician(), None, acting_role="attending", scope=None, on=TODAY)
    # No registration there: not registered (P2), not verified there (P3), not authorised there (P6).
    assert failed_rules(checks) == ["JL-P2", "JL-P3", "JL-P6"]
    lapsed = registration(valid_until=TODAY - dt.timedelta(days=1))
    assert failed_rules(rules.physician_checks(physician(), lapsed, acting_role="attending", scope=None, on=TODAY)) == ["JL-P2"]
    future = registration(registered_on=TODAY + dt.timedelta(days=1))
    assert failed_rules(rules.physician_checks(physician(), future, acting_role="attending", scope=None, on=TODAY)) == ["JL-P2"]


def test_jl_p3_platform_registration_and_facility_verification():
    unregistered = physician(platform_registered_at=None)
    assert failed_rules(rules.physician_checks(unregistered, registration(), acting_role="attending", scope=None, on=TODAY)) == ["JL-P3"]
    unverified = registration(verified_at=None)
    checks = rules.physician_checks(physician(), unverified, acting_role="attending", scope=None, on=TODAY)
    assert failed_rules(checks) == ["JL-P3"] and "核验" in checks[2].text


@pytest.mark.parametrize(
    "title, ok",
    [
        (Title.CHIEF_PHYSICIAN, True),
        (Title.ASSOCIATE_CHIEF_PHYSICIAN, True),
        (Title.ATTENDING_PHYSICIAN, False),
        (Title.RESIDENT_PHYSICIAN, False),
        (Title.ASSISTANT_PHYSICIAN, False),
        (Title.ASSOCIATE_CHIEF_TECHNICIAN, False),
        (Title.SUPERVISING_TECHNICIAN, False),
        (Title.CHIEF_PHARMACIST, False),
        (Title.ASSOCIATE_CHIEF_NURSE, False),
        (Title.NURSE, False),
    ],
)
def test_jl_p4_expert_needs_associate_senior_title_or_above(title, ok):
    checks = rules.physician_checks(physician(title=title), registration(), acting_role="expert", scope="internal", on=TODAY)
    assert failed_rules(checks) == ([] if ok else ["JL-P4"])


@pytest.mark.parametrize("title", [Title.ASSOCIATE_CHIEF_NURSE, Title.CHIEF_NURSE, Title.ASSOCIATE_CHIEF_TECHNICIAN, Title.CHIEF_PHARMACIST])
def test_jl_p4_a_senior_title_of_another_series_is_refused_as_not_a_physician_title(title):
    """JL-P4 第十四条第四项: 副主任护师 is 副高, but experts come from the physician series (231/232) only."""
    checks = rules.physician_checks(physician(title=title), registration(), acting_role="expert", scope="internal", on=TODAY)
    p4 = next(c for c in checks if c.rule == "JL-P4")
    assert not p4.passed
    assert p4.detail == f"非医师系列职称：{Title(title).label}"
    assert failed_rules(checks) == ["JL-P4"]


def test_jl_p4_a_junior_physician_is_refused_for_seniority():
    checks = rules.physician_checks(physician(title=Title.ATTENDING_PHYSICIAN), registration(), acting_role="expert", scope="internal", on=TODAY)
    assert next(c for c in checks if c.rule == "JL-P4").detail == "现为主治医师"


def test_jl_p4_and_p5_do_not_apply_to_the_inviting_attending_physician():
    junior = physician(title=Title.RESIDENT_PHYSICIAN, scopes=["general"])
    checks = rules.physician_checks(junior, registration(), acting_role="attending", scope=None, on=TODAY)
    assert [c.rule for c in checks] == ["JL-P1", "JL-P2", "JL-P3", "JL-P6"]
    assert failed_rules(checks) == []


def test_jl_p5_requested_speciality_within_scope_of_practice():
    checks = rules.physician_checks(physician(scopes=["surgery"]), registration(), acting_role="expert", scope="imaging", on=TODAY)
    assert failed_rules(checks) == ["JL-P5"]
    assert "医学影像和放射治疗专业" in checks[4].text
    unspecified = rules.physician_checks(physician(), registration(), acting_role="expert", scope=None, on=TODAY)
    assert failed_rules(unspecified) == ["JL-P5"]


ECG_CHOICE = ("imaging", "internal")


@pytest.mark.parametrize(
    "category, required, modality, wanted, expected",
    [
        # Opinion services: the wanted speciality, as the inviting side asked (JL-C4).
        ("opinion", "", "", "internal", ("internal",)),
        ("opinion", "", "", "surgery", ("surgery",)),
        # Diagnosis services: the service's own scope; the wanted one cannot replace it.
        ("diagnosis", "imaging", "radiology", "internal", ("imaging",)),
        ("diagnosis", "imaging", "radiology", "imaging", ("imaging",)),
        ("diagnosis", "lab_pathology", "", "internal", ("lab_pathology",)),
        # ECG: the province's choice; the wanted speciality narrows it when it lies within.
        ("diagnosis", "imaging", "ecg", "surgery", ECG_CHOICE),
        ("diagnosis", "imaging", "ecg", "internal", ("internal",)),
        ("diagnosis", "imaging", "ecg", "imaging", ("imaging",)),
        # A diagnosis type the regulator added without a scope falls back to the wanted one.
        ("diagnosis", "", "", "surgery", ("surgery",)),
    ],
)
def test_jl_p5_expert_scopes_follow_the_diagnosis_service_not_the_wanted_speciality(category, required, modality, wanted, expected):
    """JL-P5 第十四条第五项: imaging → 医学影像和放射治疗专业, pathology/laboratory → 医学检验、病理专业."""
    assert rules.expert_scopes(
        category=category, required_scope=required, modality=modality, wanted_scope=wanted, ecg_scopes=ECG_CHOICE
    ) == expected


def test_jl_p5_internist_fails_an_imaging_report_even_when_internal_was_wanted():
    scopes = rules.expert_scopes(category="diagnosis", required_scope="imaging", modality="radiology", wanted_scope="internal", ecg_scopes=ECG_CHOICE)
    internist = rules.physician_checks(physician(scopes=["internal"]), registration(), acting_role="expert", scope=scopes, on=TODAY)
    assert failed_rules(internist) == ["JL-P5"]
    assert "医学影像和放射治疗专业" in next(c for c in internist if c.rule == "JL-P5").detail
    radiologist = rules.physician_checks(physician(scopes=["imaging"]), registration(), acting_role="expert", scope=scopes, on=TODAY)
    assert failed_rules(radiologist) == []


def test_jl_p5_ecg_read_by_internal_or_imaging_under_the_default_choice():
    scopes = rules.expert_scopes(category="diagnosis", required_scope="imaging", modality="ecg", wanted_scope="", ecg_scopes=ECG_CHOICE)
    for held in (["internal"], ["imaging"]):
        assert failed_rules(rules.physician_checks(physician(scopes=held), registration(), acting_role="expert", scope=scopes, on=TODAY)) == []
    assert failed_rules(rules.physician_checks(physician(scopes=["surgery"]), registration(), acting_role="expert", scope=scopes, on=TODAY)) == ["JL-P5"]


def test_jl_p1_not_passing_while_the_qualification_date_is_after_the_check_date():
    """JL-P1 第十四条第一项: a qualification obtained after the day checked is not held on that day."""
    future = physician(qualification_obtained_on=TODAY + dt.timedelta(days=1))
    checks = rules.physician_checks(future, registration(), acting_role="expert", scope="internal", on=TODAY)
    assert failed_rules(checks) == ["JL-P1"]
    assert "晚于核查日期" in checks[0].detail
    same_day = physician(qualification_obtained_on=TODAY)
    assert failed_rules(rules.physician_checks(same_day, registration(), acting_role="expert", scope="internal", on=TODAY)) == []


def test_jl_p1_p2_entry_checks_refuse_a_future_qualification_and_a_registration_ending_before_it_starts():
    bad = rules.qualification_entry_checks(
        qualification_obtained_on=TODAY + dt.timedelta(days=1), registered_on=dt.date(2026, 1, 10),
        registration_valid_until=dt.date(2026, 1, 9), today=TODAY,
    )
    assert [(c.rule, c.passed) for c in bad] == [("JL-P1", False), ("JL-P2", False)]
    good = rules.qualification_entry_checks(
        qualification_obtained_on=TODAY, registered_on=dt.date(2026, 1, 10), registration_valid_until=dt.date(2026, 1, 10), today=TODAY,
    )
    assert all(c.passed for c in good)


def test_jl_p6_needs_the_facilitys_authorisation_not_revoked():
    unauthorised = registration(authorised_at=None)
    assert failed_rules(rules.physician_checks(physician(), unauthorised, acting_role="expert", scope="internal", on=TODAY)) == ["JL-P6"]
    revoked = registration(authorisation_revoked_at=timezone.now())
    assert failed_rules(rules.physician_checks(physician(), revoked, acting_role="attending", scope=None, on=TODAY)) == ["JL-P6"]


def test_jl_p_every_failing_reason_is_reported_not_just_the_first():
    hopeless = physician(
        certificate_valid_until=TODAY - dt.timedelta(days=1),
        platform_registered_at=None,
        title=Title.ATTENDING_PHYSICIAN,
        scopes=["surgery"],
    )
    checks = rules.physician_checks(hopeless, registration(authorised_at=None), acting_role="expert", scope="imaging", on=TODAY)
    assert failed_rules(checks) == ["JL-P1", "JL-P3", "JL-P4", "JL-P5", "JL-P6"]
    assert all(c.article.startswith("第") for c in checks)
