"""The DRF parsers of the partner API (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import parsers


def json_depth(value) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0, ``[]`` is 1); no recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a nesting limit (``settings.TELEMED_JSON_MAX_DEPTH``).

    A body nested deeper than Python can parse (``[[[[…`` 100,000 levels) raises RecursionError
    inside ``json.load``; it and anything merely deeper than the limit are refused as
    ``json_too_deep`` (400) rather than a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.TELEMED_JSON_MAX_DEPTH
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
            depth = None
        else:
            depth = json_depth(data)
        if depth is None or depth > limit:
            from .errors import ApplicationError  # here: telemed.errors imports DRF, which imports this

            raise ApplicationError(
                "json_too_deep",
                _("请求内容的 JSON 嵌套层数超过上限（%(limit)d 层）。") % {"limit": limit},
                {"max_depth": limit},
            )
        return data
