"""Uploaded files on S3-compatible object storage, encrypted by the portal (issue 11, docs/scaling.md).

A separate module so that only a deployment that chooses it (``TELEMED_FILE_STORAGE=
telemed.s3storage.EncryptedS3Storage``) imports boto3.
"""

from __future__ import annotations

import io
import tempfile

from django.core.files.base import File
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from .storage import MAGIC, MAX_HEADER_BYTES, EncryptedStorageMixin, _read_header, _Sealing


class EncryptedS3Storage(EncryptedStorageMixin, S3Storage):
    """Uploaded files on S3-compatible object storage (issue 11, docs/scaling.md), encrypted by the
    portal before they leave it, exactly as on disk (JL-A2): the object store never sees plain
    medical documents, whatever its own server-side encryption does. Configured by the
    ``TELEMED_S3_*`` settings (telemed/settings.py)."""

    SPOOL_BYTES = 4 * 1024 * 1024  # a larger stored file is spooled to a temporary file, not memory

    def _spool(self, chunks):
        spool = tempfile.SpooledTemporaryFile(max_size=self.SPOOL_BYTES)  # noqa: SIM115 - returned
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        return spool

    def _save(self, name, content):
        with self._spool(_Sealing(content).chunks()) as sealed:
            return super()._save(name, File(sealed, name))

    def url(self, name, parameters=None, expire=None, http_method=None):
        # The object holds ciphertext: files reach users only through the portal's own views, which
        # check who may read them and log it (JL-C8), never through a direct object-store link.
        raise NotImplementedError("JL-A2: encrypted files are served by the portal's views, not by URL")

    def _object(self, name):
        return self.bucket.Object(self._normalize_name(clean_name(name)))

    def _raw_open(self, name):
        spool = tempfile.SpooledTemporaryFile(max_size=self.SPOOL_BYTES)  # noqa: SIM115 - handed to the reader
        try:
            self._object(name).download_fileobj(spool)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def _raw_head(self, name) -> tuple[bytes | None, int]:
        obj = self._object(name)
        start = obj.get(Range=f"bytes=0-{MAX_HEADER_BYTES + len(MAGIC)}")["Body"].read()
        return _read_header(io.BytesIO(start)), obj.content_length

    def _raw_replace(self, name, chunks) -> None:
        # One PUT of the whole object: S3 replaces an object atomically, readers see old or new.
        with self._spool(chunks) as sealed:
            self._object(name).upload_fileobj(sealed)

    def _raw_names(self):
        prefix = self._normalize_name("")
        prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        for summary in self.bucket.objects.filter(Prefix=prefix):
            name = summary.key[len(prefix):]
            if name and not name.rsplit("/", 1)[-1].startswith("."):
                yield name
