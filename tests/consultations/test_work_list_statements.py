"""Issue 11: the work lists' statements compiled once per shape (``consultations.work_list_statements``).

The pages they serve are the pages the ORM served, byte for byte, with the same JL-C8 access records
(every tab of both sides, both languages, hostile text, several pages, a user of two facilities);
the statements are Django's own for the request, text and parameters; a shape is compiled once; and
a statement whose stand-ins are not where they should be is refused.
"""

from __future__ import annotations

import functools
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from consultations import list_rows, selectors, work_list_statements
from consultations.choices import ConsultationState, Side
from consultations.models import Consultation, ConsultationQuerySet, Obligation
from consultations.views import INVITED_TABS, INVITING_TABS, OBLIGATIONS_TAB
from facilities.choices import StaffRole
from facilities.models import StaffMembership
from telemed.pages import paginate
from telemed.scope import Scope
from tests.consultations.test_list_rows import cases  # noqa: F401 - the fixture: hostile text, every kind of row
from tests.factories import staff

pytestmark = pytest.mark.django_db
_TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"|<meta name="csrf-token" content="[^"]*"')


def _page(client, user, url):
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    event = AuditEvent.objects.filter(actor=user, event_type="record.list").order_by("-pk").first()
    record = (event.object_type, event.details, event.facility_ids, event.acting_facility_id) if event else None
    return _TOKEN.sub(b"", response.content), record


def _urls():
    for side, tabs in ((Side.INVITING, INVITING_TABS), (Side.INVITED, INVITED_TABS), ("", INVITING_TABS[-1:])):
        for tab in tabs:
            yield f"/consultations/?side={side}&tab={tab.key}"
    yield f"/consultations/?side=inviting&tab={OBLIGATIONS_TAB}"
    yield "/consultations/?side=invited&tab=all&page=2"
    yield "/consultations/?side=invited&tab=all&page=99"
    yield "/consultations/?side=invited&tab=todo&q=JL"


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_pages_and_their_access_records_are_the_orms(client, cases, monkeypatch, language):  # noqa: F811
    """Every work list page, compiled and through the ORM (``staff_only`` answering no): the same
    bytes and the same JL-C8 record (events, details)."""
    monkeypatch.setattr("consultations.views._paginate", functools.partial(paginate, per_page=2))  # several pages
    both = staff(cases.invited, StaffRole.COORDINATOR, username="both")
    StaffMembership.objects.create(user=both, facility=cases.inviting, role=StaffRole.CLINICIAN)
    client.cookies["django_language"] = language
    with time_machine.travel(timezone.now(), tick=False):
        for user in (cases.coordinator, cases.invited_coordinator, both):
            for url in _urls():
                compiled = _page(client, user, url)
                with monkeypatch.context() as orm:
                    orm.setattr(ConsultationQuerySet, "staff_only", staticmethod(lambda user, side: False))
                    expected = _page(client, user, url)
                assert compiled == expected, (user.username, url)
    assert b"&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in _page(client, cases.coordinator, "/consultations/?side=inviting&tab=drafts")[0]


def test_the_statements_are_djangos_own_for_the_request(cases):  # noqa: F811
    """The bound text and parameters are what Django compiles for the request's own querysets."""
    user = cases.invited_coordinator
    ids = Scope.of(user).facility_ids
    alias = Consultation.objects.db
    for side, tabs in ((Side.INVITING, INVITING_TABS), (Side.INVITED, INVITED_TABS)):
        for states in [tab.states for tab in tabs] + [(ConsultationState.DRAFT,)]:
            with time_machine.travel(timezone.now(), tick=False):
                queryset = Consultation.objects.staff_on_side(ids, user=user, side=side, states=states, now=timezone.now())
                expected_sql, expected_params = list_rows.values(selectors.work_list_order(queryset, side=side)).query.get_compiler(alias).as_sql()
                rows = work_list_statements.WorkRows(user=user, side=side, states=states, facility_ids=ids)
                assert (rows.statement.sql, tuple(rows.bound)) == (expected_sql, tuple(expected_params))
    obligations = Obligation.objects.filter(facility_id__in=ids, state="open")
    where, params = obligations.query.get_compiler(alias).compile(obligations.query.where)
    statement = work_list_statements._obligations_statement(alias, connection.vendor, len(ids))
    assert statement.sql.endswith(f"WHERE {where}")
    assert tuple(statement.bind(connection, ids, user.pk)) == tuple(params)
    theirs = Scope.of(cases.coordinator).facility_ids
    assert selectors.open_obligation_count(user=cases.coordinator) == (
        selectors.obligation_list(user=cases.coordinator).filter(facility_id__in=theirs).count()
    )


def test_a_shape_is_compiled_once(client, cases):  # noqa: F811
    """The second request of a shape compiles nothing: no queryset of consultations is built."""
    client.force_login(cases.invited_coordinator)
    client.get("/consultations/?side=invited")
    before = (work_list_statements._counts_statement.cache_info(), work_list_statements._rows_statement.cache_info())
    with CaptureQueriesContext(connection):
        client.get("/consultations/?side=invited")
    after = (work_list_statements._counts_statement.cache_info(), work_list_statements._rows_statement.cache_info())
    assert [a.misses for a in after] == [b.misses for b in before]
    assert [a.hits for a in after] == [b.hits + 1 for b in before]


def test_a_statement_without_its_stand_ins_is_refused():
    alias = Consultation.objects.db
    with pytest.raises(RuntimeError):
        work_list_statements._compile(Consultation.objects.filter(inviting_id__in=[1]).values_list("pk"), alias, 1)
    with pytest.raises(RuntimeError):  # the user's id without the time of the review
        work_list_statements._compile(
            Consultation.objects.filter(inviting_id=work_list_statements._FACILITY_MARK, created_by_id=work_list_statements._USER_MARK)
            .values_list("pk"), alias, 1,
        )
