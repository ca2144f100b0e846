"""Hand-written multi-row INSERTs for the province-scale batch writers (issue 11).

``bulk_create`` prepares every value of every row through its field (``pre_save``, ``get_db_prep_save``)
and needs a model instance per row: for the JL-C2 sweep's 500 violations, their audit events, the
notices and their deliveries that was most of the sweep's time, more than the database's. The writers
here already hold plain, valid values (their rules ran before), so they insert tuples: one statement
per chunk, only datetimes and JSON adapted, ``RETURNING`` what the caller needs, in row order.

``instances`` gives back model instances of rows just written, as ``Model.from_db`` would have
loaded them, without ``__init__``'s per-field work — for code that reads attributes of what was
written (the webhook outbox, ``post_save`` listeners).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import connection, models
from django.db.models.base import ModelState

# PostgreSQL takes at most 65,535 parameters in one statement, SQLite (3.32 and later) 32,766.
MAX_PARAMETERS = 32_000


def _json(value):
    return json.dumps(value, ensure_ascii=False)


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence], *,
                returning: Sequence[str] = ("id",), skip_conflicts: bool = False) -> list[tuple]:
    """INSERT ``rows`` (tuples in the order of ``columns``, field attnames) into ``model``'s table.

    ``columns`` must name every concrete field but an automatic primary key: a column left out would
    get no default (the database has none; Django supplies them), so forgetting one is a bug, raised
    before anything is written. ``skip_conflicts``: ``ON CONFLICT DO NOTHING`` — a row that breaks a
    unique constraint (a dedupe key already there) is left out of the table and of the result. Returns
    the ``returning`` columns of the inserted rows, in the order of ``rows``."""
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    missing = {f.attname for f in meta.concrete_fields if f is not meta.auto_field} - {f.attname for f in fields}
    if missing:
        raise ValueError(f"insert_rows({meta.label}): no value for {', '.join(sorted(missing))}")
    if not rows:
        return []
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608 - the model's own names
    tail = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    if returning:
        tail += " RETURNING " + ", ".join(quote(meta.get_field(name).column) for name in returning)
    if connection.vendor == "postgresql":
        # One array per column, each sent as one text literal: the server parses 9 parameters, not
        # 2,000 rows of them — half the time of a VALUES list (and Django's UNNEST of adapted lists).
        # ``unnest`` yields the rows in order, and so does ``RETURNING``.
        arrays = [_array_literal(f, column) for f, column in zip(fields, zip(*rows, strict=True), strict=True)]
        casts = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        with connection.cursor() as cursor:
            cursor.execute(f"{head}SELECT * FROM unnest({casts}){tail}", arrays)  # noqa: S608 - names and types from the model
            return cursor.fetchall() if returning else []
    adapters = [
        connection.ops.adapt_datetimefield_value if isinstance(f, models.DateTimeField)
        else _json if isinstance(f, models.JSONField) else None
        for f in fields
    ]
    adapted = [i for i, adapt in enumerate(adapters) if adapt is not None]
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    per_statement = max(1, MAX_PARAMETERS // len(fields))
    result: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start:start + per_statement]
            params: list = []
            for row in chunk:
                if adapted:
                    row = list(row)
                    for i in adapted:
                        if row[i] is not None:
                            row[i] = adapters[i](row[i])
                params.extend(row)
            cursor.execute(head + "VALUES " + ", ".join([one] * len(chunk)) + tail, params)  # noqa: S608 - placeholders only
            if returning:
                result.extend(cursor.fetchall())
    return result


def _array_literal(field, values) -> str:
    r"""PostgreSQL's text form of a one-dimensional array of ``field``'s values: ``{"a","b",NULL}``,
    every element quoted (numbers and booleans read the same quoted), ``"`` and ``\`` escaped."""
    if isinstance(field, models.JSONField):
        text = _json
    elif isinstance(field, (models.DateTimeField, models.DateField, models.TimeField)):
        text = _isoformat
    else:
        text = str
    return "{" + ",".join(
        "NULL" if v is None else '"' + text(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
    ) + "}"


def _isoformat(value) -> str:
    return value.isoformat()


def instances(model: type[models.Model], rows: Sequence[dict]) -> list[models.Model]:
    """Instances of rows just written (each dict holds every concrete field's attname, the primary
    key included), as loaded from the database: not ``adding``, bound to the default connection."""
    attnames = {f.attname for f in model._meta.concrete_fields}
    made = []
    for values in rows:
        missing = attnames - values.keys()
        if missing:  # an attribute left out would be loaded from the database on first read
            raise ValueError(f"instances({model._meta.label}): no value for {', '.join(sorted(missing))}")
        obj = model.__new__(model)
        state = obj._state = ModelState()
        state.adding, state.db = False, connection.alias
        obj.__dict__.update(values)
        made.append(obj)
    return made
