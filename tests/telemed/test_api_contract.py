"""The contract's small print (issue 14): what the fuzz test found, pinned one case at a time.

Filters take what the schema says (telemed/filters.py), a missing reference in a body is a 404 like a
missing id in the path (telemed/errors.py), page sizes are checked in both modes (telemed/pagination.py).
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from facilities.choices import StaffRole
from tests.factories import FacilityFactory, division, staff

API = "/api/v1"


@pytest.fixture
def admin(db):
    return staff(FacilityFactory(division=division("220122")), StaffRole.FACILITY_ADMIN)


@pytest.fixture
def api(admin):
    client = APIClient()
    client.force_authenticate(admin)
    return client


@pytest.mark.parametrize("query", [
    "/prices/?facility=0.5",  # the schema says integer
    "/prices/?facility=99999999999999999999999",  # was a 500 (SQLite OverflowError, PostgreSQL bigint out of range)
    "/agreements/?facility=1e40",
    "/seals/?open=null",  # yes/no is true or false
    "/suspensions/?open=1",
    "/duty/?to=",  # an empty filter is not "no filter"
    "/prices/?facility=",
    "/statements/?period=",  # a text filter with a pattern
    "/statements/?period=2026-13",
    "/facilities/?page=",  # an empty page number is not page 1
    "/referrals/?state=",  # query serializers read the same way
    "/obligations/?page_size=0",  # page mode checks page_size too
    "/responsibility/?consultation=99999999999999999999999",
])
def test_a_query_value_the_schema_refuses_is_400_invalid_never_a_500(api, query):
    answer = api.get(API + query)
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] in {"invalid", "page_size_invalid"}


@pytest.mark.parametrize("query", ["/prices/?facility=7", "/seals/?open=true", "/suspensions/?open=False",
                                   "/memberships/?facility=999999"])
def test_a_query_value_the_schema_allows_is_answered(api, query):
    """An unknown id in a related-object filter lists nothing (it was 400, and told which ids exist: JL-O1)."""
    answer = api.get(API + query)
    assert answer.status_code == 200, answer.content


@pytest.fixture
def clinician_api(admin):
    client = APIClient()
    client.force_authenticate(staff(admin.memberships.first().facility, StaffRole.CLINICIAN))
    return client


def test_a_body_whose_only_fault_is_a_missing_reference_is_404_naming_the_field(clinician_api):
    answer = clinician_api.post(f"{API}/patients/", {"facility": 999999, "name": "张三", "sex": "1", "birth_date": "1960-05-01"},
                      format="json")
    assert answer.status_code == 404, answer.content
    body = answer.json()
    assert body["code"] == "not_found" and list(body["extra"]["fields"]) == ["facility"]


def test_a_body_with_another_fault_besides_a_missing_reference_stays_400(clinician_api):
    answer = clinician_api.post(f"{API}/patients/", {"facility": 999999, "name": "", "sex": "1", "birth_date": "1960-05-01"},
                      format="json")
    assert answer.status_code == 400 and answer.json()["code"] == "invalid"
    assert set(answer.json()["extra"]["fields"]) == {"facility", "name"}


def test_the_assistance_credit_answer_is_what_the_schema_says(api):
    answer = api.get(f"{API}/assistance-credit/", {"year": "2099"})
    assert answer.status_code == 200 and set(answer.json()) == {"year", "percent", "results"}
    assert api.get(f"{API}/assistance-credit/", {"facility": str(2**64)}).status_code == 400
