"""Uploaded files: hashing and size limits shared by every app that stores evidence."""

from __future__ import annotations

import hashlib

from django.utils.translation import gettext as _

from .errors import ApplicationError

MAX_EVIDENCE_BYTES = 50 * 1024 * 1024


def sha256_of(upload) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(65536), b""):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def require_file(upload, *, label: str, max_bytes: int = MAX_EVIDENCE_BYTES) -> str:
    """Refuse a missing, empty or oversized file with a clear message; return its SHA-256."""
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
    return sha256_of(upload)
