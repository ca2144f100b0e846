"""The walk over every URL pattern, shared by the tests that must not forget a route.

``tests/audit/test_access_log.py`` (JL-C8: which routes log an access), ``tests/telemed/
test_detail_scope.py`` (JL-O1: which routes name an object) and ``tests/telemed/
test_permission_matrix.py`` (JL-O1, JL-A2: every route × every role) all walk the same tree, so
that a route added anywhere is seen by all three.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

ID_LIKE = ("pk", "id")
MISSING = 999_999  # an id no fixture world reaches


def id_like(name: str) -> bool:
    """A URL keyword that names an object: ``pk``, ``id``, ``*_pk``, ``*_id``."""
    return name in ID_LIKE or name.endswith(("_pk", "_id"))


def walk(patterns=None, namespace: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    """Every URL pattern as (key, namespace, pattern), includes followed: the key is
    ``namespace:name``, or the view's dotted path for an unnamed pattern."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else (entry.namespace or namespace)
            yield from walk(entry.url_patterns, inner or "")
        elif isinstance(entry, URLPattern):
            name = entry.name or f"<unnamed {entry.lookup_str}>"
            yield (f"{namespace}:{name}" if namespace else name), namespace, entry


def keywords(pattern: URLPattern) -> list[str]:
    return list(pattern.pattern.regex.groupindex)
