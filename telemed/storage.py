"""Uploaded files encrypted at rest (JL-A2; GB/T 22239-2019 8.1.4.8, GB/T 39786-2021).

Case documents, consent copies, agreement copies and accreditation evidence are medical or personal
material: the default file storage writes them as authenticated ciphertext under the same data keys
and cipher as the encrypted fields (``telemed.crypto``: AES-256-GCM, or SM4-GCM under 密评), and the
views that stream them read plain bytes as before.

A stored file is one header line and then segments::

    TMF1.<cipher id>.<key id>.<base64url(salt)>\\n
    segment 0 ‖ segment 1 ‖ … ‖ segment n-1       each = AEAD(plain[i*64 KiB : (i+1)*64 KiB]) ‖ tag

Each file has its own key, derived by HKDF from the master key and a random 16-byte salt, so the
segment number can serve as the nonce. The associated data of a segment is the header, the segment
number and whether it is the last one, so a changed, removed, reordered or appended segment — or a
file cut short — fails authentication. Opening a file first authenticates every segment, so a
download never starts on a file that would fail halfway (``UndecryptableError`` instead); then it
streams, decrypting a segment at a time.

Files written before this storage (no header) are read as they are, and
``manage.py rotate_data_key`` encrypts them and moves files on an old key onto the current one.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.files.base import File
from django.core.files.storage import FileSystemStorage

from . import crypto

MAGIC = b"TMF1"
SEGMENT_BYTES = 64 * 1024
SALT_BYTES = 16
MAX_HEADER_BYTES = 128


def _file_key(secret: bytes, cipher: str, salt: bytes) -> bytes:
    length = 16 if cipher == "sm4-gcm" else 32
    info = f"telemed file encrypt {cipher}".encode()
    return HKDF(algorithm=crypto._hash(cipher), length=length, salt=salt, info=info).derive(secret)


def _nonce(index: int) -> bytes:
    return index.to_bytes(crypto.NONCE_BYTES, "big")


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def _read_header(handle) -> bytes | None:
    """The header line if the file is one of ours, else None (the handle is left at the start)."""
    start = handle.read(len(MAGIC))
    if start != MAGIC:
        handle.seek(0)
        return None
    rest = handle.readline(MAX_HEADER_BYTES)
    if not rest.endswith(b"\n"):
        raise crypto.UndecryptableError("JL-A2: the stored file's header is damaged")
    return start + rest


class _Header:
    """What the header line says, and the file's own key."""

    def __init__(self, line: bytes):
        try:
            magic, cipher_id, key_id, salt = line.rstrip(b"\n").decode("ascii").split(".")
            salt_bytes = base64.urlsafe_b64decode(salt + "=" * (-len(salt) % 4))
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise crypto.UndecryptableError("JL-A2: the stored file's header is damaged") from None
        if cipher_id not in crypto.CIPHER_IDS or len(salt_bytes) != SALT_BYTES:
            raise crypto.UndecryptableError("JL-A2: the stored file's header is damaged")
        keys, _cipher = crypto.current()
        key = next((k for k in keys if k.id == key_id), None)
        if key is None:
            raise crypto.UndecryptableError(f"JL-A2: data key {key_id!r} is not configured")
        self.line = line
        self.cipher = crypto.CIPHER_IDS[cipher_id]
        self.key_id = key_id
        self.key = _file_key(key.secret, self.cipher, salt_bytes)


def plain_size(sealed_size: int, header_size: int) -> int:
    """The plain length of a stored file of ``sealed_size`` bytes (every segment but the last is full)."""
    body = sealed_size - header_size
    full = SEGMENT_BYTES + crypto.TAG_BYTES
    segments = max(1, -(-body // full))
    return body - segments * crypto.TAG_BYTES


class DecryptingReader(io.RawIOBase):
    """A seekable, read-only view of the plain bytes of a stored file."""

    def __init__(self, raw, header: _Header):
        self._raw = raw
        self._header = header
        self._start = len(header.line)
        raw.seek(0, os.SEEK_END)
        self._sealed = raw.tell()
        self._segments = max(1, -(-(self._sealed - self._start) // (SEGMENT_BYTES + crypto.TAG_BYTES)))
        self._size = plain_size(self._sealed, self._start)
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None
        self.name = ""  # not the stored path: its size on disk is not the plain size

    def _segment(self, index: int) -> bytes:
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        full = SEGMENT_BYTES + crypto.TAG_BYTES
        self._raw.seek(self._start + index * full)
        sealed = self._raw.read(full)
        last = index == self._segments - 1
        try:
            plain = crypto._open(self._header.cipher, self._header.key, _nonce(index), sealed, _aad(self._header.line, index, last))
        except (InvalidTag, ValueError):
            raise crypto.UndecryptableError("JL-A2: the stored file failed authentication (tampered or cut)") from None
        if not last and len(plain) != SEGMENT_BYTES:
            raise crypto.UndecryptableError("JL-A2: the stored file failed authentication (tampered or cut)")
        self._cached = (index, plain)
        return plain

    def verify(self) -> None:
        for index in range(self._segments):
            self._segment(index)
        self._cached = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        if self._pos >= self._size:
            return 0
        index, offset = divmod(self._pos, SEGMENT_BYTES)
        chunk = self._segment(index)[offset:offset + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _Sealing:
    """What ``FileSystemStorage._save`` streams to disk: the header and the sealed segments of ``content``.

    ``chunks()`` starts over (a new salt, from the start of the content) each time it is called, as
    the storage does when the name it tried was taken meanwhile.
    """

    def __init__(self, content):
        self._content = content

    def chunks(self, chunk_size=None):
        keys, cipher = crypto.current()
        key = keys[0]
        salt = secrets.token_bytes(SALT_BYTES)
        line = b".".join([
            MAGIC, crypto.CIPHERS[cipher].encode(), key.id.encode(),
            base64.urlsafe_b64encode(salt).rstrip(b"="),
        ]) + b"\n"
        file_key = _file_key(key.secret, cipher, salt)
        yield line
        if hasattr(self._content, "seek"):
            self._content.seek(0)
        index = 0
        pending = self._content.read(SEGMENT_BYTES)
        while True:
            following = self._content.read(SEGMENT_BYTES) if len(pending) == SEGMENT_BYTES else b""
            last = not following
            yield crypto._seal(cipher, file_key, _nonce(index), pending, _aad(line, index, last))
            if last:
                return
            index += 1
            pending = following


def _open_sealed(raw, name: str) -> File:
    """The plain file behind ``raw`` (a binary handle on the stored bytes), every segment
    authenticated first; a file written before encryption is read as it is. Closes ``raw`` on failure."""
    try:
        line = _read_header(raw)
        if line is None:
            return File(raw, name)  # written before encryption: read as it is until rotated
        reader = DecryptingReader(raw, _Header(line))
        reader.verify()
    except BaseException:
        raw.close()
        raise
    stored = File(io.BufferedReader(reader, SEGMENT_BYTES), name)
    stored.size = reader.seek(0, os.SEEK_END)
    reader.seek(0)
    return stored


def _header_key_id(line: bytes | None) -> str | None:
    return None if line is None else line.split(b".")[2].decode("ascii", "replace")


class EncryptedStorageMixin:
    """What every encrypted storage shares; a backend supplies the raw bytes (``_raw_open``,
    ``_raw_head``, ``_raw_replace``, ``_raw_names``) and keeps its own naming and ``_save``."""

    def _open(self, name, mode="rb"):
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("JL-A2: stored files are written only through save()")
        return _open_sealed(self._raw_open(name), name)

    def size(self, name):
        line, sealed_size = self._raw_head(name)
        return sealed_size if line is None else plain_size(sealed_size, len(line))

    def key_id_of(self, name) -> str | None:
        """The key id a stored file is under; None for a file written before encryption."""
        return _header_key_id(self._raw_head(name)[0])

    def needs_rotation(self, name) -> bool:
        """Is this stored file plain (written before encryption) or under a key or cipher that is not current?"""
        keys, cipher = crypto.current()
        line = self._raw_head(name)[0]
        if line is None:
            return True
        parts = line.rstrip(b"\n").split(b".")
        return len(parts) != 4 or parts[1].decode("ascii", "replace") != crypto.CIPHERS[cipher] or parts[2].decode("ascii", "replace") != keys[0].id

    def rotate(self, name) -> None:
        """Write ``name`` again under the current key and cipher; the old file stays whole until the new
        one is complete."""
        with self.open(name) as plain:
            self._raw_replace(name, _Sealing(plain).chunks())

    def stored_names(self):
        """Every stored file's name (hidden working files aside), sorted."""
        yield from sorted(self._raw_names())


class EncryptedFileSystemStorage(EncryptedStorageMixin, FileSystemStorage):
    """The portal's default file storage: files on disk, encrypted (see the module's docstring)."""

    def _save(self, name, content):
        return super()._save(name, _Sealing(content))

    def _raw_open(self, name):
        return open(self.path(name), "rb")  # noqa: SIM115 - handed to the reader, closed with it

    def _raw_head(self, name) -> tuple[bytes | None, int]:
        with open(self.path(name), "rb") as raw:
            line = _read_header(raw)
            raw.seek(0, os.SEEK_END)
            return line, raw.tell()

    def _raw_replace(self, name, chunks) -> None:
        # Completed beside the old file and renamed over it: an interruption leaves the old file whole.
        target = Path(self.path(name))
        temporary = target.with_name(f".rotating-{secrets.token_hex(8)}")
        try:
            with open(temporary, "xb") as out:
                for chunk in chunks:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    def _raw_names(self):
        root = Path(self.location)
        if not root.exists():
            return
        for path in root.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                yield path.relative_to(root).as_posix()

    @staticmethod
    def stored_key_id(path) -> str | None:
        """The key id of the stored file at ``path`` on disk; None for a file written before encryption."""
        with open(path, "rb") as raw:
            return _header_key_id(_read_header(raw))


# --- Key rotation (manage.py rotate_data_key) ------------------------------------------------------


def readable(storage: EncryptedStorageMixin, name: str) -> bool:
    """Does this stored file authenticate under the configured keys (or is it plain)?"""
    try:
        storage.open(name).close()
    except crypto.UndecryptableError:
        return False
    return True


def files_rotate_batch(*, storage: EncryptedStorageMixin, names: list[str], actor=None) -> int:
    """JL-A2: rotate these stored files (each one whole or not at all) and put the batch on record,
    like the patients' rows (``security.data_key_rotate``)."""
    from audit.choices import EventType
    from audit.services import audit_event_append

    for name in names:
        storage.rotate(name)
    if names:
        keys, cipher = crypto.current()
        audit_event_append(
            actor=actor, event_type=EventType.DATA_KEY_ROTATE, object_type="files",
            details={"key_id": keys[0].id, "cipher": cipher, "files": len(names), "first": names[0], "last": names[-1]},
        )
    return len(names)
