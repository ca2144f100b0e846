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
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

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


@pytest.fixture
def compiled_afresh():
    work_list_statements.forget()
    yield
    work_list_statements.forget()


@pytest.mark.parametrize("cap", [999, 1])
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_pages_and_their_access_records_are_the_orms(client, cases, monkeypatch, compiled_afresh, language, cap):  # noqa: F811
    """Every work list page, compiled and through the ORM (``staff_only`` answering no): the same
    bytes and the same JL-C8 record (events, details) — with the tabs' counts capped too (issue 11)."""
    monkeypatch.setattr("consultations.views._paginate", functools.partial(paginate, per_page=2))  # several pages
    monkeypatch.setattr(list_rows, "TAB_COUNT_CAP", cap)
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


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("path", ["compiled", "orm"])
def test_a_tabs_count_is_exact_up_to_the_cap_and_capped_above(client, cases, monkeypatch, compiled_afresh, language, path):  # noqa: F811
    """Issue 11: each state counts at most ``TAB_COUNT_CAP + 1`` requests; a tab shows its exact count up
    to the cap and "cap+" above it (titled "超过 cap 条"), on both sides; the tab's own pages are still
    counted exactly ("共 N 条"), and the page's rows and its JL-C8 record do not change."""
    monkeypatch.setattr("consultations.views._paginate", functools.partial(paginate, per_page=2))
    if path == "orm":
        monkeypatch.setattr(ConsultationQuerySet, "staff_only", staticmethod(lambda user, side: False))
    client.cookies["django_language"] = language
    sides = ((cases.coordinator, Side.INVITING, INVITING_TABS), (cases.invited_coordinator, Side.INVITED, INVITED_TABS))
    with time_machine.travel(timezone.now(), tick=False):
        for user, side, tabs in sides:
            exact = selectors.consultation_state_counts(user=user, side=side)
            totals = {tab.key: sum(exact.get(s, 0) for s in tab.states) if tab.states else sum(exact.values()) for tab in tabs}
            assert totals[tabs[0].key] >= 2 and totals["all"] >= 3, totals  # the cap below matters
            uncapped = {tab.key: _page(client, user, f"/consultations/?side={side}&tab={tab.key}") for tab in tabs}
            for cap in (2, 1):
                monkeypatch.setattr(list_rows, "TAB_COUNT_CAP", cap)
                counts = selectors.consultation_state_counts(user=user, side=side)
                assert counts == {state: min(n, cap + 1) for state, n in exact.items()}
                with translation.override(language):
                    title = escape(gettext("超过 %(number)s 条") % {"number": cap})
                for tab in tabs:
                    content, record = _page(client, user, f"/consultations/?side={side}&tab={tab.key}")
                    assert record == uncapped[tab.key][1]  # JL-C8: the same page, the same record
                    html = content.decode()
                    shown = re.search(rf'tab={tab.key}" class="tab[^>]*>[^<]* (<span class="tab-count"[^>]*>[^<]*</span>)', html)[1]
                    n = totals[tab.key]
                    assert shown == (
                        f'<span class="tab-count" title="{title}">{cap}+</span>' if n > cap else f'<span class="tab-count">{n}</span>'
                    ), (side, tab.key, cap)
                    # the current tab's pages: the exact count, as without the cap
                    assert re.sub(r'<nav class="tabs".*?</nav>', "", html, flags=re.S) == re.sub(
                        r'<nav class="tabs".*?</nav>', "", uncapped[tab.key][0].decode(), flags=re.S
                    )
            monkeypatch.setattr(list_rows, "TAB_COUNT_CAP", 999)


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


def test_the_inbox_index_is_the_todo_tabs_order():
    """Issue 11: ``consult_inbox_open_order_idx`` holds the 待处理 tab's requests in the inbox's order
    (``selectors.work_list_order``), so the first page reads its rows from the index, unsorted."""
    from consultations.models import INBOX_OPEN_STATES, INBOX_ORDER

    index = next(i for i in Consultation._meta.indexes if i.name == "consult_inbox_open_order_idx")
    assert tuple(INVITED_TABS[0].states) == INBOX_OPEN_STATES
    # the index's columns ascending (NULLS LAST by default in PostgreSQL), the order's expressions
    assert [getattr(e, "expression", e) for e in index.expressions[1:3]] == [o for o in INBOX_ORDER[:2]]
    assert [e.name for e in index.expressions[3:]] == [o.expression.name for o in INBOX_ORDER[2:]]
    assert all(not o.descending and o.nulls_first is not True for o in INBOX_ORDER[2:])
    ordered = selectors.work_list_order(Consultation.objects.all(), side=Side.INVITED)
    assert ordered.query.order_by == INBOX_ORDER
