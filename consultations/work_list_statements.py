"""Issue 11: the work lists' two statements on consultations — the tab counts and the page's rows —
for facility staff, compiled once per shape and run with the request's values.

Through the ORM each request built both querysets again (the side's condition, the JL-O2 grant
subqueries, the rows' five name subqueries and two JL-F5 ``Exists``) and compiled them: several times
their round trips. The statements depend on the request only through the user's facility ids, the
user's id and the time (the JL-O2 review period, ``ConsultationQuerySet.qc_granted``); everything else
— the side, the tab's states, how many facilities — is the statement's shape. Each shape is built by
the same selectors as before (``ConsultationQuerySet.staff_on_side``, ``list_rows.values``) with
stand-in values that no request has, compiled by Django once per database, and the stand-ins' places
among its parameters replaced by the request's values. A shape whose stand-ins are not each found in
their places is refused, never run. ``tests/consultations/test_work_list_statements.py`` checks that
the text and parameters are Django's own for the request and that they read the same rows.

Only facility staff without a search take this path (``ConsultationQuerySet.staff_only``); a search,
a regulator or an administrator takes the ORM as before.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from types import SimpleNamespace

from django.db import connections
from django.db.models import Count
from django.db.models.expressions import RawSQL
from django.utils import timezone

from telemed.db_rows import converted as converted_row

from . import list_rows
from .choices import ConsultationState, ObligationState
from .models import Consultation, Obligation

_FACILITY_MARK = -7_340_100  # facility i of the shape stands as _FACILITY_MARK - i (no facility has such an id)
_USER_MARK = -7_340_099  # no user has this id
_NOW_MARK = dt.datetime(2000, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple
    facility_at: tuple[tuple[int, int], ...]  # (parameter index, facility index)
    user_at: tuple[int, ...]
    now_at: tuple[int, ...]
    fields: tuple  # the selected expressions, for the backend's converters

    def bind(self, connection, facility_ids: list[int], user_id: int) -> list:
        bound = list(self.params)
        for at, i in self.facility_at:
            bound[at] = facility_ids[i]
        for at in self.user_at:
            bound[at] = user_id
        if self.now_at:
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            for at in self.now_at:
                bound[at] = now
        return bound


def _compile(queryset, alias: str, facilities: int, *, converted: bool = True) -> Statement:
    """``queryset`` (built with the stand-ins) compiled for ``alias``, with the stand-ins' places;
    ``converted``: keep the selected expressions for the backend's converters."""
    connection = connections[alias]
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    now = connection.ops.adapt_datetimefield_value(_NOW_MARK)
    facility_at, user_at, now_at = [], [], []
    for at, value in enumerate(params):
        if value == now and isinstance(value, type(now)):
            now_at.append(at)
        elif isinstance(value, int) and value == _USER_MARK:
            user_at.append(at)
        elif isinstance(value, int) and _FACILITY_MARK - facilities < value <= _FACILITY_MARK:
            facility_at.append((at, _FACILITY_MARK - value))
    found = {i for _at, i in facility_at}
    if found != set(range(facilities)) or any(
        sum(1 for _at, j in facility_at if j == i) != len(facility_at) // facilities for i in range(facilities)
    ):
        raise RuntimeError("the work list's statement does not have a place for each facility")
    if bool(user_at) != bool(now_at):  # both come with the JL-O2 grant condition, and only with it
        raise RuntimeError("the work list's statement has the user without the time, or the time without the user")
    fields = tuple(s[0] for s in compiler.select[: compiler.col_count]) if converted else ()
    return Statement(sql, tuple(params), tuple(facility_at), tuple(user_at), tuple(now_at), fields)


def _compile_count(queryset, alias: str, facilities: int) -> Statement:
    """``queryset.count()``'s statement for a plain ``queryset`` (no join, no annotation): the
    ``COUNT(*)`` Django writes for it, its condition compiled with the stand-ins."""
    query = queryset.query
    if query.annotations or any(n for a, n in query.alias_refcount.items() if a != query.get_meta().db_table):
        raise RuntimeError("only a plain queryset's count is compiled")
    compiler = query.get_compiler(using=alias)
    where, params = compiler.compile(query.where)
    qn = connections[alias].ops.quote_name
    # The text is the ORM's (quoted names, the compiled condition); every value is a parameter.
    sql = f"SELECT COUNT(*) AS {qn('__count')} FROM {qn(query.get_meta().db_table)} WHERE {where}"  # noqa: S608
    return _compile(_Compiled(sql, params), alias, facilities, converted=False)


class _Compiled:
    """A statement already compiled, for ``_compile``."""

    def __init__(self, sql: str, params):
        self.query = self
        self.select, self.col_count, self._compiled = (), 0, (sql, tuple(params))

    def get_compiler(self, using):
        return self

    def as_sql(self):
        return self._compiled


def _stand_in(side: str, states: tuple[str, ...], facilities: int):
    ids = [_FACILITY_MARK - i for i in range(facilities)]
    user = SimpleNamespace(pk=_USER_MARK)
    return lambda alias, states=states: Consultation.objects.using(alias).staff_on_side(
        ids, user=user, side=side, states=states, now=_NOW_MARK
    )


def capped_counts_sql(queryset, alias: str, cap: int) -> tuple[str, list]:
    """The statement of the capped tab counts of ``queryset`` (the side's visible requests): for each
    state, ``COUNT(*)`` of at most ``cap + 1`` of its rows (``LIMIT``), so that each state stops after
    ``cap + 1`` entries of the side's ``(facility, state)`` index — on the invited side that index
    carries ``inviting_id`` and ``id`` too, which the drafts' visibility reads (drafts stay home unless
    a JL-O2 grant names one; migration 0013). The condition is written once, correlated with a list
    of the states (written once per state, the JL-O2 grant subqueries cost more to plan than to run).
    Rows (state, n), n ≤ cap + 1."""
    qn = connections[alias].ops.quote_name
    states = ConsultationState.values
    rows = queryset.filter(state=RawSQL(f"{qn('states')}.{qn('state')}", ())).order_by().values_list("pk")[: cap + 1]  # noqa: S611 - a quoted alias
    sub_sql, sub_params = rows.query.get_compiler(using=alias).as_sql()
    listed = " UNION ALL ".join(f"SELECT %s AS {qn('state')}" for _state in states)
    sql = (
        f"SELECT {qn('states')}.{qn('state')}, (SELECT COUNT(*) FROM ({sub_sql}) {qn('capped')}) AS {qn('n')} "  # noqa: S608 - the ORM's compiled text
        f"FROM ({listed}) {qn('states')}"
    )
    return sql, [*sub_params, *states]


@functools.lru_cache(maxsize=64)
def _counts_statement(alias: str, vendor: str, side: str, facilities: int, cap: int) -> Statement:
    """The tab counts, capped (``capped_counts_sql``)."""
    sql, params = capped_counts_sql(_stand_in(side, (), facilities)(alias), alias, cap)
    return _compile(_Compiled(sql, params), alias, facilities, converted=False)  # a state and an integer


@functools.lru_cache(maxsize=64)
def _tab_count_statement(alias: str, vendor: str, side: str, states: tuple[str, ...], facilities: int) -> Statement:
    """The exact count of a tab's requests, per state (for the paginator of a tab past the cap)."""
    queryset = _stand_in(side, states, facilities)(alias).order_by().values_list("state").annotate(n=Count("*"))
    return _compile(queryset, alias, facilities, converted=False)


@functools.lru_cache(maxsize=128)
def _rows_statement(alias: str, vendor: str, side: str, states: tuple[str, ...], facilities: int) -> Statement:
    """The page's rows (``list_rows.FIELDS``) in the list's order, without the page's ``LIMIT``."""
    from .selectors import work_list_order

    queryset = work_list_order(_stand_in(side, states, facilities)(alias), side=side)
    return _compile(list_rows.values(queryset), alias, facilities)


def forget() -> None:
    """Compile every shape again (tests that replace ``ConsultationQuerySet.qc_granted``)."""
    _counts_statement.cache_clear()
    _tab_count_statement.cache_clear()
    _rows_statement.cache_clear()
    _obligations_statement.cache_clear()


@functools.lru_cache(maxsize=16)
def _obligations_statement(alias: str, vendor: str, facilities: int) -> Statement:
    """The open JL-C2 obligations of the facilities (index ``obligation_facility_state_idx``)."""
    ids = [_FACILITY_MARK - i for i in range(facilities)]
    return _compile_count(
        Obligation.objects.using(alias).filter(facility_id__in=ids, state=ObligationState.OPEN), alias, facilities
    )


def _run(statement: Statement, alias: str, bound: list, suffix: str = "") -> list[tuple]:
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(statement.sql + suffix, bound)
        rows = cursor.fetchall()
    converters = []
    for i, expression in enumerate(statement.fields):
        functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if functions:
            converters.append((i, functions, expression))
    if not converters:
        return rows
    return [tuple(converted_row(row, converters, connection)) for row in rows]


def state_counts(*, user, side: str, facility_ids: list[int]) -> dict[str, int]:
    """How many requests ``user`` (``ConsultationQuerySet.staff_only``) sees in each state on ``side``,
    each at most ``list_rows.TAB_COUNT_CAP + 1``; states without any are left out."""
    alias = Consultation.objects.db
    connection = connections[alias]
    statement = _counts_statement(alias, connection.vendor, side, len(facility_ids), list_rows.TAB_COUNT_CAP)
    return {state: n for state, n in _run(statement, alias, statement.bind(connection, facility_ids, user.pk)) if n}


def tab_count(*, user, side: str, states: tuple[str, ...], facility_ids: list[int]) -> int:
    """How many requests ``user`` (``ConsultationQuerySet.staff_only``) sees in ``states`` on ``side``, exactly."""
    alias = Consultation.objects.db
    connection = connections[alias]
    statement = _tab_count_statement(alias, connection.vendor, side, tuple(states), len(facility_ids))
    return sum(n for _state, n in _run(statement, alias, statement.bind(connection, facility_ids, user.pk)))


def open_obligation_count(*, user, facility_ids: list[int]) -> int:
    """How many open JL-C2 obligations the facilities of ``user`` (``ConsultationQuerySet.staff_only``:
    ``Obligation.objects.visible_to`` is theirs) have, on the inviting side's tab."""
    alias = Obligation.objects.db
    connection = connections[alias]
    statement = _obligations_statement(alias, connection.vendor, len(facility_ids))
    return _run(statement, alias, statement.bind(connection, facility_ids, user.pk))[0][0]


class WorkRows:
    """The page's rows for Django's ``Paginator`` (its count is given): ``[a:b]``, one statement, rows
    as ``list_rows.values`` reads them."""

    ordered = True

    def __init__(self, *, user, side: str, states, facility_ids: list[int]):
        self.alias = Consultation.objects.db
        connection = connections[self.alias]
        self.statement = _rows_statement(self.alias, connection.vendor, side, tuple(states), len(facility_ids))
        self.bound = self.statement.bind(connection, facility_ids, user.pk)

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step is not None or (index.start or 0) < 0 or (index.stop or 0) < 0:
            raise TypeError("only [low:high] slices of the work list's rows")
        low, high = index.start or 0, index.stop
        if high is not None and high <= low:
            return []
        suffix = ""
        if low or high is not None:
            suffix = " " + connections[self.alias].ops.limit_offset_sql(low, high)
        return _run(self.statement, self.alias, self.bound, suffix)

    def __iter__(self):
        return iter(self[0:None])
