"""Pages for administrators (issue 14): register, rotate and revoke partner applications.

Thin, over the same services as the API (STYLE 2, 3): the facility administrator sees the
applications of their facilities, a regulator those of their own division; anyone else's is a
404. A new secret is shown on the page that answers the registration or the rotation, once; no
other page shows it (every page answers no-store, telemed.middleware).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from facilities.choices import StaffRole
from facilities.models import Division, Facility
from telemed.errors import ApplicationError
from telemed.pages import paginate, raise_if_denied, submit
from telemed.scope import Scope

from . import rules, services
from .models import PartnerClient


def _owners(request) -> list[tuple[str, str]]:
    """The facilities and divisions whose applications this user administers, as choices."""
    scope = Scope.of(request.user)
    facility_ids = scope.facilities_with_role(StaffRole.FACILITY_ADMIN)
    codes = [code for code, _prefix in scope.regulated]
    if not facility_ids and not codes:
        raise PermissionDenied(_("只有机构管理员（或监管部门）可以管理对接应用。"))
    choices = [(f"f:{pk}", name) for pk, name in Facility.objects.filter(pk__in=facility_ids).order_by("name").values_list("pk", "name")]
    choices += [(f"d:{code}", f"{name}（{code}）") for code, name in Division.objects.filter(pk__in=codes).values_list("code", "name")]
    return choices


class ClientForm(forms.Form):
    owner = forms.ChoiceField(label=gettext_lazy("所属机构或区划"))
    name = forms.CharField(label=gettext_lazy("应用名称"), max_length=services.NAME_MAX,
                           help_text=gettext_lazy("例如：农安县人民医院 HIS"))
    scopes = forms.MultipleChoiceField(label=gettext_lazy("授权范围"), widget=forms.CheckboxSelectMultiple,
                                       choices=[(scope, f"{scope} — {text}") for scope, text in rules.SCOPES.items()])
    rate_per_minute = forms.IntegerField(label=gettext_lazy("每分钟请求上限"), min_value=1, required=False,
                                         help_text=gettext_lazy("留空则用平台默认值。"))
    expires_on = forms.DateField(label=gettext_lazy("有效期至（含当日）"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = list(owners)

    def cleaned_owner(self) -> dict:
        kind, _sep, key = self.cleaned_data["owner"].partition(":")
        if kind == "f":
            return {"facility": Facility.objects.get(pk=int(key))}
        return {"division": Division.objects.get(pk=key)}


def _end_of_day(day: dt.date | None) -> dt.datetime | None:
    if day is None:
        return None
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def _managed(request):
    _owners(request)
    return PartnerClient.objects.managed_by(request.user)


@login_required
def client_list(request):
    rows = _managed(request).select_related("application", "facility", "division").order_by("-created_at", "-id")
    return render(request, "oauth/client_list.html", {"page_obj": paginate(request, rows)})


@login_required
@require_http_methods(["GET", "POST"])
def client_create(request):
    owners = _owners(request)
    initial = {"owner": owners[0][0]} if len(owners) == 1 else {}
    form = ClientForm(request.POST or None, owners=owners, initial=initial)

    def register(*, owner, name, scopes, rate_per_minute, expires_on):
        return services.partner_client_register(
            actor=request.user, name=name, scopes=scopes, rate_per_minute=rate_per_minute,
            expires_at=_end_of_day(expires_on), **form.cleaned_owner(),
        )

    created = submit(form, register)
    if created is not None:
        client, secret = created
        return render(request, "oauth/client_secret.html", {"client": client, "secret": secret, "created": True})
    return render(request, "oauth/client_form.html", {"form": form})


@login_required
@require_POST
def client_rotate(request, pk: int):
    client = get_object_or_404(_managed(request).select_related("application"), pk=pk)
    try:
        secret = services.partner_client_rotate(actor=request.user, client=client)
    except ApplicationError as error:
        raise_if_denied(error)
        messages.error(request, error.message)
        return redirect("partner-clients:list")
    return render(request, "oauth/client_secret.html", {"client": client, "secret": secret, "created": False})


@login_required
@require_POST
def client_revoke(request, pk: int):
    client = get_object_or_404(_managed(request).select_related("application"), pk=pk)
    try:
        services.partner_client_revoke(actor=request.user, client=client, reason=request.POST.get("reason", ""))
        messages.success(request, _("已吊销对接应用，其访问令牌已全部失效。"))
    except ApplicationError as error:
        raise_if_denied(error)
        messages.error(request, error.message)
    return redirect("partner-clients:list")
