"""Uploaded files: one check for every upload in the portal (JL-C5, art. 29).

Case documents, consent and agreement signed copies, accreditation evidence, allocation policy
documents: each is judged here by its real type (its first bytes, never its name or the browser's
claim), its size, and its name. A Windows program renamed ``.pdf`` is refused; so is HTML or SVG
(a browser would run its script) even though it is text. The stored name loses control,
direction-override and zero-width characters (``报告‮fdp.exe`` would show as ``报告exe.pdf``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .errors import ApplicationError
from .text import clean_text

ALLOWED_TYPES = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/tiff": "TIFF",
    "application/dicom": "DICOM",
    "text/plain": "文本",
    "text/xml": "XML（如心电 HL7 aECG）",
}
ALLOWED_TEXT = gettext_lazy("PDF、JPEG、PNG、TIFF、DICOM、文本或 XML")

# Markup a browser renders or runs. A text or XML file that contains any of it is "text/html"
# (or SVG), which no upload accepts.
_ACTIVE_MARKUP = re.compile(
    rb"<\s*(?:script|svg|html|body|iframe|frame|object|embed|img|meta|link|style|form|base|math)\b|<!doctype\s+html|javascript:",
    re.IGNORECASE,
)
_SCAN_CHUNK = 64 * 1024
_SCAN_OVERLAP = 32  # a marker split across two chunks is still found


def detect_content_type(head: bytes) -> str | None:
    """The file's real type from its first bytes (never from the name or the browser's claim)."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "application/dicom"
    if _ACTIVE_MARKUP.search(head):
        return "text/html"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<?xml"):
        return "text/xml"
    text = None
    for cut in range(4):  # the head may end inside a multi-byte character: judge by what decodes
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        return None
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "text/plain"
    return None


def _has_active_markup(upload) -> bool:
    """Scan the whole file (text can hide a ``<script>`` past its first bytes)."""
    upload.seek(0)
    tail = b""
    try:
        while chunk := upload.read(_SCAN_CHUNK):
            if _ACTIVE_MARKUP.search(tail + chunk):
                return True
            tail = chunk[-_SCAN_OVERLAP:]
    finally:
        upload.seek(0)
    return False


def content_type_of(upload) -> str | None:
    """The real type of an upload; text and XML are read to the end for active markup."""
    upload.seek(0)
    head = upload.read(512)
    upload.seek(0)
    content_type = detect_content_type(head)
    if content_type in ("text/plain", "text/xml") and _has_active_markup(upload):
        return "text/html"
    return content_type


def clean_filename(name: str) -> str:
    """The name without control, direction-override or zero-width characters (never empty)."""
    return clean_text(name or "", keep_lines=False).strip()[:255] or "upload"


def sha256_of(upload) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(65536), b""):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


@dataclass(frozen=True)
class CheckedUpload:
    sha256: str
    content_type: str
    size: int
    name: str


def check_upload(upload, *, label: str, max_bytes: int | None = None) -> CheckedUpload:
    """Refuse a missing, empty, oversized or disallowed file with a clear message.

    On success the upload's ``name`` is cleaned in place (so the stored file and its recorded
    name are clean) and its fingerprint, real type, size and name are returned.
    """
    if max_bytes is None:
        max_bytes = settings.TELEMED_MAX_UPLOAD_BYTES
    if upload is None:
        raise ApplicationError("file_missing", _("请上传%(label)s。") % {"label": label})
    size = getattr(upload, "size", None)
    if not size:
        raise ApplicationError("file_empty", _("%(label)s是空文件，请重新选择。") % {"label": label})
    if size > max_bytes:
        raise ApplicationError(
            "file_too_large",
            _("%(label)s超过 %(limit)d MB 的上限。") % {"label": label, "limit": max_bytes // (1024 * 1024)},
            {"max_bytes": max_bytes, "size": size},
        )
    content_type = content_type_of(upload)
    if content_type not in ALLOWED_TYPES:
        raise ApplicationError(
            "file_type_refused",
            _("JL-C5 第二十九条: %(label)s的文件类型无法识别或不允许，须为 %(types)s。") % {"label": label, "types": ALLOWED_TEXT},
            {"detected": content_type or "", "allowed": sorted(ALLOWED_TYPES)},
        )
    upload.name = clean_filename(upload.name)
    return CheckedUpload(sha256_of(upload), content_type, size, upload.name)


def require_file(upload, *, label: str, max_bytes: int | None = None) -> str:
    """``check_upload`` for callers that keep only the SHA-256."""
    return check_upload(upload, label=label, max_bytes=max_bytes).sha256


# --- Size limits while the body streams in (JL-A2, JL-C5) -------------------------------------------


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


class UploadTooLarge(ApplicationError):
    """JL-A2: the files of one request together exceed ``TELEMED_MAX_UPLOAD_BYTES`` (413)."""

    def __init__(self, limit: int):
        super().__init__(
            "upload_too_large",
            _("JL-A2: 上传的文件超过 %(limit)s MB 的上限，已停止接收；请缩小文件或分次上传（JL-C5 第二十九条）。")
            % {"limit": megabytes(limit)},
            {"max_bytes": limit},
            status=413,
        )


class UploadLimitHandler(FileUploadHandler):
    """First in ``FILE_UPLOAD_HANDLERS``: counts the bytes of every file as they stream in and stops
    the request as soon as they pass ``TELEMED_MAX_UPLOAD_BYTES``.

    Raising (rather than Django's ``StopUpload``, which quietly drops the file and reads on) ends the
    multipart parser at once: the rest of the body is never read, nothing more is written to memory
    or a temporary file, and the refusal reaches the error contract — the API's exception handler,
    or ``telemed.middleware.RequestSizeMiddleware`` for pages. A body that declares its length too
    large is refused by that middleware before any of it is read.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = settings.TELEMED_MAX_UPLOAD_BYTES
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            raise UploadTooLarge(self.limit)
        return raw_data  # handed on to the handler that stores the file

    def file_complete(self, file_size):
        return None  # the next handler makes the file
