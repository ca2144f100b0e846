"""Issue 11: the API list's page numbers compile the scope once (``consultations.api.list_statements``).

The two statements must be the ORM's: the same ``COUNT(*)`` text and parameters, and the same rows
(values and order) as ``values_list(*columns, named=True)`` for every slice — whoever asks (the
inviting or invited side, a regulator, a user who sees nothing) and whatever the filters. A queryset
the compiled text does not fit (a search joins the patients) keeps the ORM.
"""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consultations import selectors
from consultations.api.list_statements import CompiledRows
from consultations.api.serializers import ConsultationListRows
from facilities.choices import StaffRole
from tests.api_cases import token_client
from tests.factories import UserFactory, regulator, staff

pytestmark = pytest.mark.django_db

COLUMNS = ConsultationListRows.columns


@pytest.fixture
def cases(world):
    for _ in range(3):
        world.draft()
    for _ in range(4):
        world.sent()
    world.accepted_with_expert()
    return world


def users(world):
    return {
        "coordinator": world.coordinator,
        "invited_coordinator": world.invited_coordinator,
        "partner": staff(world.inviting, StaffRole.PARTNER_SYSTEM, username="his_statements"),
        "city_regulator": regulator("220100", username="reg_city"),
        "province_regulator": regulator("220000", username="reg_province_s"),
        "nobody": UserFactory(username="nobody_s"),
    }


FILTERS = [{}, {"side": "inviting"}, {"side": "invited"}, {"state": "sent"}, {"open_only": True}, {"state": "closed"}]


def test_count_and_rows_are_the_orms(cases):
    everyone = users(cases)
    for (name, user), filters in itertools.product(everyone.items(), FILTERS):
        queryset = selectors.consultation_list(user=user, suspension_flags=False, **filters)
        # A regulator's scope joins the facilities (their division): the ORM, as before.
        assert CompiledRows.applies_to(queryset) is (name != "city_regulator"), name
        if name == "city_regulator":
            continue
        orm = queryset.values_list(*COLUMNS, named=True)
        compiled = CompiledRows(queryset, COLUMNS)
        connection.queries_log.clear()  # the fixture's statements fill the log (9000 kept)
        with CaptureQueriesContext(connection) as ours:
            count = compiled.count()
        with CaptureQueriesContext(connection) as theirs:
            expected = queryset.count()
        assert count == expected, name
        assert len(ours.captured_queries) == (1 if count else len(theirs.captured_queries)), (name, filters)
        assert [q["sql"] for q in ours.captured_queries] == [q["sql"] for q in theirs.captured_queries], name
        assert list(compiled) == list(orm), name
        for low, high in [(0, 2), (2, 5), (3, 3), (0, 50), (7, 50), (40, 50)]:
            got = compiled[low:high]
            assert got == list(orm[low:high]), (name, low, high)
            assert all(type(row).__name__ == "Row" and row._fields == COLUMNS for row in got)
    assert sum(1 for _ in CompiledRows(selectors.consultation_list(user=cases.coordinator, suspension_flags=False), COLUMNS)) >= 8


def test_a_user_who_sees_nothing_gets_nothing(cases):
    queryset = selectors.consultation_list(user=UserFactory(username="nobody_at_all"), suspension_flags=False)
    compiled = CompiledRows(queryset, COLUMNS)
    assert compiled.count() == queryset.count() == 0 and compiled[0:50] == [] and list(compiled) == []


def test_a_search_joins_the_patients_and_keeps_the_orm(cases):
    queryset = selectors.consultation_list(user=cases.coordinator, search="张", suspension_flags=False)
    assert not CompiledRows.applies_to(queryset)
    assert not CompiledRows.applies_to(selectors.consultation_list(user=cases.coordinator, suspension_flags=False)[:5])
    assert not CompiledRows.applies_to(selectors.consultation_list(user=cases.coordinator))  # the pages' JL-F5 flags


def test_only_plain_slices(cases):
    compiled = CompiledRows(selectors.consultation_list(user=cases.coordinator, suspension_flags=False), COLUMNS)
    for index in (0, slice(0, 4, 2), slice(-1, None)):
        with pytest.raises(TypeError):
            compiled[index]


def test_the_api_pages_run_the_compiled_statements(cases, monkeypatch):
    partner = users(cases)["partner"]
    client = token_client(partner)
    expected = list(selectors.consultation_list(user=partner, suspension_flags=False).values_list("pk", flat=True))
    counted = []
    count = CompiledRows.count
    monkeypatch.setattr(CompiledRows, "count", lambda self: counted.append(self.where) or count(self))
    first = client.get("/api/v1/consultations/?page_size=5")
    assert first.status_code == 200 and first.json()["count"] == len(expected) == 8
    assert [row["id"] for row in first.json()["results"]] == expected  # page_size is the sync cursor's; 50 a page
    second = client.get("/api/v1/consultations/?state=sent&side=inviting")
    assert [row["state"] for row in second.json()["results"]] == ["sent"] * 4
    assert client.get("/api/v1/consultations/?page=2").status_code == 404
    assert len(counted) == 3
    assert client.get("/api/v1/consultations/?search=张").status_code == 200 and len(counted) == 3  # the ORM
