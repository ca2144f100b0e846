"""A stale form gets the portal's own page and keeps what was typed (issue 12, "forms, sessions")."""

import json

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from facilities.choices import StaffRole
from telemed.views import csrf_failure
from tests.factories import FacilityFactory, staff

pytestmark = pytest.mark.django_db

HOST = "http://testserver"


@pytest.fixture
def clerk():
    return staff(FacilityFactory(), StaffRole.COORDINATOR, username="clerk")


def _stale_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("home"))  # the page is open: a CSRF cookie is set
    return client


def test_a_stale_form_shows_the_portals_page_with_the_input_kept(clerk):
    client = _stale_client(clerk)
    path = reverse("consultations:create")
    response = client.post(
        path,
        {"csrfmiddlewaretoken": "x" * 32, "reason": "入院4天<b>诊断不明</b>", "purpose": "明确诊断", "scope": ["a", "b"]},
        HTTP_ORIGIN=HOST,
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert "此页面已过期" in page
    assert "入院4天&lt;b&gt;诊断不明&lt;/b&gt;" in page and "<b>诊断不明</b>" not in page
    # The same values can be sent again with a fresh token, to the same page, after review.
    assert f'action="{path}"' in page
    assert page.count('name="scope"') == 2
    assert 'name="csrfmiddlewaretoken"' in page and "x" * 32 not in page
    assert "Forbidden" not in page and "CSRF verification failed" not in page


def test_a_cross_site_post_gets_no_resubmit_button(clerk):
    client = _stale_client(clerk)
    response = client.post(reverse("consultations:create"), {"reason": "伪造"}, HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    page = response.content.decode()
    assert "此页面已过期" in page
    assert "重新提交" not in page


def test_passwords_are_never_shown_back(clerk):
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("login"))
    response = client.post(reverse("login"), {"username": "clerk", "password": "S3cret-typed!"}, HTTP_ORIGIN=HOST)
    page = response.content.decode()
    assert response.status_code == 403
    assert "S3cret-typed!" not in page
    assert "密码和验证码不保留" in page
    assert "重新提交" not in page  # not logged in: nothing is resubmitted for an anonymous visitor


def test_control_and_direction_characters_are_removed_from_what_is_shown(clerk):
    client = _stale_client(clerk)
    response = client.post(reverse("consultations:create"), {"reason": "abc\u202edef\x00"}, HTTP_ORIGIN=HOST)
    page = response.content.decode()
    assert "abcdef" in page and "\u202e" not in page


def test_the_api_keeps_its_error_contract():
    response = csrf_failure(RequestFactory().post("/api/v1/patients/"), reason="CSRF token missing.")
    assert response.status_code == 403
    assert json.loads(response.content)["code"] == "csrf_failed"
