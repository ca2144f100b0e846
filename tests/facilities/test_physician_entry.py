"""JL-P1, JL-P2: dates as entered — a qualification is not obtained in the future, a practice
registration does not end before it starts (service, page, API, and the database itself)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from facilities import services
from facilities.choices import StaffRole, Title
from facilities.models import Physician, PracticeRegistration
from telemed.errors import ApplicationError
from tests.api_cases import assert_error, token_client
from tests.factories import FacilityFactory, RegistrationFactory, staff

pytestmark = pytest.mark.django_db


def register(facility, **overrides):
    values = dict(
        actor=staff(facility, StaffRole.FACILITY_ADMIN), facility=facility, name="张医生", qualification_number="Q-1",
        qualification_obtained_on=dt.date(2005, 1, 1), certificate_number="C-1", certificate_valid_until=None,
        title=Title.CHIEF_PHYSICIAN, scopes=["internal"], registered_on=dt.date(2010, 1, 1),
    )
    values.update(overrides)
    return services.physician_register(**values)


def test_jl_p1_a_qualification_date_in_the_future_is_refused_when_entered():
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(ApplicationError) as refused:
        register(FacilityFactory(), qualification_obtained_on=tomorrow)
    assert refused.value.code == "JL-P1"
    assert "取得执业资格日期不能晚于今天" in refused.value.message
    assert not Physician.objects.exists()
    register(FacilityFactory(), qualification_obtained_on=timezone.localdate())


def test_jl_p2_a_registration_ending_before_it_starts_is_refused():
    with pytest.raises(ApplicationError) as refused:
        register(FacilityFactory(), registered_on=dt.date(2020, 5, 2), registration_valid_until=dt.date(2020, 5, 1))
    assert refused.value.code == "JL-P2"
    assert "执业注册有效期截止日期不能早于注册日期" in refused.value.message
    assert not PracticeRegistration.objects.exists()


def test_jl_p2_the_database_refuses_a_registration_ending_before_it_starts():
    with pytest.raises(IntegrityError), transaction.atomic():
        RegistrationFactory(registered_on=dt.date(2020, 5, 2), valid_until=dt.date(2020, 5, 1))


def test_jl_p1_future_qualification_refused_on_the_page_and_through_the_api(client):
    facility = FacilityFactory()
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    data = {
        "facility": facility.pk, "name": "李明", "qualification_number": "Q-2", "qualification_obtained_on": tomorrow,
        "certificate_number": "C-2", "certificate_valid_until": "", "title": str(Title.CHIEF_PHYSICIAN.value),
        "scopes": ["internal"], "registered_on": "2015-03-01", "registration_valid_until": "",
    }
    client.force_login(admin)
    response = client.post(reverse("facilities:physician-create"), data)
    assert response.status_code == 200 and "JL-P1 第十四条第一项" in response.content.decode()
    api = {k: v for k, v in data.items() if v != ""}
    assert_error(token_client(admin).post("/api/v1/physicians/", api, format="json"), 400, "JL-P1")
    assert not Physician.objects.exists()
