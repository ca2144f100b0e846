"""JL-P4 and JL-P5 at the acts of a case (assign, sign), through the services, the API and the pages.

JL-P5: a diagnosis report is checked against the speciality the service needs (imaging → 医学影像和放射
治疗专业), never against whatever the requester typed as wanted speciality. JL-P4: experts come from
the physician series only; a 副主任护师 is refused as "非医师系列职称", not as too junior.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from consultations import services
from facilities import services as facility_services
from facilities.choices import Title
from telemed.errors import ApplicationError
from tests.api_cases import assert_error
from tests.factories import PhysicianFactory, RegistrationFactory, login_request, staff

pytestmark = pytest.mark.django_db

API = "/api/v1"
PASSWORD = "correct-horse-battery"


def session_client(user) -> APIClient:
    client = APIClient()
    assert client.login(request=login_request(), username=user.username, password=PASSWORD)
    return client


def invited_physician(world, *, scopes, title=Title.CHIEF_PHYSICIAN, with_user=False):
    user = staff(world.invited, username=f"dr_{'_'.join(scopes)}_{title}") if with_user else None
    return RegistrationFactory(facility=world.invited, physician=PhysicianFactory(user=user, scopes=scopes, title=title)).physician


def accepted(world, **kwargs):
    return services.consultation_accept(actor=world.invited_coordinator, consultation=world.sent(**kwargs))


def reasons(error) -> list[str]:
    return [r["rule"] for r in error.extra["reasons"]]


# --- JL-P5: the diagnosis service decides the speciality ---------------------------------------


def test_jl_p5_internist_cannot_be_assigned_to_an_imaging_report_even_if_internal_was_wanted(world):
    consultation = accepted(world, service="imaging", wanted_scope="internal")
    internist = invited_physician(world, scopes=["internal"])
    with pytest.raises(ApplicationError) as refused:
        services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=internist)
    assert reasons(refused.value) == ["JL-P5"]
    assert "医学影像和放射治疗专业" in refused.value.extra["reasons"][0]["text"]
    radiologist = invited_physician(world, scopes=["imaging"])
    services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=radiologist)
    assert consultation.participants.filter(side="invited", physician=radiologist).exists()


def test_jl_p5_pathology_needs_lab_pathology_scope(world):
    consultation = accepted(world, service="pathology", wanted_scope="internal")
    with pytest.raises(ApplicationError) as refused:
        services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=world.expert_physician)
    assert reasons(refused.value) == ["JL-P5"] and "医学检验、病理专业" in refused.value.message


def test_jl_p5_opinion_services_keep_the_wanted_speciality(world):
    consultation = accepted(world, service="consultation", wanted_scope="surgery")
    with pytest.raises(ApplicationError) as refused:
        services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=world.expert_physician)
    assert reasons(refused.value) == ["JL-P5"]
    surgeon = invited_physician(world, scopes=["surgery"])
    services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=surgeon)


def test_jl_p5_ecg_follows_the_province_setting(world, settings):
    """JL-P5: TELEMED_ECG_SCOPES, by default imaging or internal (the province's choice)."""
    internist = invited_physician(world, scopes=["internal"])
    consultation = accepted(world, service="imaging", modality="ecg", wanted_scope="internal")
    services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=internist)
    settings.TELEMED_ECG_SCOPES = ["imaging"]
    narrowed = accepted(world, service="imaging", modality="ecg", wanted_scope="internal")
    with pytest.raises(ApplicationError) as refused:
        services.expert_assign(actor=world.invited_coordinator, consultation=narrowed, physician=internist)
    assert reasons(refused.value) == ["JL-P5"]


def test_jl_p5_an_expert_whose_scope_changed_to_internal_only_cannot_sign_the_imaging_report(world):
    consultation = world.accepted_with_expert(service="imaging", wanted_scope="internal")
    physician = world.expert_physician
    facility_services.physician_update_qualifications(
        actor=staff(world.invited, "facility_admin"), physician=physician, facility=world.invited,
        certificate_number=physician.certificate_number, certificate_valid_until=None, certificate_revoked=False,
        title=physician.title, scopes=["internal"],
    )
    with pytest.raises(ApplicationError) as refused:
        services.opinion_sign(actor=world.expert, consultation=consultation, content="右肺结节")
    assert reasons(refused.value) == ["JL-P5"]
    assert AuditEvent.objects.filter(event_type="physician.qualification.sign", outcome="failure").exists()


def test_jl_p5_api_neither_offers_nor_assigns_an_internist_to_an_imaging_report(world):
    consultation = accepted(world, service="imaging", wanted_scope="internal")
    internist = invited_physician(world, scopes=["internal"])
    radiologist = invited_physician(world, scopes=["imaging"])
    client = session_client(world.invited_coordinator)
    offered = client.get(f"{API}/consultations/{consultation.pk}/experts/")
    assert offered.status_code == 200
    ids = {row["id"] for row in offered.json()}
    assert radiologist.pk in ids and world.expert_physician.pk in ids and internist.pk not in ids
    body = assert_error(client.post(f"{API}/consultations/{consultation.pk}/assign/", {"physician": internist.pk}, format="json"), 400, "JL-P5")
    assert [r["rule"] for r in body["extra"]["reasons"]] == ["JL-P5"]
    response = client.post(f"{API}/consultations/{consultation.pk}/assign/", {"physician": radiologist.pk}, format="json")
    assert response.status_code == 201, response.json()


def test_jl_p5_api_experts_list_is_for_the_invited_coordinator_only(world):
    consultation = accepted(world, service="imaging")
    assert_error(session_client(world.clinician).get(f"{API}/consultations/{consultation.pk}/experts/"), 403, "permission_denied")
    outsider = staff(RegistrationFactory().facility, "coordinator")
    assert_error(session_client(outsider).get(f"{API}/consultations/{consultation.pk}/experts/"), 404, "not_found")


def test_jl_p5_api_sign_refused_for_an_expert_no_longer_in_imaging(world):
    consultation = world.accepted_with_expert(service="imaging", wanted_scope="internal")
    world.expert_physician.scopes = ["internal"]
    world.expert_physician.save(update_fields=["scopes"])
    body = assert_error(
        session_client(world.expert).post(f"{API}/consultations/{consultation.pk}/sign/", {"content": "报告"}, format="json"), 400, "JL-P5"
    )
    assert "医学影像和放射治疗专业" in body["message"]


def test_jl_p5_page_offers_only_qualified_experts_and_refuses_the_internist(client, world):
    consultation = accepted(world, service="imaging", wanted_scope="internal")
    internist = invited_physician(world, scopes=["internal"])
    client.force_login(world.invited_coordinator)
    detail = reverse("consultations:detail", args=[consultation.pk])
    choices = dict(client.get(detail).context["forms"]["assign"].fields["physician"].choices)
    assert world.expert_physician.pk in choices and internist.pk not in choices
    response = client.post(reverse("consultations:assign-expert", args=[consultation.pk]), {"assign-physician": internist.pk})
    assert response.status_code == 400
    assert "JL-P5" in " ".join(response.context["forms"]["assign"].non_field_errors())
    assert not consultation.participants.filter(side="invited").exists()


def test_jl_p5_page_sign_refused_for_an_internist(client, world):
    consultation = world.accepted_with_expert(service="imaging", wanted_scope="internal")
    world.expert_physician.scopes = ["internal"]
    world.expert_physician.save(update_fields=["scopes"])
    client.force_login(world.expert)
    response = client.post(reverse("consultations:sign", args=[consultation.pk]), {"sign-content": "报告"})
    assert response.status_code == 400
    assert "JL-P5" in response.content.decode()
    assert not consultation.opinions.exists()


# --- JL-P4: physician series only ----------------------------------------------------------------


def test_jl_p4_associate_chief_nurse_is_refused_as_not_a_physician_title(world):
    consultation = accepted(world)
    nurse = invited_physician(world, scopes=["internal"], title=Title.ASSOCIATE_CHIEF_NURSE)
    with pytest.raises(ApplicationError) as refused:
        services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=nurse)
    assert reasons(refused.value) == ["JL-P4"]
    assert "非医师系列职称：副主任护师" in refused.value.message


def test_jl_p4_nurse_and_technician_neither_offered_on_the_page_nor_through_the_api(client, world):
    consultation = accepted(world, service="imaging")
    nurse = invited_physician(world, scopes=["imaging"], title=Title.ASSOCIATE_CHIEF_NURSE)
    technician = invited_physician(world, scopes=["imaging"], title=Title.CHIEF_TECHNICIAN)
    client.force_login(world.invited_coordinator)
    choices = dict(client.get(reverse("consultations:detail", args=[consultation.pk])).context["forms"]["assign"].fields["physician"].choices)
    assert nurse.pk not in choices and technician.pk not in choices and world.expert_physician.pk in choices
    api = session_client(world.invited_coordinator)
    ids = {row["id"] for row in api.get(f"{API}/consultations/{consultation.pk}/experts/").json()}
    assert nurse.pk not in ids and technician.pk not in ids
    body = assert_error(api.post(f"{API}/consultations/{consultation.pk}/assign/", {"physician": technician.pk}, format="json"), 400, "JL-P4")
    assert "非医师系列职称：主任技师" in body["message"]


def test_jl_c4_candidates_meet_the_title_wanted(world):
    consultation = accepted(world, wanted_title=Title.CHIEF_PHYSICIAN)
    associate = invited_physician(world, scopes=["internal"], title=Title.ASSOCIATE_CHIEF_PHYSICIAN)
    from django.utils import timezone

    from consultations.selectors import expert_candidates

    ids = {p.pk for p in expert_candidates(user=world.invited_coordinator, consultation=consultation, on=timezone.localdate())}
    assert world.expert_physician.pk in ids and associate.pk not in ids
