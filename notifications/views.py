"""The 通知设置 page (issue 12), under the user's own menu: a user sees and changes only their own."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from telemed.pages import submit

from . import selectors, services
from .forms import PreferenceForm


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    preference = selectors.preference_of(request.user)
    form = PreferenceForm(request.POST or None, preference=preference)
    saved = submit(form, lambda **_data: services.notification_preference_update(actor=request.user, **form.service_kwargs()))
    if saved is not None:
        messages.success(request, _("通知设置已保存。"))
        return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form})
