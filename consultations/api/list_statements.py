"""Issue 11: the partner API's list (``GET /api/v1/consultations/``) compiles its scope once a request.

The page-number list runs two statements with the same ``WHERE`` — the page's ``COUNT(*)`` and the
page's rows. Through the ORM each compiled that condition again (``visible_to``'s scope, with its
two grant subqueries re-resolved at every compilation), and the rows' 25 columns and 4 joins were set
up and compiled again at every request although they never change. Here the condition is compiled
once a request, from the queryset ``consultation_list`` built (the same ``visible_to``, the same
filters), and put into two statements: the ``COUNT(*)`` Django writes for ``queryset.count()`` (the
consultations alone, no join) and the rows' ``SELECT`` of ``ConsultationListRows.columns``, whose
text around the condition is compiled once a process per database. Rows come back as the same named
tuples as ``values_list(*columns, named=True)``, through the backend's converters.

Only a plain queryset of consultations qualifies: no join in its condition (a search by patient name
joins the patients), no annotation, no ``distinct``, no slice, ordered by ``-created_at`` as the
selector orders it. Anything else — and the sync cursor, which filters further — takes the ORM as
before (``ConsultationListRows.rows``). ``tests/consultations/test_api_list_statements.py`` checks
that both statements are Django's own, text and parameters, and read the same rows.
"""

from __future__ import annotations

import functools

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models.utils import create_namedtuple_class

from ..models import Consultation

_WHERE_MARK = "telemed_list_where_mark = 1"  # where the request's condition goes in the compiled text


@functools.lru_cache(maxsize=8)
def _rows_statement(alias: str, vendor: str, columns: tuple[str, ...]) -> tuple[str, str, str, tuple]:
    """The rows' ``SELECT … FROM … JOIN …`` and ``ORDER BY`` around a slot for the condition, and the
    selected expressions (for the backend's converters): compiled once per database."""
    base = Consultation.objects.using(alias).order_by("-created_at").values_list(*columns, named=True)
    # A constant marker, no request value: the slot where the compiled condition goes.
    marked = base.extra(where=[_WHERE_MARK]).query.get_compiler(using=alias)  # noqa: S610
    sql, params = marked.as_sql()
    mark = f"WHERE ({_WHERE_MARK})"
    if params or sql.count(mark) != 1:
        raise RuntimeError("the list's statement does not have one place for its condition")
    head, tail = sql.split(mark)
    unfiltered, params = base.query.get_compiler(using=alias).as_sql()
    if params or unfiltered not in (head + tail.lstrip(" "), head.rstrip(" ") + tail):
        raise RuntimeError("the list's statement changes with its condition")
    return head + "WHERE ", tail, unfiltered, tuple(s[0] for s in marked.select[: marked.col_count])


class CompiledRows:
    """The list's rows for Django's ``Paginator``: ``count()``, ``[a:b]`` and iteration, each one statement."""

    ordered = True  # by -created_at (the Paginator's warning)

    def __init__(self, queryset, columns: tuple[str, ...]):
        self.model = Consultation
        self.columns = columns
        self.db = queryset.db
        query = queryset.query.chain()  # compiling resolves the grant subqueries again: not on the caller's query
        self.compiler = query.get_compiler(using=self.db)
        self.connection = connections[self.db]
        try:
            self.where, self.params = self.compiler.compile(query.where)
        except EmptyResultSet:
            self.where, self.params = None, ()
        except FullResultSet:
            self.where, self.params = "", ()
        self.table = query.get_meta().db_table

    @classmethod
    def applies_to(cls, queryset) -> bool:
        query = queryset.query
        return (
            query.model is Consultation and not query.is_sliced and not query.combinator and not query.distinct
            and not query.annotations and not query.extra and not query.extra_order_by and not query.values_select
            and not query.select and query.default_cols and not query.select_for_update
            and tuple(query.order_by) == ("-created_at",)
            # no join in the condition (a join set up and trimmed again stays in the map, unreferenced)
            and all(count == 0 for alias, count in query.alias_refcount.items() if alias != query.get_meta().db_table)
            and not query.where.contains_aggregate and not query.where.contains_over_clause
        )

    def count(self) -> int:
        if self.where is None:
            return 0
        qn = self.connection.ops.quote_name
        # The text is the ORM's (quoted names, the compiled condition); every value is a parameter.
        sql = f"SELECT COUNT(*) AS {qn('__count')} FROM {qn(self.table)}"  # noqa: S608
        if self.where:
            sql += f" WHERE {self.where}"
        with self.connection.cursor() as cursor:
            cursor.execute(sql, self.params)
            return cursor.fetchone()[0]

    def _fetch(self, low: int = 0, high: int | None = None) -> list:
        if self.where is None or (high is not None and high <= low):
            return []
        head, tail, unfiltered, fields = _rows_statement(self.db, self.connection.vendor, self.columns)
        sql = head + self.where + tail if self.where else unfiltered
        if low or high is not None:
            sql += " " + self.connection.ops.limit_offset_sql(low, high)
        with self.connection.cursor() as cursor:
            cursor.execute(sql, self.params)
            rows = cursor.fetchall()
        converters = self.compiler.get_converters(fields)
        if converters:
            rows = self.compiler.apply_converters(rows, converters)
        row_class = create_namedtuple_class(*self.columns)
        return [row_class(*row) for row in rows]

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step is not None or (index.start or 0) < 0 or (index.stop or 0) < 0:
            raise TypeError("only [low:high] slices of the list's rows")
        return self._fetch(index.start or 0, index.stop)

    def __iter__(self):
        return iter(self._fetch())

    def __len__(self):
        return self.count()
