"""Shared DRF plumbing for every app's partner API (STYLE 3 and 4).

- ``ScopedViewSetMixin``: a viewset's rows are ``Model.objects.visible_to(request.user)`` on top of
  the view's joined queryset, so an object outside the user's scope is a 404 (``not_found``), never
  a 403.
- ``Roles`` and ``ActionRolePermission``: which staff roles (per facility, via ``Scope``) or which
  regulators may perform a write action. A wrong role is a 403 (``permission_denied``), checked
  before the request body is validated; the object-level check runs after the scoped lookup, so
  an out-of-scope object stays a 404.
- ``run_service``: calls one domain service as the requesting user. A domain refusal
  (``ApplicationError``) is not caught here; ``telemed.errors.api_exception_handler`` renders it.

The services check roles again: they are the authority, this layer only answers early and
uniformly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import IntegrityError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, permissions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.utils import html

from .errors import ApplicationError
from .scope import Scope

T = TypeVar("T")


# --- Versions: ETag and If-Match ----------------------------------------------------------------


def representation_etag(data) -> str:
    """The strong ETag of a resource's JSON representation (as the API renders it)."""
    return '"' + hashlib.sha256(JSONRenderer().render(data)).hexdigest()[:32] + '"'


def _tags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


class VersionedResourceMixin:
    """Every resource's detail answer carries an ``ETag`` (a hash of its representation for this
    user); ``If-None-Match`` with it gives 304. A write on that resource (an action on its detail
    route) with ``If-Match`` runs only if the resource still has that version, else 412
    ``precondition_failed`` with the current ETag — so a partner never acts on a case that changed
    since it last read it. It sits beside the services' compare-and-swap moves, which still decide
    races between writers."""

    def _representation_etag(self, obj) -> str:
        action = self.action
        self.action = "retrieve"  # the representation a GET of this resource returns
        try:
            serializer_class = self.get_serializer_class()
        finally:
            self.action = action
        return representation_etag(serializer_class(obj, context=self.get_serializer_context()).data)

    def check_object_permissions(self, request, obj):
        super().check_object_permissions(request, obj)
        if_match = request.headers.get("If-Match")
        if if_match and request.method not in permissions.SAFE_METHODS:
            current = self._representation_etag(obj)
            tags = _tags(if_match)
            if "*" not in tags and current not in tags:
                raise ApplicationError(
                    "precondition_failed",
                    _("该对象在您上次读取后已被修改（If-Match 不符），请重新读取后再操作。"),
                    {"etag": current}, status=412,
                )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if (request.method in ("GET", "HEAD") and getattr(self, "action", None) == "retrieve"
                and response.status_code == 200 and getattr(response, "data", None) is not None):
            etag = representation_etag(response.data)
            response["ETag"] = etag
            if etag in _tags(request.headers.get("If-None-Match", "")):
                response.status_code = 304
                response.data = None
        return response


# --- Scoping ----------------------------------------------------------------------------------


class ScopedViewSetMixin(VersionedResourceMixin):
    """``get_queryset`` = the view's ``queryset`` narrowed by the model's ``visible_to(user)``.

    Put joins (``select_related``/``prefetch_related``) on the class attribute ``queryset`` so
    every list keeps a constant number of queries. Override ``scope_queryset`` only for a model
    that has no ``ScopedQuerySet`` of its own, and scope it through one that has.
    """

    def get_queryset(self):
        return self.scope_queryset(super().get_queryset())

    def scope_queryset(self, queryset):
        return queryset.visible_to(self.request.user)

    def filter_queryset(self, queryset):
        """List filters apply to lists only: a detail action's query parameters are its own
        (``?facility=`` on a physician's qualification check must not filter the lookup)."""
        if getattr(self, "detail", False):
            return queryset
        return super().filter_queryset(queryset)


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference in a request body that resolves only among rows the user may see.

    An out-of-scope id is refused exactly like a missing one ("invalid", field error), so a
    request body cannot probe for rows outside the user's scope.
    """

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        return queryset.visible_to(getattr(request, "user", None))

    def get_value(self, dictionary):
        value = super().get_value(dictionary)
        # Issue 14: a form field cannot carry JSON null; there "null" means none (it is never an id).
        if self.allow_null and html.is_html_input(dictionary) and value == "null":
            return None
        return value


# --- Shared request bodies ---------------------------------------------------------------------


class ReasonSerializer(serializers.Serializer):
    """``{"reason"}``: the one body of every act that takes a reason (decline, cancel, withdraw,
    terminate, revoke, reverse), published once as the ``Reason`` component. Whether a reason is
    required is the service's rule, refused with its rule ID (e.g. JL-C4, JL-B2)."""

    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, help_text="原因或理由（中文）；规则要求时必填"
    )


# --- Role permissions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Roles:
    """Who may perform one write action.

    ``staff``: these roles at the object's facility.
    ``regulator``: a regulator whose division covers the object's facility (JL-O1).
    ``provincial_regulator``: the provincial health commission only.
    """

    staff: tuple[str, ...] = ()
    regulator: bool = False
    provincial_regulator: bool = False

    def may_attempt(self, scope: Scope) -> bool:
        """Before any lookup: does the user hold such a role anywhere at all?"""
        if self.staff and scope.facilities_with_role(*self.staff):
            return True
        if self.regulator and scope.is_regulator:
            return True
        return self.provincial_regulator and scope.is_provincial_regulator

    def may_act_on(self, scope: Scope, *, facility_ids: Iterable[int], division_codes: Iterable[str] = ()) -> bool:
        """For one object, owned by ``facility_ids`` located in ``division_codes``."""
        if self.staff and any(scope.has_role(fid, *self.staff) for fid in facility_ids):
            return True
        if self.regulator and any(scope.regulates(code) for code in division_codes):
            return True
        return self.provincial_regulator and scope.is_provincial_regulator


def require_roles(user, roles: Roles, *, facility_ids: Iterable[int], division_codes: Iterable[str] = ()) -> None:
    """Raise 403 ``permission_denied`` unless ``user`` may perform the action on these facilities."""
    if not roles.may_act_on(Scope.of(user), facility_ids=list(facility_ids), division_codes=list(division_codes)):
        raise exceptions.PermissionDenied()


class ActionRolePermission(permissions.BasePermission):
    """Enforce ``view.action_roles`` (``{"create": Roles(...), "terminate": Roles(...)}``).

    Actions not named there (list, retrieve, read-only extras) are open to every authenticated
    user; their rows are already scoped. For object actions the view's ``acting_on(obj)`` names
    the facilities and division codes the object belongs to.
    """

    def has_permission(self, request, view) -> bool:
        roles = getattr(view, "action_roles", {}).get(getattr(view, "action", None))
        if roles is None:
            return True
        return roles.may_attempt(Scope.of(request.user))

    def has_object_permission(self, request, view, obj) -> bool:
        roles = getattr(view, "action_roles", {}).get(getattr(view, "action", None))
        if roles is None:
            return True
        facility_ids, division_codes = view.acting_on(obj)
        return roles.may_act_on(Scope.of(request.user), facility_ids=facility_ids, division_codes=division_codes)


# --- Services ---------------------------------------------------------------------------------


def run_service(service: Callable[..., T], *, request, **kwargs: Any) -> T:
    """Call ``service(actor=request.user, **kwargs)`` (STYLE 2: the one way to write).

    ``ApplicationError`` propagates to the exception handler untouched (rule ID as ``code``,
    every failing check in ``extra.reasons``). A unique constraint lost to a concurrent request
    becomes a 409 ``conflict`` instead of a 500; the service's transaction has rolled back.
    """
    try:
        return service(actor=request.user, **kwargs)
    except IntegrityError as exc:
        raise ApplicationError("conflict", _("该记录已被其他请求修改，请刷新后重试。"), status=409) from exc


# --- Fields whose schema says what they accept (issue 14) -----------------------------------------

#: A text with something to read once trimmed and cleaned (``telemed.text``): one character that is not
#: white space, a control, a direction override or a zero-width character. As a schema ``pattern`` it makes
#: a required text of only spaces (which DRF trims to blank: 400) negative data, as it is.
VISIBLE_TEXT = r"[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"


def visible_text(**kwargs) -> serializers.CharField:
    """A required text field that must not be blank: ``pattern`` in the schema, the same check on input."""
    from django.core.validators import RegexValidator
    from django.utils.translation import gettext_lazy

    return serializers.CharField(validators=[RegexValidator(VISIBLE_TEXT, message=gettext_lazy("该字段不能为空。"))], **kwargs)


@extend_schema_field({"type": "string", "pattern": "^[0-9]{6}$", "description": "GB/T 2260 行政区划代码（6 位）"})
class DivisionCodeField(serializers.PrimaryKeyRelatedField):
    """A division named by its six-digit code (the ``Division`` key): a code not on the register is DRF's
    ``does_not_exist``, so a body whose only fault it is gets 404 ``not_found`` (telemed.errors)."""
