"""Sign-in pages (JL-A2): password change (old password checked through axes), lockouts and their release.

Thin like the other pages: the writes and the audit events are in ``facilities.signin``.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from telemed.pages import submit

from . import signin


class PortalPasswordChangeForm(PasswordChangeForm):
    """Django's form, in Chinese, whose old password is checked by ``authenticate`` with the
    request: a wrong one counts toward the lockout (JL-A2) and a locked account cannot use it."""

    error_messages = {
        **PasswordChangeForm.error_messages,
        "password_incorrect": gettext_lazy("原密码不正确，请重新输入。"),
        "password_mismatch": gettext_lazy("两次输入的新密码不一致。"),
    }

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)
        self.fields["old_password"].label = _("原密码")
        self.fields["new_password1"].label = _("新密码")
        self.fields["new_password2"].label = _("再次输入新密码")
        self.required_css_class = "required"

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        user = authenticate(self.request, username=self.user.get_username(), password=old_password)
        if getattr(self.request, "axes_locked_out", False):
            raise ValidationError(signin.lockout_message(), code="account_locked")
        if user is None or user.pk != self.user.pk:
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PortalPasswordChangeForm
    template_name = "registration/password_change.html"
    success_url = reverse_lazy("password_change_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        response = super().form_valid(form)
        signin.password_changed_record(actor=self.request.user, request=self.request)
        return response

    def form_invalid(self, form):
        refused = [
            error for field in ("new_password1", "new_password2") for error in form.errors.as_data().get(field, [])
            if error.code != "password_mismatch"
        ]
        if refused:  # the new password failed a JL-A2 rule: on record, by rule code, never the password
            signin.password_refused_record(
                actor=self.request.user, request=self.request,
                codes=[error.code for error in refused], messages_=[" ".join(error.messages) for error in refused],
            )
        return super().form_invalid(form)


class ReleaseForm(forms.Form):
    """Input shape only: what is missing or wrong is refused by ``signin.lockout_release`` with its
    rule, shown above the table (the page has no visible field to mark)."""

    kind = forms.CharField(required=False, max_length=20)
    value = forms.CharField(required=False, max_length=255)
    reason = forms.CharField(label=gettext_lazy("解锁理由"), required=False, max_length=2000)


def _require_security_administrator(request) -> None:
    if not signin.may_release_lockouts(request.user):
        raise PermissionDenied(_("JL-A2 等保三级 8.1.4.1: 只有安全管理员可以查看和解除登录锁定。"))


def _page(request, form, status: int = 200):
    context = {
        "lockouts": signin.lockouts_current(), "form": form,
        "lockout_limit": settings.TELEMED_LOCKOUT_FAILURES, "lockout_minutes": settings.TELEMED_LOCKOUT_WINDOW_MINUTES,
    }
    return render(request, "facilities/lockout_list.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def lockout_list(request):
    _require_security_administrator(request)
    return _page(request, ReleaseForm())


@login_required
@require_POST
def lockout_release(request):
    form = ReleaseForm(request.POST)
    done = submit(form, lambda **data: signin.lockout_release(actor=request.user, **data))  # a refusal: 403 or form errors
    if done is not None:
        messages.success(request, _("已解除锁定：%(value)s。") % {"value": form.cleaned_data["value"]})
        return redirect("facilities:lockout-list")
    _require_security_administrator(request)
    return _page(request, form, status=400)
