"""Refuse request input that no view can use before it reaches one; mark what leaves as private.

A NUL character in a query parameter (``?id=%00``) can never be a valid filter value, and
PostgreSQL refuses it in any text it is compared with: the request is answered 400 ``invalid_query``
here (the API's error contract, or the error page), not with a database error deep in a view.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
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


def _declared_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0  # as Django reads it: an unreadable length reads nothing


def _refusal(request, error):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": error.code, "message": error.message, "extra": error.extra},
            status=error.status, json_dumps_params={"ensure_ascii": False},
        )
    return render(request, "413.html", {"message": error.message}, status=error.status)


class RequestSizeMiddleware:
    """JL-A2, JL-C5: a body too large is refused before it is read — 413 in the error contract.

    - The declared ``Content-Length`` is compared first, before a byte of the body is read: a
      multipart upload may carry ``TELEMED_MAX_UPLOAD_BYTES`` of files plus
      ``DATA_UPLOAD_MAX_MEMORY_SIZE`` of fields and framing (``upload_too_large``); any other body
      ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``body_too_large``).
    - Within that, the files stream through ``telemed.files.UploadLimitHandler``, which stops at
      ``TELEMED_MAX_UPLOAD_BYTES``. A page's upload is parsed here, so that its refusal is a page
      with the message rather than an error inside the CSRF check (which reads the form next); the
      API's uploads are parsed by DRF and refused by its exception handler.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from .errors import body_too_large  # here: telemed.errors imports DRF
        from .files import UploadTooLarge

        length = _declared_length(request)
        body_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        multipart = request.content_type == "multipart/form-data"
        if multipart and length > settings.TELEMED_MAX_UPLOAD_BYTES + body_limit:
            return _refusal(request, UploadTooLarge(settings.TELEMED_MAX_UPLOAD_BYTES))
        if not multipart and length > body_limit:
            return _refusal(request, body_too_large())
        if multipart and request.method == "POST" and not request.path.startswith("/api/"):
            try:
                request.POST  # noqa: B018 - parse now, through the upload handlers
            except UploadTooLarge as error:
                request._mark_post_parse_error()  # nothing later parses the half-read body again
                return _refusal(request, error)
            except RequestDataTooBig:
                request._mark_post_parse_error()
                return _refusal(request, body_too_large())
        return self.get_response(request)
