"""Issue 11: the case page's rows read with statements compiled once a process.

``selectors.consultation_case_page`` read the case's participants, documents, opinions,
responsibility records and ratings with five ``prefetch_related`` lookups. Each built its queryset,
resolved its filter and compiled its joins and columns again at every request — several times the
round trips' own cost in Python — although only the case's id changes. Here each of them is the same
queryset (``ROWS``: the same model, ``select_related``, ordering and database alias), filtered on the
case's foreign key, compiled once per database with a marker for the id; a request runs the text with
its case's id and makes the model instances as Django's ``ModelIterable`` would (``from_db``, the
backend's converters, the related objects of ``select_related``). The rows are then kept on the case
as a prefetch keeps them (``_prefetched_objects_cache``, the related manager's own filtered queryset),
each row holding the case as its ``consultation``, so ``consultation.participants.all()`` asks nothing
and a further ``.filter()`` stays within the case.

``tests/consultations/test_case_statements.py`` checks that each statement is Django's own, text and
parameters, and reads the same rows, field by field, as the ORM.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models.query import get_related_populators
from django.db.models.utils import create_namedtuple_class
from django.utils import timezone

from telemed.db_rows import converted as converted_row
from telemed.scope import Scope

from .models import Consultation, Document, Opinion, Participant, Rating, ResponsibilityRecord

_ID_MARK = 917_403_226  # stands for the case's id while a statement is compiled (within a 32-bit id's range)
_NUMBER_MARK = "telemed-case-number-mark"  # stands for the case's number while the events' statement is compiled
_WHERE_MARK = "telemed_case_where_mark = 1"  # where the request's condition goes in the case's compiled text

# relation on Consultation -> the queryset that reads its rows (what the page shows of them)
ROWS = {
    "participants": lambda: Participant.objects.select_related("physician"),
    "documents": lambda: Document.objects.select_related("uploaded_by"),
    "opinions": lambda: Opinion.objects.select_related("signed_by").order_by("version"),
    "responsibilities": lambda: ResponsibilityRecord.objects.all(),
    "ratings": lambda: Rating.objects.all(),
}


def rows_queryset(relation: str, consultation_id: int, alias: str = "default"):
    """The ORM's queryset of ``relation``'s rows of one case (what the compiled statement stands for)."""
    return ROWS[relation]().using(alias).filter(consultation_id=consultation_id)


@functools.lru_cache(maxsize=32)
def _compiled(relation: str, alias: str, vendor: str):
    """``rows_queryset(relation, …)`` compiled on ``alias``: its SQL, parameters, where the id goes,
    and what ``ModelIterable`` takes from the compiler to make instances."""
    compiler = rows_queryset(relation, _ID_MARK, alias).query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    id_at = [i for i, value in enumerate(params) if value == _ID_MARK]
    if len(id_at) != 1 or compiler.klass_info is None or compiler.annotation_col_map:
        raise RuntimeError(f"the {relation} statement does not have one place for the case's id, or reads more than rows")
    return sql, tuple(params), id_at[0], *_loading(compiler, alias)


def _loading(compiler, alias: str):
    """What ``ModelIterable`` takes from a compiler to make instances: the model, its columns' span and
    attnames, each column's converters and the ``select_related`` populators."""
    select, klass_info = compiler.select, compiler.klass_info
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    init_list = tuple(column[0].target.attname for column in select[start:end])
    converters = tuple(
        (position, tuple(functions), expression)
        for position, (functions, expression) in compiler.get_converters([s[0] for s in select[: compiler.col_count]]).items()
    )
    return klass_info["model"], start, end, init_list, converters, tuple(get_related_populators(klass_info, select, alias))


@functools.lru_cache(maxsize=8)
def _case_statement(shape, alias: str, vendor: str):
    """``shape(Consultation.objects)`` compiled on ``alias`` around a slot for the request's condition."""
    # ``get()`` drops the ordering; the marker is a constant, no request value.
    marked = shape(Consultation.objects.using(alias)).order_by().extra(where=[_WHERE_MARK])  # noqa: S610
    compiler = marked.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    mark = f"WHERE ({_WHERE_MARK})"
    if sql.count(mark) != 1 or compiler.klass_info is None:
        raise RuntimeError("the case's statement does not have one place for its condition")
    head, tail = sql.split(mark)
    if head.count("%s") != len(params) or "%s" in tail:  # the annotations' own values come before the condition
        raise RuntimeError("the case's statement has values after its condition")
    return head + "WHERE ", tail, tuple(params), dict(compiler.annotation_col_map), _loading(compiler, alias)


def _plain_scope(query) -> bool:
    """A condition on the consultations alone (no join, no annotation): it fits the compiled text."""
    return (
        query.model is Consultation and not query.is_sliced and not query.combinator and not query.distinct
        and not query.annotations and not query.extra and not query.values_select and not query.select
        and query.default_cols and not query.select_for_update and not query.select_related
        and all(count == 0 for alias, count in query.alias_refcount.items() if alias != query.get_meta().db_table)
        and not query.where.contains_aggregate and not query.where.contains_over_clause
    )


def read_case(shape, scoped, pk: int) -> Consultation:
    """``shape(scoped).get(pk=pk)`` with ``shape``'s columns, joins and annotations compiled once a
    process: only ``scoped``'s condition (``visible_to``, JL-C6/JL-O2) is compiled for the request.
    A scope that joins other tables (a regulator's division) takes the ORM."""
    queryset = scoped.filter(pk=pk)
    query = queryset.query
    if not _plain_scope(query):
        return shape(scoped).get(pk=pk)
    alias = queryset.db
    try:
        where, params = query.get_compiler(using=alias).compile(query.where)
    except EmptyResultSet:
        raise Consultation.DoesNotExist("Consultation matching query does not exist.") from None
    except FullResultSet:  # never with ``pk=`` in it
        raise RuntimeError("the case's condition does not name the case") from None
    return _fetch_case(shape, alias, where, params)


def _fetch_case(shape, alias: str, where: str, params) -> Consultation:
    """Run ``shape``'s compiled statement with the request's condition and make the case of its row."""
    connection = connections[alias]
    head, tail, head_params, annotations, (model, start, end, init_list, converters, populators) = _case_statement(
        shape, alias, connection.vendor
    )
    with connection.cursor() as cursor:
        cursor.execute(head + where + tail, (*head_params, *params))
        row = cursor.fetchone()
    if row is None:
        raise Consultation.DoesNotExist("Consultation matching query does not exist.")
    row = converted_row(row, converters, connection)
    consultation = model.from_db(alias, init_list, row[start:end])
    for populator in populators:
        populator.populate(row, consultation)
    for name, position in annotations.items():
        setattr(consultation, name, row[position])
    return consultation


# --- The viewer's scope, compiled once per user and scope (issue 11) ------------------------------
# ``visible_to(user)`` (JL-C6/JL-O2) cost the case page ~1 ms to build and compile at every request,
# although for one user with the same roles only the case's id and the time of the JL-O2 review
# period change. It is compiled here twice, with two different markers for each, and kept only when
# the two texts are the same and the parameters differ exactly where the markers went: every other
# value is the user's and their scope's, both in the key. The grants themselves (django-guardian,
# the QC draws) stay subqueries, read by the database at every request.
# tests/consultations/test_case_statements.py compares the condition with the ORM's for each role.

_NOW_MARKS = (
    dt.datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=dt.UTC),
    dt.datetime(1902, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC),
)
_ID_MARKS = (_ID_MARK, _ID_MARK + 1)
_NOTHING = object()  # the scope is empty (``EmptyResultSet``): no case is visible
_ORM = object()  # the scope joins other tables or its values could not be told apart: the ORM reads
_SCOPES: dict = {}  # (alias, vendor, user id, scope) -> the compiled condition, _NOTHING or _ORM
_SCOPES_KEPT = 1024  # emptied when full: one entry per user and roles


def scope_key(user, alias: str, vendor: str) -> tuple:
    """What ``visible_to(user)`` reads besides the case's id and the time: the user's id and scope."""
    scope = Scope.of(user)
    return (alias, vendor, user.pk, scope.admin_roles, tuple(scope.facility_roles.items()), scope.regulated)


def compile_scope(user, alias: str):
    """``visible_to(user, now=…).filter(pk=…)``'s condition on ``alias``: ``(sql, params, pk_at, now_at)``
    with the positions of the case's id and of the time in ``params``; ``_NOTHING`` or ``_ORM``."""
    connection = connections[alias]
    compiled = []
    for pk, now in zip(_ID_MARKS, _NOW_MARKS, strict=True):
        query = Consultation.objects.using(alias).visible_to(user, now=now).filter(pk=pk).query
        if not _plain_scope(query):
            return _ORM
        try:
            where, params = query.get_compiler(using=alias).compile(query.where)
        except EmptyResultSet:
            return _NOTHING
        except FullResultSet:
            return _ORM
        compiled.append((where, tuple(params), connection.ops.adapt_datetimefield_value(now), pk))
    (sql_a, params_a, now_a, pk_a), (sql_b, params_b, now_b, pk_b) = compiled
    if sql_a != sql_b or len(params_a) != len(params_b):
        return _ORM
    pk_at, now_at = [], []
    for position, (a, b) in enumerate(zip(params_a, params_b, strict=True)):
        if a == b:
            continue
        if a == pk_a and b == pk_b:
            pk_at.append(position)
        elif a == now_a and b == now_b:
            now_at.append(position)
        else:
            return _ORM
    if len(pk_at) != 1:
        return _ORM
    return sql_a, params_a, pk_at[0], tuple(now_at)


def _scope_condition(user, alias: str, vendor: str):
    key = scope_key(user, alias, vendor)
    found = _SCOPES.get(key)
    if found is None:
        if len(_SCOPES) >= _SCOPES_KEPT:
            _SCOPES.clear()
        found = _SCOPES[key] = compile_scope(user, alias)
    return found


def bound_scope(condition, pk: int, now, connection) -> tuple[str, list]:
    """A compiled scope's text and its parameters with the case's id and the time ``now``."""
    sql, params, pk_at, now_at = condition
    bound = list(params)
    bound[pk_at] = Consultation._meta.pk.get_db_prep_value(pk, connection)
    at = connection.ops.adapt_datetimefield_value(now)
    for position in now_at:
        bound[position] = at
    return sql, bound


def read_visible_case(shape, user, pk: int) -> Consultation:
    """``read_case(shape, Consultation.objects.visible_to(user), pk)`` with the scope compiled once per
    user and scope (above); a scope that joins (a regulator's division) or an anonymous user takes it."""
    alias = Consultation.objects.db
    connection = connections[alias]
    if user is None or not getattr(user, "is_authenticated", False):
        return read_case(shape, Consultation.objects.visible_to(user), pk)
    condition = _scope_condition(user, alias, connection.vendor)
    if condition is _ORM:
        return read_case(shape, Consultation.objects.visible_to(user), pk)
    if condition is _NOTHING:
        raise Consultation.DoesNotExist("Consultation matching query does not exist.")
    where, params = bound_scope(condition, pk, timezone.now(), connection)
    return _fetch_case(shape, alias, where, params)


def read_rows(consultation, relations) -> None:
    """Read ``relations`` of ``consultation`` (keys of ``ROWS``), one statement each, and keep them on
    the case as ``prefetch_related`` would."""
    alias = consultation._state.db or "default"
    connection = connections[alias]
    cache = consultation.__dict__.setdefault("_prefetched_objects_cache", {})
    for relation in relations:
        sql, params, id_at, model, start, end, init_list, converters, populators = _compiled(relation, alias, connection.vendor)
        bound = list(params)
        bound[id_at] = consultation.pk
        with connection.cursor() as cursor:
            cursor.execute(sql, bound)
            fetched = cursor.fetchall()
        objects = []
        for row in fetched:
            row = converted_row(row, converters, connection)
            obj = model.from_db(alias, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            obj._state.fields_cache["consultation"] = consultation  # as the prefetch sets it
            objects.append(obj)
        cache.pop(relation, None)
        # what ``prefetch_one_level`` keeps: the related manager's filter on the lookup's queryset
        queryset = getattr(consultation, relation)._apply_rel_filters(ROWS[relation]().using(alias))
        queryset._result_cache, queryset._prefetch_done = objects, True
        cache[relation] = queryset


@functools.lru_cache(maxsize=8)
def _events_statement(build, fields: tuple[str, ...], shown: int, alias: str, vendor: str):
    """``build(Consultation(pk=…, number=…), fields, shown)`` (a ``values_list``) compiled on ``alias``
    with markers for the case's id and number: its SQL, parameters, where each marker goes, the row's
    names and each column's converters."""
    queryset = build(Consultation(pk=_ID_MARK, number=_NUMBER_MARK), fields, shown).using(alias)
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    number_at = [i for i, value in enumerate(params) if value == _NUMBER_MARK]
    pk_at = [i for i, value in enumerate(params) if value in (_ID_MARK, str(_ID_MARK))]
    if len(number_at) != 1 or len(pk_at) != 1:
        raise RuntimeError("the events' statement does not have one place for the case's id and one for its number")
    query = queryset.query
    names = (*query.extra_select, *query.values_select, *query.annotation_select)
    converters = tuple(
        (position, tuple(functions), expression)
        for position, (functions, expression) in compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]]).items()
    )
    return sql, tuple(params), number_at[0], pk_at[0], type(params[pk_at[0]]), tuple(names), converters


def read_events(build, consultation, fields: tuple[str, ...], shown: int) -> list:
    """``list(build(consultation, fields, shown))`` — named rows as ``values_list(..., named=True)``
    makes them — with the statement compiled once a process (issue 11: the timeline's windows and
    their subqueries cost ~1.5 ms to build and compile at every request)."""
    alias = consultation._state.db or "default"
    connection = connections[alias]
    sql, params, number_at, pk_at, pk_type, names, converters = _events_statement(build, fields, shown, alias, connection.vendor)
    bound = list(params)
    bound[number_at], bound[pk_at] = consultation.number, pk_type(consultation.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, bound)
        fetched = cursor.fetchall()
    row_class = create_namedtuple_class(*names)
    return [row_class(*converted_row(row, converters, connection)) for row in fetched]
