"""The DRF side of the FHIR R4 facade (issue 14): renderer, base read/search view, CapabilityStatement.

A resource is one ``FhirResourceView`` subclass in its app (``consultations/api/fhir.py``,
``facilities/api/fhir.py``) declaring:

- ``resource_type`` and ``queryset(request)``: the rows the user may see — the same
  ``visible_to(user)`` as the REST API (STYLE 3, JL-O1), so an out-of-scope id is a 404 exactly like
  a missing one;
- ``search_params``: the type's search parameters (``SearchParam``: name, FHIR type, what it does);
  ``_id``, ``_lastUpdated`` (when ``last_updated`` names a field) and ``_count`` are added here;
- ``resource(row, request)``: the row as a JSON-ready FHIR resource (pure mapping in the app's
  ``fhir.py``);
- ``log_read`` / ``log_search``: the JL-C8 access log of a resource that shows patient data.

Searches answer a Bundle ``searchset`` ordered by ``(last_updated, id)`` (or ``id``) and paged with a
keyset cursor (``Bundle.link`` ``next`` carrying ``_cursor``, signed like the REST sync cursors;
``self`` always): a deep page costs what the first costs, no ``COUNT``, no ``total``. Every error is an
``OperationOutcome`` (``application/fhir+json``) with the portal's stable code in
``issue.details.coding`` and the Chinese message in ``diagnostics``: a bad parameter 400
``fhir_parameter_invalid`` / ``fhir_parameter_unknown`` / ``cursor_invalid``, an unknown or
out-of-scope id 404 ``not_found`` (the two identical), no credentials 401, a missing OAuth scope 403
``scope_insufficient``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from telemed.errors import ApplicationError
from telemed.pagination import cursor_invalid, decode_cursor, encode_cursor

from . import search

# --- Rendering -----------------------------------------------------------------------------------


class FhirJSONRenderer(JSONRenderer):
    media_type = search.FHIR_MEDIA_TYPE
    format = "fhir"
    charset = "utf-8"


class FhirNegotiation(BaseContentNegotiation):
    """A FHIR endpoint answers in FHIR JSON whatever the ``Accept`` header (``*/*``,
    ``application/json`` and ``application/fhir+json`` all get it)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


# --- Search parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchParam:
    """One search parameter of a resource type, as implemented and as the CapabilityStatement
    publishes it. ``apply(queryset, value)`` narrows the rows (raise ``search.SearchError`` for a
    value it cannot read); a parameter given twice is applied twice (AND)."""

    name: str
    type: str  # FHIR search parameter type: token, reference, date, string, number
    documentation: str
    apply: Callable
    target: str = ""  # reference parameters: the resource type referred to
    example: str = "1"  # a well-formed value (the tests ask every parameter with it)
    pattern: str = ""  # what ``apply`` takes, for the OpenAPI schema (issue 14); "" when it takes anything


def reference_param(name: str, target: str, field: str, documentation: str) -> SearchParam:
    """``name=12`` or ``name=<target>/12``: rows whose ``field`` is that id."""

    def apply(queryset, value):
        text = value.strip()
        if "/" in text and text.rsplit("/", 1)[0].rsplit("/", 1)[-1] != target:
            raise search.SearchError(_("%(name)s 参数只接受 %(target)s 引用：%(value)s") % {"name": name, "target": target, "value": value})
        return queryset.filter(**{field: search.parse_id(name, text)})

    return SearchParam(name, "reference", documentation, apply, target, example=f"{target}/1")


#: A token value ``apply`` reads (issue 14): blank (no filter), or one whose last code, after its last
#: ``|`` (the system), is not blank; with ``values``, one of those codes (a subset: ``a,b`` is taken too).
CODE_PATTERN = "^(\\s*|[^\\u0000]*[^\\s,|\\u0000][^,|\\u0000]*)$"
KNOWN_CODE_PATTERN = "^\\s*(([^,|\\u0000]*\\|)?({codes}))?\\s*$"


def token_param(name: str, field: str, documentation: str, codes: Callable[[str], list[str]] | None = None, *,
                example: str = "1", values: tuple[str, ...] = ()) -> SearchParam:
    """``name=code`` (comma = or): rows whose ``field`` is one of the codes (``codes`` maps a FHIR
    code to the stored values, e.g. a Task status to the portal's states; ``values`` lists the codes it
    knows, for the schema)."""
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", v) for v in values), values
    pattern = KNOWN_CODE_PATTERN.format(codes="|".join(values)) if values else CODE_PATTERN

    def apply(queryset, value):
        wanted = []
        for token in value.split(","):
            token = token.strip().rpartition("|")[2]
            if token:
                wanted += codes(token) if codes else [token]
        if not wanted and value.strip():
            raise search.SearchError(_("%(name)s 参数的取值无法识别：%(value)s") % {"name": name, "value": value})
        return queryset.filter(**{f"{field}__in": wanted})

    return SearchParam(name, "token", documentation, apply, example=example,
                       pattern=pattern if values or not codes else "")


RESULT_PARAMS = ("_count", "_cursor", "_format", "purpose")  # not search parameters, but accepted


# --- The base view -------------------------------------------------------------------------------


class FhirResourceView(APIView):
    """Read, vread (when ``versioned``) and search of one resource type; see the module docstring."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [FhirJSONRenderer]
    content_negotiation_class = FhirNegotiation

    resource_type = ""
    last_updated: str | None = None  # the field or annotation behind meta.lastUpdated and _lastUpdated
    search_params: tuple[SearchParam, ...] = ()
    versioned = False  # vread at <type>/<id>/_history/<version>
    lookup = "pk"  # the field that holds the resource's id
    logged_when_empty: tuple[str, ...] = ()  # parameters whose search is logged even when nothing is found
    interaction = "search"  # set per route by ``routes()``

    # --- to implement per resource ---

    def queryset(self, request):
        raise NotImplementedError

    def resource(self, row, request) -> dict:
        raise NotImplementedError

    def version_row(self, request, row, version: int):
        """The row of one version (``versioned`` types), or None."""
        return None

    def log_read(self, request, row) -> None:
        """JL-C8: a resource that shows patient data writes ``record.view`` (override)."""

    def log_search(self, request, rows: list) -> None:
        """JL-C8: a search that shows patient data writes ``record.list`` naming the rows (override)."""

    def check_read(self, request, row) -> None:
        """A refusal before a row is shown (JL-C8: a sealed record read without a purpose)."""

    def check_search(self, request, rows: list) -> None:
        """A refusal before a page of rows is shown."""

    # --- the interactions ---

    def get(self, request, pk: int | None = None, version: int | None = None):
        if self.interaction == "search":
            return self.search(request)
        if pk > search.MAX_ID or (version or 0) > search.MAX_ID:
            raise Http404
        row = self.queryset(request).filter(**{self.lookup: pk}).first()
        if row is None:
            raise Http404
        if self.interaction == "vread":
            row = self.version_row(request, row, version)
            if row is None:
                raise Http404
        self.check_read(request, row)
        resource = self.resource(row, request)
        self.log_read(request, row)
        return Response(resource)

    def all_params(self) -> list[SearchParam]:
        params = [reference_param("_id", self.resource_type, self.lookup, _("资源 id"))]
        if self.last_updated:
            field = self.last_updated

            def last_updated(queryset, value):
                bound = search.parse_date(value, local_zone=settings.TIME_ZONE)
                return queryset.filter(search.date_range_filter(bound, field))

            params.append(SearchParam("_lastUpdated", "date", _("meta.lastUpdated，前缀 ge/le/gt/lt/eq/ne，可重复（如 _lastUpdated=ge2026-12-01&_lastUpdated=lt2026-12-08）"),
                                      last_updated, example="ge2026-12-01"))
        return [*params, *self.search_params]

    def search(self, request):
        params = {p.name: p for p in self.all_params()}
        query = request.query_params
        queryset = self.queryset(request)
        try:
            unknown = sorted(name for name in query if name not in params and name not in RESULT_PARAMS)
            if unknown:
                raise ApplicationError(
                    "fhir_parameter_unknown",
                    _("不支持的查询参数：%(names)s（支持的参数见 /api/v1/fhir/metadata）") % {"names": "、".join(unknown)},
                    {"parameters": unknown},
                )
            for name in query:
                if name in params:
                    for value in query.getlist(name):
                        queryset = params[name].apply(queryset, value)
            count = search.parse_count(query.get("_count"))
        except search.SearchError as error:
            raise ApplicationError("fhir_parameter_invalid", str(error), {}) from error
        order = (self.last_updated, "pk") if self.last_updated else ("pk",)
        if query.get("_cursor"):
            queryset = queryset.filter(self._after(decode_cursor(query["_cursor"], kind=self._cursor_kind())))
        rows = list(queryset.order_by(*order)[: count + 1])
        more, rows = len(rows) > count, rows[:count]
        self.check_search(request, rows)
        links = {"self": request.build_absolute_uri()}
        if more:
            links["next"] = self._next_url(request, rows[-1], count)
        resources = [self.resource(row, request) for row in rows]
        if rows or any(query.get(name, "").strip() for name in self.logged_when_empty):
            self.log_search(request, rows)
        return Response(search.searchset(resources=resources, total=None, base_url=self._base(request), links=links))

    # --- paging ---

    def _cursor_kind(self) -> str:
        return f"fhir:{self.resource_type}"

    def _after(self, state: dict) -> Q:
        try:
            pk = int(state["i"])
            if not self.last_updated:
                return Q(pk__gt=pk)
            moment = datetime.fromisoformat(state["t"])
        except (KeyError, TypeError, ValueError):
            raise cursor_invalid() from None
        return Q(**{f"{self.last_updated}__gt": moment}) | Q(**{self.last_updated: moment, "pk__gt": pk})

    def _next_url(self, request, last, count: int) -> str:
        state = {"i": last.pk}
        if self.last_updated:
            state["t"] = getattr(last, self.last_updated).astimezone(UTC).isoformat()
        kept = [(k, v) for k in request.query_params if k not in ("_cursor", "_count") for v in request.query_params.getlist(k)]
        kept += [("_count", str(count)), ("_cursor", encode_cursor(state, kind=self._cursor_kind()))]
        return f"{self._base(request)}?{urlencode(kept)}"

    def _base(self, request) -> str:
        return request.build_absolute_uri(reverse(f"fhir-api:{self.resource_type.lower()}-search"))

    # --- errors: OperationOutcome ---

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        data = response.data if isinstance(response.data, dict) else {}
        response.data = search.operation_outcome(
            status=response.status_code, code=str(data.get("code", "error")), message=str(data.get("message", "")),
        )
        return response


# --- OpenAPI and routes --------------------------------------------------------------------------

ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome：参数无效（fhir_parameter_invalid、fhir_parameter_unknown、cursor_invalid），封存病历未写明目的（JL-C8）"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome：not_authenticated"),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome：scope_insufficient（对接应用缺少授权范围）"),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome：not_found（不存在或不在管辖范围内，两者相同）"),
}
PARAM_TYPES = {"number": int}
#: What the parsers of ``telemed.fhir.search`` accept, stated in the schema (issue 14: a value the server
#: refuses with 400 fhir_parameter_invalid must be outside the schema). A subset where the rule is wider:
#: ids of at most 18 digits (``parse_id`` takes up to 2**63-1), dates of the years 1000–2999 without a
#: 29th–31st day (``parse_date`` refuses 2026-02-30 only once it reads the calendar).
DATE_PATTERN = (
    "^(eq|ne|gt|lt|ge|le)?[12][0-9]{3}(-(0[1-9]|1[0-2])(-(0[1-9]|1[0-9]|2[0-8])"
    "(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?)?)?)?$"
)


def _param_schema(param: SearchParam):
    if param.pattern:
        return {"type": "string", "pattern": param.pattern}
    if param.type == "reference":
        return {"type": "string", "pattern": f"^({re.escape(param.target)}/)?[0-9]{{1,18}}$"}
    if param.type == "date":  # repeatable
        return {"type": "array", "items": {"type": "string", "pattern": DATE_PATTERN}}
    return PARAM_TYPES.get(param.type, str)


def _view(resource_cls: type[FhirResourceView], interaction: str):
    name = resource_cls.resource_type
    if interaction == "search":
        parameters = [
            OpenApiParameter(p.name, _param_schema(p), description=p.documentation)
            for p in resource_cls().all_params()
        ] + [
            OpenApiParameter("_count", {"type": "integer", "minimum": 1}, description=_("每页条数（默认 %(d)d，最多 %(m)d）") % {"d": search.DEFAULT_COUNT, "m": search.MAX_COUNT}),
            OpenApiParameter("_cursor", str, description=_("Bundle.link next 中的游标（不透明）；无效为 400 cursor_invalid")),
        ]
        ok = OpenApiResponse(OpenApiTypes.OBJECT, description=f"FHIR R4 Bundle (searchset) of {name}")
    else:
        parameters = []
        ok = OpenApiResponse(OpenApiTypes.OBJECT, description=f"FHIR R4 {name}")
    if getattr(resource_cls, "patient_data", False):
        parameters.append(OpenApiParameter("purpose", str, description=_("JL-C8: 调阅目的；封存的病历必填（否则 400 JL-C8），记入调阅日志")))

    def get(self, request, pk: int | None = None, version: int | None = None):
        return FhirResourceView.get(self, request, pk=pk, version=version)

    get = extend_schema(
        operation_id=f"fhir_{name.lower()}_{interaction}", parameters=parameters, tags=["fhir"],
        responses={200: ok, **ERRORS}, description=resource_cls.__doc__ or "",
    )(get)
    return type(f"{resource_cls.__name__}{interaction.title()}", (resource_cls,), {"get": get, "interaction": interaction}).as_view()


def routes(resource_classes) -> list:
    """The URL patterns of the given resource views (FHIR's own URL form, no trailing slash)."""
    from django.urls import path

    patterns = []
    for cls in resource_classes:
        name, key = cls.resource_type, cls.resource_type.lower()
        patterns.append(path(f"fhir/{name}", _view(cls, "search"), name=f"{key}-search"))
        patterns.append(path(f"fhir/{name}/<int:pk>", _view(cls, "read"), name=f"{key}-read"))
        if cls.versioned:
            patterns.append(path(f"fhir/{name}/<int:pk>/_history/<int:version>", _view(cls, "vread"), name=f"{key}-vread"))
    return patterns
