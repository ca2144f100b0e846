"""Rows read by a statement compiled once (issue 11: the session, the second factor's device, the case
page, the work lists), turned into the values the ORM would have given: each column's database
converters (``SQLCompiler.get_converters``, or the backend's and the field's) applied in order."""

from __future__ import annotations


def converted(row, converters, connection):
    """``row`` with ``converters`` — ``(position, functions, expression)`` triples — applied; ``row``
    itself when there is none, else a list."""
    if not converters:
        return row
    row = list(row)
    for position, functions, expression in converters:
        value = row[position]
        for convert in functions:
            value = convert(value, expression, connection)
        row[position] = value
    return row
