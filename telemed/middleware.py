"""Refuse request input that no view can use before it reaches one.

A NUL character in a query parameter (``?id=%00``) can never be a valid filter value, and
PostgreSQL refuses it in any text it is compared with: the request is answered 400 ``invalid_query``
here (the API's error contract, or the error page), not with a database error deep in a view.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render
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
