"""JL-B4 (art. 42) at province scale (issue 11): a month's statements are drafted set-based — the
totals summed in the database are exact to the fen and reconcile with the charges, and the
queries do not grow with the number of charges."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.choices import EventType
from audit.models import AuditEvent
from billing import rules, services
from billing.models import Statement

from . import complete, priced, this_month

pytestmark = pytest.mark.django_db


def _draft_counting() -> tuple[list[Statement], int]:
    with CaptureQueriesContext(connection) as queries:
        drafted = services.statements_draft(period_start=this_month())
    return drafted, len(queries)


def test_jl_b4_set_based_draft_is_exact_to_the_fen_and_constant_in_queries(world):
    billing = priced(world)
    complete(world)
    (first,), few = _draft_counting()
    assert first.charge_count == 1
    for _ in range(4):
        complete(world)
    (again,), many = _draft_counting()
    assert again.pk == first.pk
    assert many <= few + 2  # 4 new charges: no query per charge
    statement = Statement.objects.get(pk=first.pk)
    computed = rules.totals(statement.charges.all(), statement.reversals.select_related("charge"))
    stated = rules.Totals(statement.charge_count, statement.fee_total_fen, statement.inviting_share_total_fen,
                          statement.invited_share_total_fen)
    assert stated == computed
    assert computed.count == 5
    assert rules.reconcile_check(stated=stated, computed=computed).passed
    event = AuditEvent.objects.filter(event_type=EventType.BILLING_STATEMENT_DRAFT).order_by("-sequence").first()
    assert (event.details["created"], event.details["attached"]) == (False, 4)
    assert event.details["invited_share_total_fen"] == statement.invited_share_total_fen
    assert services.statements_draft(period_start=this_month()) == []
    assert billing.invited == statement.invited
