import re
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext

from audit.records import record_list_access
from consultations.selectors import home_work_summary
from facilities.selectors import home_summary

from .scope import Scope
from .text import clean_text


@login_required
def home(request):
    """The start page. Its work panel lists patients by name (open JL-C2 obligations for staff, the
    latest violations for regulators), so showing it is a list access to them (JL-C8), logged here:
    reads are logged by the view, never by the template that renders them."""
    work = home_work_summary(user=request.user)
    for what, rows in (("consultations.obligation", work["obligations"]), ("consultations.violation", work["violations"])):
        if rows:
            record_list_access(actor=request.user, what=what, rows=rows, filters={"panel": "home"})
    context = {**home_summary(user=request.user, scope=Scope.of(request.user)), "work": work}
    return render(request, "home.html", context)


def healthz(request):
    """Liveness for docker compose and load balancers: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _api_error(request, code: str, message: str, status: int):
    return JsonResponse({"code": code, "message": message, "extra": {}}, status=status, json_dumps_params={"ensure_ascii": False})


def page_not_found(request, exception=None):
    """404: the API keeps its error contract; pages get the portal's own 404 page."""
    if request.path.startswith("/api/"):
        return _api_error(request, "not_found", gettext("未找到该对象，或它不在您的管辖范围内。"), 404)
    return render(request, "404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return _api_error(request, "server_error", gettext("服务器内部错误，已记录，请稍后重试。"), 500)
    return render(request, "500.html", status=500)


# A form posted with a stale token (the user logged in again in another window, or the page was open
# across a logout) is refused by Django's CSRF check. Instead of Django's raw page, the portal says what
# happened and keeps what was typed. It offers to send the same values again only when the post came
# from the portal's own pages (Origin or Referer of this host): a forged cross-site post gets the page
# without the button, so the refusal cannot be turned into a one-click confirmation.
_FOREIGN_REASONS = ("Origin checking failed", "Referer checking failed")  # django.middleware.csrf REASON_*
_SECRET_FIELD = re.compile(r"password|passwd|secret|token|otp|code", re.IGNORECASE)


def _same_origin(request) -> bool:
    own = f"{request.scheme}://{request.get_host()}"
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin == own
    referer = urlsplit(request.headers.get("Referer", ""))
    return bool(referer.scheme) and f"{referer.scheme}://{referer.netloc}" == own


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the API keeps its error contract; pages keep the user's input."""
    if request.path.startswith("/api/"):
        return _api_error(request, "csrf_failed", gettext("请求校验失败（CSRF），请刷新后重试。"), 403)
    kept, withheld = [], []
    if request.method == "POST":
        for name in request.POST:
            if name == "csrfmiddlewaretoken":
                continue
            if _SECRET_FIELD.search(name):
                withheld.append(name)
                continue
            kept.extend((name, clean_text(value)) for value in request.POST.getlist(name))
    resubmit = bool(kept) and not str(reason).startswith(_FOREIGN_REASONS) and _same_origin(request) and request.user.is_authenticated
    context = {
        "kept": kept,
        "withheld": withheld,
        "files_dropped": bool(request.FILES) if request.method == "POST" else False,
        "resubmit": resubmit,
        "action": request.path,
    }
    return render(request, "csrf_failure.html", context, status=403)
