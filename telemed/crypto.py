"""Encryption at rest of sensitive numbers (JL-A2; GB/T 22239-2019 8.1.4.8, GB/T 39786-2021).

Identity and phone numbers are stored as authenticated ciphertext; equality search uses a keyed
blind index. Everything cryptographic comes from the ``cryptography`` package — nothing here is
hand-rolled:

- ``aes-256-gcm`` (the default): AES-256-GCM, blind index HMAC-SHA256, keys derived with HKDF-SHA256;
- ``sm4-gcm`` (deployments assessed under 密评, GB/T 39786): SM4-GCM, blind index HMAC-SM3, keys
  derived with HKDF-SM3.

A master key is 32 random bytes, configured as ``id:base64`` in ``TELEMED_DATA_KEYS`` (comma list)
or in the file ``TELEMED_DATA_KEY_FILE`` (one per line); the first is current and encrypts, the
others only decrypt (``manage.py rotate_data_key`` moves rows onto the current one). Keys are never
in the database. From each master key HKDF derives one key to encrypt and a separate one for the
blind index.

Stored text: ``v1.<cipher id>.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>``, with the table and
column (``consultations_patient.id_number``) as associated data, so a value moved to another column
does not decrypt. An empty value is stored empty.

``data_keys`` is a pure function on plain values (``telemed.settings`` calls it); the rest reads
``settings.TELEMED_DATA_KEYS`` and ``settings.TELEMED_DATA_CIPHER`` at call time.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ImproperlyConfigured

FORMAT_VERSION = "v1"
MASTER_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
LOCAL_KEY_FILE = "data_keys"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")

# setting value → (id written in the ciphertext, HKDF/HMAC hash)
CIPHERS = {"aes-256-gcm": "A256G", "sm4-gcm": "SM4G"}
CIPHER_IDS = {v: k for k, v in CIPHERS.items()}


class UndecryptableError(Exception):
    """A stored value that does not decrypt: tampered, moved to another column, or its key is gone.

    Not a ``ValueError``: DRF (``get_object_or_404``) reads a ValueError as "no such object", which
    would hide the failure behind a 404.

    Raised from a model field (``telemed.fields.EncryptedTextField``), it names that ``field``, and
    keeps the ``stored`` value only so that ``telemed.undecryptable`` can find the row it came from;
    neither the message nor any record ever carries the ciphertext (JL-A2).
    """

    field = None
    stored = ""


@dataclass(frozen=True)
class DataKey:
    id: str
    secret: bytes

    def __repr__(self) -> str:  # never print key material
        return f"DataKey({self.id!r})"


# --- Configuration (pure) ------------------------------------------------------------------------


def parse_keys(raw: str, *, source: str) -> tuple[DataKey, ...]:
    """``id:base64,id2:base64`` (commas or new lines) → keys, the current one first."""
    keys: list[DataKey] = []
    for item in re.split(r"[,\n]", raw or ""):
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID.match(key_id):
            raise ImproperlyConfigured(f"{source}: expected id:base64key with an id of letters, digits, - or _ (at most 16)")
        try:
            secret = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"{source}: key {key_id!r} is not valid base64") from None
        if len(secret) != MASTER_KEY_BYTES:
            raise ImproperlyConfigured(f"{source}: key {key_id!r} must be {MASTER_KEY_BYTES} bytes, not {len(secret)}")
        if any(k.id == key_id for k in keys):
            raise ImproperlyConfigured(f"{source}: key id {key_id!r} appears twice")
        keys.append(DataKey(key_id, secret))
    return tuple(keys)


def new_key_line(key_id: str = "k1") -> str:
    """A fresh ``id:base64`` master key (README: how to generate a key)."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode()}"


def local_key_file(var_dir: Path, *, name: str = LOCAL_KEY_FILE, line=None) -> Path:
    """This checkout's development key, created once under the var directory (never committed), like
    ``telemed.transport.local_secret_key``: written aside and linked into place. ``name`` and ``line``
    (what makes the key's line) serve the audit signing key too (``telemed.signing``)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / name
    if not path.exists():
        scratch = var_dir / f".{name}.{os.getpid()}"
        scratch.write_text((line() if line else new_key_line("local")) + "\n")
        scratch.chmod(0o600)
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    return path


def data_keys(raw: str, key_file: str, *, debug: bool, allow_http: bool, var_dir: Path) -> tuple[DataKey, ...]:
    """The master keys from ``TELEMED_DATA_KEYS`` or ``TELEMED_DATA_KEY_FILE``; refused when neither is
    set with DEBUG off (JL-A2). Local use (DEBUG on, or TELEMED_ALLOW_HTTP) gets a per-checkout key."""
    if (raw or "").strip():
        keys = parse_keys(raw, source="TELEMED_DATA_KEYS")
    elif (key_file or "").strip():
        path = Path(key_file.strip())
        try:
            text = path.read_text()
        except OSError as error:
            raise ImproperlyConfigured(f"TELEMED_DATA_KEY_FILE={key_file!r}: cannot be read ({error.strerror})") from None
        keys = parse_keys(text, source="TELEMED_DATA_KEY_FILE")
    elif debug or allow_http:
        keys = parse_keys(local_key_file(var_dir).read_text(), source=str(var_dir / LOCAL_KEY_FILE))
    else:
        keys = ()
    if not keys:
        raise ImproperlyConfigured(
            "TELEMED_DATA_KEYS / TELEMED_DATA_KEY_FILE: not set. JL-A2 (GB/T 22239-2019 8.1.4.8): identity and "
            "phone numbers are encrypted at rest and the key never lives in the database; set one, e.g. "
            "TELEMED_DATA_KEYS=$(python -c 'from telemed.crypto import new_key_line; print(new_key_line())'). "
            "For plain-http local use only, set TELEMED_ALLOW_HTTP=1."
        )
    return keys


def chain_hash_algorithm(cipher: str) -> str:
    """The audit chain's hash under a data cipher (issue 13, 密评): SM3 with ``sm4-gcm``, else SHA-256.
    One setting chooses the whole suite; each audit event records the one it was hashed with."""
    return "sm3" if cipher == "sm4-gcm" else "sha256"


def data_cipher(raw: str) -> str:
    value = (raw or "aes-256-gcm").strip().lower()
    if value not in CIPHERS:
        raise ImproperlyConfigured(f"TELEMED_DATA_CIPHER={raw!r}: expected one of {', '.join(CIPHERS)}")
    return value


# --- Primitives -----------------------------------------------------------------------------------


def _hash(cipher: str) -> hashes.HashAlgorithm:
    return hashes.SM3() if cipher == "sm4-gcm" else hashes.SHA256()


@functools.lru_cache(maxsize=64)
def _derive(secret: bytes, cipher: str, purpose: str) -> bytes:
    length = 16 if (cipher == "sm4-gcm" and purpose == "encrypt") else 32
    info = f"telemed {purpose} {cipher}".encode()
    return HKDF(algorithm=_hash(cipher), length=length, salt=None, info=info).derive(secret)


def _seal(cipher: str, key: bytes, nonce: bytes, plain: bytes, aad: bytes) -> bytes:
    if cipher == "aes-256-gcm":
        return AESGCM(key).encrypt(nonce, plain, aad)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    return encryptor.update(plain) + encryptor.finalize() + encryptor.tag


def _open(cipher: str, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if cipher == "aes-256-gcm":
        return AESGCM(key).decrypt(nonce, sealed, aad)
    if len(sealed) < TAG_BYTES:
        raise InvalidTag
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, sealed[-TAG_BYTES:])).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(sealed[:-TAG_BYTES]) + decryptor.finalize()


# --- What the models use -------------------------------------------------------------------------


def current() -> tuple[tuple[DataKey, ...], str]:
    """The configured keys (current first) and cipher."""
    from django.conf import settings

    return tuple(settings.TELEMED_DATA_KEYS), settings.TELEMED_DATA_CIPHER


def current_prefix() -> str:
    """What every value written now starts with: rows not starting so are on an old key or cipher."""
    keys, cipher = current()
    return f"{FORMAT_VERSION}.{CIPHERS[cipher]}.{keys[0].id}."


def encrypt(plain: str, *, aad: str) -> str:
    """``plain`` under the current key and cipher; empty stays empty."""
    if not plain:
        return ""
    keys, cipher = current()
    key = keys[0]
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = _seal(cipher, _derive(key.secret, cipher, "encrypt"), nonce, plain.encode(), aad.encode())
    body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{FORMAT_VERSION}.{CIPHERS[cipher]}.{key.id}.{body}"


def key_id_of(stored: str) -> str:
    """The key id a stored value was written under ("" for an empty value)."""
    return stored.split(".")[2] if stored else ""


def decrypt(stored: str, *, aad: str) -> str:
    """The plain value; ``UndecryptableError`` when it was tampered with, belongs to another column, or its
    key is no longer configured. The cipher is the one the value names, so rows written before a
    change of ``TELEMED_DATA_CIPHER`` still read until they are rotated."""
    if not stored:
        return ""
    parts = stored.split(".")
    if len(parts) != 4 or parts[0] != FORMAT_VERSION or parts[1] not in CIPHER_IDS:
        raise UndecryptableError("JL-A2: not a ciphertext of this portal")
    cipher, key_id, body = CIPHER_IDS[parts[1]], parts[2], parts[3]
    keys, _ = current()
    key = next((k for k in keys if k.id == key_id), None)
    if key is None:
        raise UndecryptableError(f"JL-A2: data key {key_id!r} is not configured")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        plain = _open(cipher, _derive(key.secret, cipher, "encrypt"), raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode())
    except (InvalidTag, binascii.Error, ValueError):
        raise UndecryptableError("JL-A2: the stored value failed authentication (tampered or misplaced)") from None
    return plain.decode()


def normalise(value: str) -> str:
    """What equality search compares: full-width digits made ASCII, spaces and hyphens dropped, upper case."""
    value = unicodedata.normalize("NFKC", value or "")
    return re.sub(r"[\s\-]", "", value).upper()


def _digest(secret: bytes, cipher: str, purpose: str, value: str) -> str:
    mac = hmac.HMAC(_derive(secret, cipher, "index"), _hash(cipher))
    mac.update(f"{purpose}\x00{value}".encode())
    return mac.finalize().hex()


def blind_index(value: str, *, purpose: str) -> str:
    """The keyed digest stored next to the ciphertext, under the current key and cipher; empty stays empty.
    ``purpose`` (the column) keeps equal values of different columns apart."""
    value = normalise(value)
    if not value:
        return ""
    keys, cipher = current()
    return _digest(keys[0].secret, cipher, purpose, value)


def blind_index_candidates(value: str, *, purpose: str) -> list[str]:
    """Every digest ``value`` may be stored under: each configured key, each cipher — so search keeps
    finding rows that ``rotate_data_key`` has not reached yet."""
    value = normalise(value)
    if not value:
        return []
    keys, _ = current()
    return sorted({_digest(k.secret, c, purpose, value) for k in keys for c in CIPHERS})
