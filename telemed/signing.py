"""The key that signs the audit log's checkpoints (JL-A1; issue 11, issue 13 密评).

A checkpoint (``audit.checkpoints``) is the log's size and head hash, signed with a key kept outside
the database, so that a regulator who keeps it can detect even a database superuser who rewrites the
whole table and recomputes every hash. The key is never in the database:

- ``TELEMED_AUDIT_SIGNING_KEYS``: ``id:base64`` (32 random bytes), comma list, the current key first;
  older ones after it only verify checkpoints they signed; or
- ``TELEMED_AUDIT_SIGNING_KEY_FILE``: the same, one a line (a mounted secret);
- local use only (DEBUG on or ``TELEMED_ALLOW_HTTP``): a key generated once in ``var/audit_signing_key``.
  With DEBUG off and neither set, the portal refuses to start.

The signature algorithm follows the data cipher setting (``TELEMED_DATA_CIPHER``): Ed25519 (RFC 8032,
from the ``cryptography`` package) by default, SM2 (GB/T 32918, with SM3 and the standard signer id
``1234567812345678``) under ``sm4-gcm``, from the pinned pure-Python ``gmssl`` package, since
``cryptography`` has no SM2 signatures. The 32 secret bytes are the Ed25519 seed or the SM2 private
scalar; a checkpoint names its algorithm, so one signed before a change of setting still verifies.
Nonces for SM2 come from ``secrets`` (gmssl's own default uses ``random``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured

from telemed import crypto

LOCAL_KEY_FILE = "audit_signing_key"
ALGORITHMS = ("ed25519", "sm2")

# GB/T 32918.5: the SM2 curve's order.
SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


def signature_algorithm(cipher: str) -> str:
    """Ed25519, or SM2 under the 密评 setting (``sm4-gcm``)."""
    return "sm2" if cipher == "sm4-gcm" else "ed25519"


def _sm2(private_hex: str = "", public_hex: str = ""):
    from gmssl import sm2

    # gmssl strips a "04" prefix with ``lstrip``, which also eats leading 0 and 4 digits of x: set the
    # uncompressed point (x ‖ y, 128 hex digits) after construction instead.
    signer = sm2.CryptSM2(private_key=private_hex, public_key="")
    signer.public_key = public_hex
    return signer


@functools.lru_cache(maxsize=16)
def _public_key(secret: bytes, algorithm: str) -> bytes:
    """Cached: SM2's point multiplication in pure Python takes a noticeable fraction of a second."""
    if algorithm == "ed25519":
        return Ed25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if algorithm == "sm2":
        signer = _sm2(secret.hex())
        return bytes.fromhex("04" + signer._kg(int.from_bytes(secret, "big"), signer.ecc_table["g"]))
    raise ValueError(f"unknown signature algorithm {algorithm!r}")


@dataclass(frozen=True)
class SigningKey:
    id: str
    secret: bytes

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey({self.id!r})"

    def public_key(self, algorithm: str) -> bytes:
        """Ed25519: the 32-byte raw public key; SM2: the uncompressed point 04 ‖ x ‖ y (65 bytes)."""
        return _public_key(self.secret, algorithm)

    def sign(self, algorithm: str, message: bytes) -> bytes:
        if algorithm == "ed25519":
            return Ed25519PrivateKey.from_private_bytes(self.secret).sign(message)
        if algorithm == "sm2":
            signer = _sm2(self.secret.hex(), self.public_key("sm2")[1:].hex())
            while True:  # a nonce giving r = 0, r + k = n or s = 0 is drawn again (GB/T 32918.2 6.1)
                k = secrets.randbelow(SM2_N - 1) + 1
                signature = signer.sign_with_sm3(message, f"{k:064x}")
                if signature:
                    return bytes.fromhex(signature)
        raise ValueError(f"unknown signature algorithm {algorithm!r}")


def verify(algorithm: str, public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``algorithm``'s signature of ``message`` under ``public_key``."""
    if algorithm == "ed25519":
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True
    if algorithm == "sm2":
        if len(public_key) != 65 or public_key[0] != 4 or len(signature) != 64:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if not (0 < r < SM2_N and 0 < s < SM2_N):  # GB/T 32918.2 7.1 B1, B2 (gmssl does not check)
            return False
        try:
            return bool(_sm2(public_hex=public_key[1:].hex()).verify_with_sm3(signature.hex(), message))
        except (ValueError, TypeError, ZeroDivisionError):
            return False
    return False


def fingerprint(public_key: bytes) -> str:
    """SHA-256 of the public key, hex: what a regulator compares with the published key."""
    return hashlib.sha256(public_key).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- Configuration (pure) ------------------------------------------------------------------------


def new_key_line(key_id: str = "s1") -> str:
    """A fresh ``id:base64`` signing key (README: how to generate one)."""
    return f"{key_id}:{b64(secrets.token_bytes(crypto.MASTER_KEY_BYTES))}"


def _checked(keys, source: str) -> tuple[SigningKey, ...]:
    out = []
    for key in keys:
        if not 0 < int.from_bytes(key.secret, "big") < SM2_N - 1:
            raise ImproperlyConfigured(f"{source}: key {key.id!r} is not usable as an SM2 private key; generate another")
        out.append(SigningKey(key.id, key.secret))
    return tuple(out)


def signing_keys(raw: str, key_file: str, *, debug: bool, allow_http: bool, var_dir: Path) -> tuple[SigningKey, ...]:
    """The checkpoint signing keys, current first; refused when none is set with DEBUG off (JL-A1)."""
    if (raw or "").strip():
        return _checked(crypto.parse_keys(raw, source="TELEMED_AUDIT_SIGNING_KEYS"), "TELEMED_AUDIT_SIGNING_KEYS")
    if (key_file or "").strip():
        try:
            text = Path(key_file.strip()).read_text()
        except OSError as error:
            raise ImproperlyConfigured(
                f"TELEMED_AUDIT_SIGNING_KEY_FILE={key_file!r}: cannot be read ({error.strerror})") from None
        keys = crypto.parse_keys(text, source="TELEMED_AUDIT_SIGNING_KEY_FILE")
        if keys:
            return _checked(keys, "TELEMED_AUDIT_SIGNING_KEY_FILE")
    elif debug or allow_http:
        path = crypto.local_key_file(var_dir, name=LOCAL_KEY_FILE, line=lambda: new_key_line("local"))
        return _checked(crypto.parse_keys(path.read_text(), source=str(path)), str(path))
    raise ImproperlyConfigured(
        "TELEMED_AUDIT_SIGNING_KEYS / TELEMED_AUDIT_SIGNING_KEY_FILE: not set. JL-A1: the audit log's checkpoints are "
        "signed with a key kept outside the database; set one, e.g. TELEMED_AUDIT_SIGNING_KEYS=$(python -c "
        "'from telemed.signing import new_key_line; print(new_key_line())'). For plain-http local use only, set "
        "TELEMED_ALLOW_HTTP=1."
    )
