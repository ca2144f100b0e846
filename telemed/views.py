import functools

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularRedocView

from audit.records import record_list_access
from consultations.selectors import home_work_summary
from consultations.violation_rows import home_panel_html
from facilities.selectors import home_summary

from .scope import Scope
from .sessions import form_fields_to_keep, same_origin, take_kept_form


@login_required
def home(request):
    """The start page. Its work panel lists patients by name (open JL-C2 obligations for staff, the
    latest violations for regulators), so showing it is a list access to them (JL-C8), logged here:
    reads are logged by the view, never by the template that renders them."""
    work = home_work_summary(user=request.user, now=timezone.now())
    listed = {
        "consultations.obligation": work["obligations"],
        "consultations.violation": work["violations"],
        # Issue 12: the expert's cases to answer and the cases waiting for the invited coordinator.
        "consultations.consultation": list({c.pk: c for c in work["assigned"] + work["waiting"]}.values()),
    }
    for what, rows in listed.items():
        if rows:
            record_list_access(actor=request.user, what=what, rows=rows, filters={"panel": "home"})
    work["violation_rows"] = home_panel_html(work["violations"])
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


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the API keeps its error contract; pages keep the user's input."""
    if request.path.startswith("/api/"):
        return _api_error(request, "csrf_failed", gettext("请求校验失败（CSRF），请刷新后重试。"), 403)
    kept, withheld = form_fields_to_keep(request.POST) if request.method == "POST" else ([], [])
    resubmit = (bool(kept) and not str(reason).startswith(_FOREIGN_REASONS) and same_origin(request)
                and request.user.is_authenticated)
    return render(request, "kept_form.html", {
        "heading": gettext("此页面已过期"),
        "explanation": gettext("提交未被接受：页面打开后您重新登录过，或在其他窗口退出过，页面上的安全校验已失效。没有保存任何内容。"),
        "kept": kept,
        "withheld": withheld,
        "files_dropped": request.method == "POST" and bool(request.FILES),
        "resubmit": resubmit,
        "action": request.path,
    }, status=403)


def session_keepalive(request):
    """"Continue" in the time-out warning: the request itself refreshes the session (JL-A2)."""
    if not request.user.is_authenticated:
        return _api_error(request, "session_expired", gettext("登录已失效，请重新登录。"), 401)
    return HttpResponse(status=204)


@login_required
def session_resume(request):
    """After a time-out, what the same user had typed into the form they posted (JL-A2)."""
    kept = take_kept_form(request)
    if kept is None:
        return redirect("home")
    return render(request, "kept_form.html", {
        "heading": gettext("重新登录后继续"),
        "explanation": gettext("您提交表单时登录已超时，内容没有保存。您填写的内容保留在下方，请核对后重新提交。"),
        "kept": [tuple(pair) for pair in kept["fields"]],
        "withheld": [],
        "files_dropped": False,
        "resubmit": True,
        "action": kept["path"],
    })


@method_decorator(csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]}), name="dispatch")
class ApiDocsView(SpectacularRedocView):
    """The API reference (Redoc, from drf-spectacular-sidecar's static files).

    JL-A2: Redoc styles itself with ``<style>`` elements it writes at run time and runs its search in a
    worker made from a ``blob:`` URL, so this one page — static, with no patient data — adds
    ``style-src 'unsafe-inline'`` and ``worker-src blob:`` to the portal's policy. Scripts stay
    ``'self'`` only. The script itself comes from :func:`redoc_script`, never the packaged file
    directly (it would fetch a logo from the internet).
    """

    @staticmethod
    def _redoc_standalone():
        return reverse("api-docs-script")


# The packaged Redoc bundle draws its "API docs by Redocly" footer with a logo fetched from Redocly's
# CDN. Hospital networks are closed and the portal loads nothing from outside, so the bundle is served
# with that one address pointing at the portal's own icon instead.
REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REDOC_REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def _redoc_bundle_without_remote_logo() -> bytes:
    path = finders.find(REDOC_BUNDLE)
    if path is None:  # pragma: no cover - a broken installation, found at start-up by the test suite
        raise LookupError(f"{REDOC_BUNDLE} is not among the static files")
    with open(path, "rb") as bundle:
        text = bundle.read().decode("utf-8")
    return text.replace(REDOC_REMOTE_LOGO, static("telemed/favicon.svg")).encode("utf-8")


@require_safe
def redoc_script(request):
    """Redoc's bundle for the API reference, with its remote logo replaced by the portal's icon."""
    return HttpResponse(_redoc_bundle_without_remote_logo(), content_type="text/javascript; charset=utf-8")
