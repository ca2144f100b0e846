"""Refuse request input that no view can use before it reaches one; mark what leaves as private.

A NUL character in a query parameter (``?id=%00``) can never be a valid filter value, and
PostgreSQL refuses it in any text it is compared with: the request is answered 400 ``invalid_query``
here (the API's error contract, or the error page), not with a database error deep in a view.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _


def _refused_parameters(query) -> list[str]:
    names = []
    for key, values in query.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            names.append(key.replace("\x00", ""))
    return names


class RequestInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refused = _refused_parameters(request.GET)
        if refused:
            message = _("请求参数含有不允许的字符（NUL），请检查：%(names)s。") % {"names": "、".join(refused) or "?"}
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"code": "invalid_query", "message": message, "extra": {"parameters": refused}},
                    status=400, json_dumps_params={"ensure_ascii": False},
                )
            return render(request, "400.html", {"message": message}, status=400)
        return self.get_response(request)


class ResponseHeadersMiddleware:
    """JL-A2, JL-C8: what no browser or proxy may keep, and what the page may not use.

    Every answer of the portal's own views — pages, the API, downloads and exports — may carry
    patient data, so none may be stored by a browser or a shared cache: ``Cache-Control: no-store``
    (with Django's never-cache companions) and ``Pragma: no-cache``. Static files never get here
    (WhiteNoise answers them first) and keep their long cache life. Every answer also carries the
    ``Permissions-Policy`` (``TELEMED_PERMISSIONS_POLICY``): camera, microphone, location, payment …
    off.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Cache-Control" in response:
            del response["Cache-Control"]  # a view's own caching never outlives the rule above
        add_never_cache_headers(response)
        response["Pragma"] = "no-cache"
        response.setdefault("Permissions-Policy", settings.TELEMED_PERMISSIONS_POLICY)
        return response
