"""JL-B4 (art. 42): drafting a month's statements between facilities, set-based (issue 11).

Every pair of a month is drafted in one transaction with a constant number of queries: the
unsettled charges are counted per pair in the database, the missing statements are created at
once, the charges and refunds are linked with one UPDATE each, the totals are summed per statement
in the database (integer fen, so exact to the fen: they reconcile with ``rules.totals`` over the
same items) and the audit events are appended under one chain lock.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from django.db import connection, transaction
from django.db.models import Case, Count, Exists, OuterRef, Subquery, Sum, Value, When
from django.utils import timezone

from audit.choices import EventType
from audit.services import audit_events_append_many
from telemed.checks import failing
from telemed.errors import ApplicationError

from .. import rules
from ..choices import StatementState
from ..models import Charge, ChargeReversal, SettlementAccount, Statement

# An arbitrary constant naming the drafting's advisory lock on PostgreSQL (one drafting run at a time).
_DRAFT_LOCK_KEY = 4202_2018


def _lock_drafting() -> None:
    """Two drafting runs at once (beat and a manual run) take turns; on SQLite the IMMEDIATE
    transaction already serialises them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DRAFT_LOCK_KEY])


def _payee_accounts(facility_ids) -> dict[int, SettlementAccount]:
    """The first active account of each facility (as ``.filter(...).first()`` would pick it)."""
    accounts: dict[int, SettlementAccount] = {}
    ordering = SettlementAccount._meta.ordering or ["pk"]
    for account in SettlementAccount.objects.filter(facility_id__in=facility_ids, active=True).order_by(*ordering):
        accounts.setdefault(account.facility_id, account)
    return accounts


def _store_totals_many(statements: list[Statement]) -> None:
    """Each statement's totals over all its charges and refunds, summed in the database."""
    ids = [s.pk for s in statements]
    charged = {
        row["statement_id"]: row
        for row in Charge.objects.filter(statement_id__in=ids).values("statement_id").order_by()
        .annotate(n=Count("pk"), fee=Sum("fee_fen"), inviting=Sum("inviting_share_fen"), invited=Sum("invited_share_fen"))
    }
    refunded = {
        row["statement_id"]: row
        for row in ChargeReversal.objects.filter(statement_id__in=ids).values("statement_id").order_by()
        .annotate(n=Count("pk"), fee=Sum("charge__fee_fen"), inviting=Sum("charge__inviting_share_fen"),
                  invited=Sum("charge__invited_share_fen"))
    }
    empty = {"n": 0, "fee": 0, "inviting": 0, "invited": 0}
    for statement in statements:
        c, r = charged.get(statement.pk, empty), refunded.get(statement.pk, empty)
        statement.charge_count = c["n"] + r["n"]
        statement.fee_total_fen = (c["fee"] or 0) - (r["fee"] or 0)
        statement.inviting_share_total_fen = (c["inviting"] or 0) - (r["inviting"] or 0)
        statement.invited_share_total_fen = (c["invited"] or 0) - (r["invited"] or 0)
    Statement.objects.bulk_update(
        statements, ["charge_count", "fee_total_fen", "inviting_share_total_fen", "invited_share_total_fen"]
    )


def statements_draft(*, period_start: dt.date) -> list[Statement]:
    """Draft the statements of one Beijing-time month for every pair with unsettled items (JL-B4).

    Idempotent: one statement per pair and month (a unique constraint), and a charge or reversal
    is attached only while it belongs to no statement, so a second run changes nothing. A pair
    whose statement is already confirmed keeps its late items for a correction statement.
    Returns the statements drafted or extended, by pair.

    JL-B4: refused (code ``statement_month_not_ended``) unless ``period_start`` is the first day of
    a Beijing-time month that has already ended, so that every charge made in the month is there
    when its statement is drafted and is settled by that month's statement.
    """
    from . import charges_backfill

    bad = failing([rules.statement_month_ended_check(period_start, now=timezone.now())])
    if bad:
        raise ApplicationError("statement_month_not_ended", "；".join(c.text for c in bad),
                               {"reasons": [c.as_dict() for c in bad], "rule": "JL-B4", "period": f"{period_start:%Y-%m}"})
    charges_backfill()
    start, end = rules.period_bounds(period_start)
    with transaction.atomic():
        _lock_drafting()
        charges = Charge.objects.filter(statement__isnull=True, completed_at__gte=start, completed_at__lt=end)
        reversals = ChargeReversal.objects.filter(statement__isnull=True, reversed_at__gte=start, reversed_at__lt=end)
        pending: Counter = Counter()
        for inviting_id, invited_id, n in charges.values("inviting_id", "invited_id").order_by().annotate(n=Count("pk")).values_list(
            "inviting_id", "invited_id", "n"
        ):
            pending[(inviting_id, invited_id)] += n
        refunds = list(reversals.values_list("pk", "charge__inviting_id", "charge__invited_id"))
        for _pk, inviting_id, invited_id in refunds:
            pending[(inviting_id, invited_id)] += 1
        if not pending:
            return []
        pairs = sorted(pending)
        existing = {
            (s.inviting_id, s.invited_id): s
            for s in Statement.objects.select_for_update().filter(
                period_start=period_start, inviting_id__in={a for a, _ in pairs}, invited_id__in={b for _, b in pairs}
            )
        }
        missing = [p for p in pairs if p not in existing]
        accounts = _payee_accounts({b for _, b in missing}) if missing else {}
        now = timezone.now()
        created = Statement.objects.bulk_create([
            Statement(inviting_id=a, invited_id=b, period_start=period_start, period_end=rules.last_day(period_start),
                      drafted_at=now, payee_account=accounts.get(b))
            for a, b in missing
        ])
        statements = {**existing, **{(s.inviting_id, s.invited_id): s for s in created}}
        drafts = [(pair, statements[pair]) for pair in pairs if statements[pair].state == StatementState.DRAFT]
        if not drafts:
            return []
        # Link the charges: each to its pair's draft of this month, in one UPDATE.
        draft = Statement.objects.filter(period_start=period_start, state=StatementState.DRAFT,
                                         inviting_id=OuterRef("inviting_id"), invited_id=OuterRef("invited_id"))
        charges.filter(Exists(draft)).update(statement_id=Subquery(draft.values("pk")[:1]))
        # Link the refunds (few): one UPDATE choosing each one's statement.
        by_statement: dict[int, list[int]] = defaultdict(list)
        for pk, inviting_id, invited_id in refunds:
            statement = statements.get((inviting_id, invited_id))
            if statement is not None and statement.state == StatementState.DRAFT:
                by_statement[statement.pk].append(pk)
        if by_statement:
            ChargeReversal.objects.filter(pk__in=[pk for ids in by_statement.values() for pk in ids], statement__isnull=True).update(
                statement_id=Case(*[When(pk__in=ids, then=Value(sid)) for sid, ids in by_statement.items()])
            )
        drafted = [statement for _, statement in drafts]
        _store_totals_many(drafted)
        fresh = {s.pk for s in created}
        audit_events_append_many([
            {"actor": None, "event_type": EventType.BILLING_STATEMENT_DRAFT, "obj": statement, "facility_ids": [a, b],
             "details": {"period": f"{period_start:%Y-%m}", "created": statement.pk in fresh, "attached": pending[(a, b)],
                         "fee_total_fen": statement.fee_total_fen, "invited_share_total_fen": statement.invited_share_total_fen}}
            for (a, b), statement in drafts
        ])
    return drafted
