"""Two-factor sign-in pages (JL-A2, 8.1.4.1 d): the code step, enrolment, the 双重认证 page.

Thin: the checks, the devices and the audit events are in ``facilities.twofactor``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from . import signin, twofactor


def _next(request) -> str:
    return twofactor.safe_next(request, request.POST.get("next") or request.GET.get("next"))


@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request):
    """The second step: the 6-digit code from the authenticator (or a recovery code)."""
    if request.user.is_verified():
        return redirect(_next(request))
    if twofactor.totp_device(request.user) is None:
        return redirect("otp-enrol")
    error = None
    if request.method == "POST":
        if twofactor.is_locked(request):
            logout(request)
            return signin.lockout_response(request)
        outcome = twofactor.verify(request=request, code=request.POST.get("otp_token", ""))
        if outcome in ("ok", "recovery"):
            if outcome == "recovery":
                messages.warning(request, _("您使用了一个恢复码，它已失效。恢复码用完前请在“双重认证”页面重新生成。"))
            return redirect(_next(request))
        if getattr(request, "axes_locked_out", False):  # this wrong code reached the limit
            logout(request)
            return signin.lockout_response(request)
        error = twofactor.throttled_message() if outcome == "throttled" else twofactor.wrong_code_message()
    return render(request, "registration/otp_verify.html", {"error": error, "next": _next(request)},
                  status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def otp_enrol(request):
    """Enrolment: a QR code drawn here and the key as text; confirmed with a code; then the recovery
    codes, shown once. A user who already has a device passes the code step first."""
    user = request.user
    if twofactor.totp_device(user) is not None and not user.is_verified():
        return redirect("otp-verify")
    device = twofactor.enrolment_device(user)
    error = None
    if request.method == "POST":
        codes = twofactor.enrolment_confirm(request=request, device=device, code=request.POST.get("otp_token", "").strip())
        if codes is not None:
            return render(request, "registration/otp_recovery_codes.html", {"codes": codes, "next": _next(request)})
        error = twofactor.wrong_code_message()
    context = {
        "qr": twofactor.qr_data_uri(device), "secret": twofactor.secret_text(device), "error": error,
        "next": _next(request), "required": twofactor.required_for(user),
    }
    return render(request, "registration/otp_enrol.html", context, status=400 if error else 200)


@login_required
@require_http_methods(["GET"])
def two_factor(request):
    """双重认证: whether the user has a device, whether their role requires one, a way to enrol."""
    user = request.user
    context = {
        "device": twofactor.totp_device(user), "required": twofactor.required_for(user),
        "verified": user.is_verified(),
    }
    return render(request, "facilities/two_factor.html", context)
