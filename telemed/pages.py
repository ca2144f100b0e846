"""HTML plumbing shared by every app's pages (STYLE 4: pages show the error contract's message).

Views stay thin: read through a scoped selector (``found``: out of scope is a 404), write through
one service (``submit``: a refusal becomes the form's errors, a role refusal the 403 page), and
serve stored files only through access-checked views (``stream``).
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _

from .errors import ApplicationError

PAGE_SIZE = 25


def found(selector, **kwargs):
    """Call a detail selector; an object outside the user's scope is simply not found."""
    try:
        return selector(**kwargs)
    except ObjectDoesNotExist:
        raise Http404(_("未找到该对象，或它不在您的管辖范围内。")) from None


def paginate(request, queryset, per_page: int = PAGE_SIZE, *, count: int | None = None):
    """One page of ``queryset``. ``count``: the number of rows when the caller already knows it (a
    work list's tab counts), so that the paginator does not count them again (issue 11)."""
    paginator = Paginator(queryset, per_page)
    if count is not None:
        paginator.count = count  # the cached property's value, known already
    return paginator.get_page(request.GET.get("page"))


def filter_values(form) -> dict:
    """The cleaned values of a GET filter form; no filter at all when it is empty or invalid."""
    return form.cleaned_data if form.is_bound and form.is_valid() else {}


def reason_texts(error: ApplicationError) -> list[str]:
    return [r["text"] for r in error.extra.get("reasons", []) if isinstance(r, dict) and r.get("text")]


def raise_if_denied(error: ApplicationError) -> None:
    """A role refusal is the 403 page with the service's message, not a form error."""
    if error.code == "permission_denied" or error.status == 403:
        raise PermissionDenied(error.message) from error


def error_texts(error: ApplicationError) -> list[str]:
    """The message, then every reason it cites (the message is left out when it is only those
    reasons joined, so nothing is said twice)."""
    texts = reason_texts(error)
    return texts if error.message == "；".join(texts) else [error.message, *texts]


def submit(form, write):
    """Validate ``form`` and call ``write(**cleaned_data)``; return its result, or None.

    A refusal becomes the form's non-field errors and the user's input stays in the form.
    """
    if not form.is_bound or not form.is_valid():
        return None
    try:
        return write(**form.cleaned_data)
    except ApplicationError as error:
        raise_if_denied(error)
        for text in error_texts(error):
            form.add_error(None, text)
        return None


def stream(field, filename: str) -> FileResponse:
    """Stream a stored file as a download (never a public media URL); a lost file is a 404."""
    if not field:
        raise Http404(_("文件不存在。"))
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        raise Http404(_("文件不存在。")) from None
    return FileResponse(handle, as_attachment=True, filename=filename)
