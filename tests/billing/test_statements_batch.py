"""JL-B4 (art. 42) at province scale (issue 11): a month's statements are drafted set-based — the
totals summed in the database are exact to the fen and reconcile with the charges, and the
queries do not grow with the number of charges."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.choices import EventType
from audit.models import AuditEvent
from billing import rules, services
from billing.models import Statement

from . import complete, priced, this_month

pytestmark = pytest.mark.django_db


def _draft_counting(month) -> tuple[list[Statement], int]:
    """Draft ``month`` the way the monthly job does — a minute after it has ended (JL-B4) — counting queries."""
    after_the_month = rules.period_bounds(month)[1] + dt.timedelta(minutes=1)
    with time_machine.travel(after_the_month, tick=False), CaptureQueriesContext(connection) as queries:
        drafted = services.statements_draft(period_start=month)
    return drafted, len(queries)


def test_jl_b4_set_based_draft_is_exact_to_the_fen_and_constant_in_queries(world):
    billing = priced(world)
    first_month = this_month()
    complete(world)
    (first,), few = _draft_counting(first_month)
    assert first.charge_count == 1
    # The next month has five charges: drafting it costs no query per charge.
    with time_machine.travel(rules.period_bounds(first_month)[1] + dt.timedelta(days=2), tick=False):
        second_month = this_month()
        for _ in range(5):
            complete(world)
    (statement,), many = _draft_counting(second_month)
    assert statement.pk != first.pk and statement.period_start == second_month
    assert many <= few + 2
    statement = Statement.objects.get(pk=statement.pk)
    computed = rules.totals(statement.charges.all(), statement.reversals.select_related("charge"))
    stated = rules.Totals(statement.charge_count, statement.fee_total_fen, statement.inviting_share_total_fen,
                          statement.invited_share_total_fen)
    assert stated == computed
    assert computed.count == 5
    assert rules.reconcile_check(stated=stated, computed=computed).passed
    event = AuditEvent.objects.filter(event_type=EventType.BILLING_STATEMENT_DRAFT).order_by("-sequence").first()
    assert (event.details["created"], event.details["attached"]) == (True, 5)
    assert event.details["invited_share_total_fen"] == statement.invited_share_total_fen
    assert _draft_counting(second_month)[0] == []  # a second run changes nothing
    assert billing.invited == statement.invited
