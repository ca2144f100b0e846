"""Issue 14: the partner API's sync mode for long lists — keyset ("cursor") pagination.

Page numbers stay the default answer of every list (v1 is additive only, docs/api-changelog.md).
A list whose view uses ``SyncPagination`` switches to the cursor mode when the request has any of
``pagination=cursor``, ``updated_since=<ISO 8601 with offset>`` or ``cursor=<opaque>``:

- rows are ordered by ``(updated_at, id)`` and read with a keyset condition — a deep page costs the
  same queries as the first (no ``COUNT``, no ``OFFSET``; index ``(updated_at, id)``);
- the first request fixes a window ``(updated_since, until]`` with ``until`` = now minus
  ``SETTLE`` (so that a write whose transaction has not committed yet cannot fall behind the
  window); the cursor carries the window and the last ``(updated_at, id)`` delivered, signed;
- **the guarantee**: within one run (first page to ``next: null``) every row whose last change
  lies in the window is delivered exactly once, even if rows change while the partner pages — a
  row changed during the run leaves this window (its ``updated_at`` is now past ``until``) and is
  delivered by the next run, started with ``updated_since`` = this run's ``next_updated_since``.
  Nothing is skipped between runs either, because consecutive windows meet exactly.
- a cursor that was not issued here (edited, truncated, from another list) is ``400``
  ``cursor_invalid``; a bad ``updated_since`` is ``400`` ``updated_since_invalid``; a bad
  ``page_size`` is ``400`` ``page_size_invalid``.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.core import signing
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .errors import ApplicationError

SETTLE = dt.timedelta(seconds=30)  # how long a write may take to commit after its stamp
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_SALT = "telemed.pagination.cursor"
CURSOR_PARAMS = ("pagination", "updated_since", "cursor", "page_size")


def cursor_mode_requested(params) -> bool:
    return params.get("pagination") == "cursor" or bool(params.get("updated_since")) or bool(params.get("cursor"))


def cursor_invalid() -> ApplicationError:
    return ApplicationError("cursor_invalid", _("翻页游标无效或已损坏，请从第一页重新同步。"), {"parameter": "cursor"})


def encode_cursor(payload: dict, *, kind: str) -> str:
    return signing.dumps({**payload, "k": kind}, salt=_SALT, compress=True)


def decode_cursor(value: str, *, kind: str) -> dict:
    try:
        payload = signing.loads(value, salt=_SALT)
    except signing.BadSignature:
        raise cursor_invalid() from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise cursor_invalid()
    return payload


def cursor_page_size(params) -> int:
    if "page_size" not in params:
        return DEFAULT_PAGE_SIZE
    value = (params.get("page_size") or "").strip()  # sent empty is refused like any non-integer (issue 14)
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise ApplicationError(
            "page_size_invalid", _("每页条数须为 1 至 %(max)d 的整数。") % {"max": MAX_PAGE_SIZE}, {"parameter": "page_size"}
        )
    return int(value)


def _parse_time(value: str) -> dt.datetime:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or timezone.is_naive(parsed):
        raise ApplicationError(
            "updated_since_invalid",
            _("updated_since 须为带时区的 ISO 8601 时间，例如 2026-12-01T08:00:00+08:00。"),
            {"parameter": "updated_since"},
        )
    return parsed


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


class PageNumberPagination(pagination.PageNumberPagination):
    """The API's page numbers (``DEFAULT_PAGINATION_CLASS``): ``?page=`` sent empty is 400 ``invalid``
    (issue 14: the schema says an integer; it used to be read as page 1). A page past the end stays 404."""

    def paginate_queryset(self, queryset, request, view=None):
        if self.page_query_param in request.query_params and not request.query_params[self.page_query_param].strip():
            raise ValidationError({self.page_query_param: [_("请提供页码，或不带该参数。")]})
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response_schema(self, schema):
        """The links' examples are this portal's addresses, not the library's ``api.example.org``."""
        answer = super().get_paginated_response_schema(schema)
        props = answer["properties"]
        props["count"]["example"] = 123
        props["next"]["example"] = "https://telemed.jl.gov.cn/api/v1/consultations/?page=4"
        props["previous"]["example"] = "https://telemed.jl.gov.cn/api/v1/consultations/?page=2"
        return answer


class SyncPagination(PageNumberPagination):
    """Page numbers by default; the keyset sync mode on request (module docstring)."""

    cursor_kind = "sync"

    def paginate_queryset(self, queryset, request, view=None):
        self.cursor_mode = cursor_mode_requested(request.query_params)
        if not self.cursor_mode:
            cursor_page_size(request.query_params)  # issue 14: a page_size the schema refuses is 400 here too
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        params = request.query_params
        size = cursor_page_size(params)
        kind = f"{self.cursor_kind}:{queryset.model._meta.label_lower}"
        if params.get("cursor"):
            state = decode_cursor(params["cursor"], kind=kind)
            try:
                since, until = dt.datetime.fromisoformat(state["s"]), dt.datetime.fromisoformat(state["u"])
                after = (dt.datetime.fromisoformat(state["t"]), int(state["i"]))
            except (KeyError, TypeError, ValueError):
                raise cursor_invalid() from None
        else:
            since = _parse_time(params["updated_since"]) if params.get("updated_since") else EPOCH
            until, after = timezone.now() - SETTLE, None
        rows = queryset.filter(updated_at__gt=since, updated_at__lte=until)
        if after is not None:
            rows = rows.filter(Q(updated_at__gt=after[0]) | Q(updated_at=after[0], pk__gt=after[1]))
        page = list(rows.order_by("updated_at", "pk")[: size + 1])
        self.until = until
        self.next_cursor = None
        if len(page) > size:
            page = page[:size]
            last = page[-1]
            self.next_cursor = encode_cursor(
                {"s": _iso(since), "u": _iso(until), "t": _iso(last.updated_at), "i": last.pk}, kind=kind
            )
        return page

    def _next_link(self) -> str | None:
        if self.next_cursor is None:
            return None
        kept = [(k, v) for k in self.request.query_params if k not in CURSOR_PARAMS for v in self.request.query_params.getlist(k)]
        size = self.request.query_params.get("page_size")
        kept += [("cursor", self.next_cursor)] + ([("page_size", size)] if size else [])
        return self.request.build_absolute_uri(self.request.path) + "?" + urlencode(kept)

    def get_paginated_response(self, data):
        if not getattr(self, "cursor_mode", False):
            return super().get_paginated_response(data)
        return Response({"next": self._next_link(), "next_updated_since": _iso(self.until), "results": data})

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["required"] = ["results"]
        answer["properties"]["count"]["description"] = "总条数（仅页码模式；游标模式无此字段）"
        answer["properties"]["previous"]["description"] = "上一页（仅页码模式）"
        answer["properties"]["next"]["description"] = "下一页地址；游标模式下为 null 即本轮同步结束"
        answer["properties"]["next_updated_since"] = {
            "type": "string", "format": "date-time",
            "description": "游标模式：本轮同步窗口的上界；本轮结束后下一轮以 updated_since=此值 开始（不漏不重）",
        }
        return answer

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {"name": "pagination", "required": False, "in": "query", "schema": {"type": "string", "enum": ["cursor"]},
             "description": "cursor：按 (updated_at, id) 的游标翻页（同步模式）；默认页码模式"},
            {"name": "updated_since", "required": False, "in": "query", "schema": {"type": "string", "format": "date-time"},
             "description": "只列此时间之后变更的记录（启用游标模式）；格式错误为 400 updated_since_invalid"},
            {"name": "cursor", "required": False, "in": "query", "schema": {"type": "string"},
             "description": "上一页 next 中的游标（不透明）；无效为 400 cursor_invalid"},
            {"name": "page_size", "required": False, "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
             "description": f"游标模式每页条数（默认 {DEFAULT_PAGE_SIZE}）；无效为 400 page_size_invalid"},
        ]
