from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from drf_spectacular.views import SpectacularRedocView

from audit.records import record_list_access
from consultations.selectors import home_work_summary
from facilities.selectors import home_summary

from .scope import Scope


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


@method_decorator(csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]}), name="dispatch")
class ApiDocsView(SpectacularRedocView):
    """The API reference (Redoc, from drf-spectacular-sidecar's static files).

    JL-A2: Redoc styles itself with ``<style>`` elements it writes at run time and runs its search in a
    worker made from a ``blob:`` URL, so this one page — static, with no patient data — adds
    ``style-src 'unsafe-inline'`` and ``worker-src blob:`` to the portal's policy. Scripts stay
    ``'self'`` only.
    """
