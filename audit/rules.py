"""Pure functions of the audit chain (JL-A1): canonical content, hashing, verification.

Nothing here touches the database, so the chain's arithmetic is tested on plain values.

The hash function is SHA-256 or SM3 (GB/T 32905, for deployments assessed under 密评, GB/T 39786),
chosen by the same setting as the data cipher (``telemed.crypto.chain_hash_algorithm``) and recorded
in each event (``hash_algorithm``), so that a chain written partly under one and partly under the
other still verifies: each link is checked with the function its event names. Both come from the
``cryptography`` package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import operator
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives import hashes

from telemed.checks import Check

GENESIS_HASH = "0" * 64

# The hash functions an event may name in ``hash_algorithm``. Rows written before the field existed
# are SHA-256 (migration 0006). Both give 32 bytes, so every hash is 64 hex characters.
HASH_ALGORITHMS = {"sha256": hashes.SHA256, "sm3": hashes.SM3}
DEFAULT_HASH_ALGORITHM = "sha256"

# The fields the hash covers, in this order. Adding a field here breaks every older hash, so a
# new field must come with a versioned scheme; that is why the list is written out.
HASHED_FIELDS = (
    "sequence",
    "occurred_at",
    "actor_id",
    "actor_label",
    "acting_facility_id",
    "acting_division_code",
    "ip_address",
    "request_id",
    "channel",
    "event_type",
    "object_type",
    "object_id",
    "facility_ids",
    "outcome",
    "details",
)


# ``json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)``, without an encoder built per call.
_NORMAL_JSON = json.JSONEncoder(ensure_ascii=False, default=str, sort_keys=True).encode


def json_normal(value):
    """Round-trip through JSON so that what is hashed is exactly what the database gives back."""
    return json.loads(_NORMAL_JSON(value))


def timestamp_text(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC. ``isoformat`` gives the same text as the
    ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` it replaced at a fraction of the cost (issue 11: the verifier
    formats one per event)."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# One encoder for every canonical text: ``json.dumps`` with options builds a new one per call.
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _chunked_encoder():
    """The C encoder that ``_CANONICAL_JSON.encode`` builds anew on every call (with its closures),
    built once (issue 11: the verifier encodes one text per event). Same arguments, so the same text;
    only the circular-reference check is off (``markers``): what is encoded is decoded JSON or built
    of it, never circular. ``None`` on a Python without the C encoder."""
    from json.encoder import c_make_encoder, encode_basestring

    if c_make_encoder is None:
        return None
    c = _CANONICAL_JSON
    try:
        return c_make_encoder(None, c.default, encode_basestring, c.indent, c.key_separator, c.item_separator,
                              c.sort_keys, c.skipkeys, c.allow_nan)
    except TypeError:  # another Python's signature: the encoder's own way, per call
        return None


_ENCODE_CHUNKS = _chunked_encoder()
# A text as JSON, as the canonical encoder writes it (not ASCII-escaped); ``TypeError`` for anything else.
_ENCODE_TEXT = json.encoder.encode_basestring


def canonical_text(value) -> str:
    """``value`` as canonical JSON text (sorted keys, no spaces, not ASCII-escaped): exactly
    ``_CANONICAL_JSON.encode(value)`` (tests/audit/test_verify_rows.py compares them)."""
    if _ENCODE_CHUNKS is None or isinstance(value, str):
        return _CANONICAL_JSON.encode(value)
    return "".join(_ENCODE_CHUNKS(value, 0))


def canonical_content(fields: Mapping) -> bytes:
    data = {name: fields[name] for name in HASHED_FIELDS}
    data["occurred_at"] = timestamp_text(data["occurred_at"])
    return canonical_text(data).encode("utf-8")


def event_hash(fields: Mapping, prev_hash: str, algorithm: str = DEFAULT_HASH_ALGORITHM) -> str:
    """``algorithm(prev_hash ‖ "\\n" ‖ canonical content)`` in hex; ``ValueError`` for an unknown algorithm."""
    digest = _digest(algorithm)
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_content(fields))
    return digest.hexdigest()


# --- Issue 11: leaf hashes written without the lock, chained later by the sequencer --------------
# The writer knows everything about its event except where it will stand in the chain, so it hashes
# what it knows (the leaf) and commits without any lock; the sequencer later gives it a sequence and a
# link: ``hash = H(prev_hash ‖ "\n" ‖ sequence ‖ "\n" ‖ leaf_hash)``. Leaf and link are hashed with
# different prefixes (as RFC 9162 separates leaves from nodes), so a link can never pass for a leaf.
# Events written before issue 11 have no leaf hash ("") and keep their one-step ``event_hash``.
LEAF_FIELDS = tuple(name for name in HASHED_FIELDS if name != "sequence")
LEAF_PREFIX = b"telemed-audit-leaf/1\n"
LINK_PREFIX = b"telemed-audit-link/1\n"


def _digest(algorithm: str):
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"unknown audit hash algorithm {algorithm!r}")
    if algorithm == "sha256":
        return hashlib.sha256()  # the same function, without cryptography's per-object overhead
    return _CryptographyDigest(HASH_ALGORITHMS[algorithm]())


class _CryptographyDigest:
    def __init__(self, algorithm):
        self._hash = hashes.Hash(algorithm)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.finalize().hex()


_leaf_values = operator.itemgetter(*LEAF_FIELDS)


def leaf_content(fields: Mapping) -> bytes:
    """The canonical JSON of an event's content without its sequence (sorted keys, no spaces, UTF-8)."""
    data = dict(zip(LEAF_FIELDS, _leaf_values(fields), strict=True))
    data["occurred_at"] = timestamp_text(data["occurred_at"])
    return canonical_text(data).encode("utf-8")


def leaf_hash(fields: Mapping, algorithm: str = DEFAULT_HASH_ALGORITHM) -> str:
    """``algorithm(LEAF_PREFIX ‖ canonical content without the sequence)`` in hex: what the writer
    computes, lock-free, before its transaction commits (JL-A1; issue 11)."""
    digest = _digest(algorithm)
    digest.update(LEAF_PREFIX)
    digest.update(leaf_content(fields))
    return digest.hexdigest()


def link_hash(prev_hash: str, sequence: int, leaf: str, algorithm: str = DEFAULT_HASH_ALGORITHM) -> str:
    """``algorithm(LINK_PREFIX ‖ prev_hash ‖ "\n" ‖ sequence ‖ "\n" ‖ leaf_hash)`` in hex: what the
    sequencer computes when it gives an event its place (JL-A1; issue 11)."""
    digest = _digest(algorithm)
    digest.update(LINK_PREFIX + f"{prev_hash}\n{int(sequence)}\n{leaf}".encode("ascii"))
    return digest.hexdigest()


@dataclass(frozen=True)
class Link:
    id: int
    sequence: int
    prev_hash: str
    hash: str


def chain_links(pending: Iterable[tuple[int, str, str]], *, head_sequence: int, head_hash: str) -> list[Link]:
    """The sequencer's arithmetic (JL-A1; issue 11): the next sequences and links for ``pending``
    ``(id, leaf_hash, hash_algorithm)`` in the order given, after the head ``(head_sequence, head_hash)``."""
    links, sequence, prev = [], head_sequence, head_hash
    for pk, leaf, algorithm in pending:
        sequence += 1
        digest = link_hash(prev, sequence, leaf, algorithm or DEFAULT_HASH_ALGORITHM)
        links.append(Link(pk, sequence, prev, digest))
        prev = digest
    return links


# What a verifier reads of each event: the hashed content, the algorithm it names, and the links.
VERIFIED_FIELDS = (*HASHED_FIELDS, "hash_algorithm", "leaf_hash", "prev_hash", "hash")


@dataclass(frozen=True)
class ChainReport:
    checked: int
    intact: bool
    broken_sequence: int | None = None
    problem: str = ""
    pending: int = 0  # issue 11: events committed but not yet chained (their leaf hashes were checked)
    broken_id: int | None = None  # a not-yet-chained event whose content no longer matches its leaf hash

    @property
    def text(self) -> str:
        waiting = f"另有 {self.pending} 条事件待入链。" if self.pending else ""
        if self.intact:
            return f"JL-A1 审计链完整：共校验 {self.checked} 条事件。{waiting}"
        if self.broken_sequence is None and self.broken_id is not None:
            return f"JL-A1 待入链事件（编号 {self.broken_id}）不可信：{self.problem}（已校验 {self.checked} 条）。"
        return f"JL-A1 审计链在第 {self.broken_sequence} 号事件处断开：{self.problem}（已校验 {self.checked} 条）。"


# --- The verifier's walk (JL-A1; issue 11: at least half the rate of streaming the rows) -----------
# The verifier reads each event as a row in ``VERIFIED_FIELDS`` order, straight from the database
# (``audit.services.chained_rows``): no model instances, no per-row dict from the ORM. What it hashes is
# byte for byte what ``leaf_content`` and ``canonical_content`` give for the same event: the same dict,
# encoded by the same encoder (``_CANONICAL_JSON``); only the way to it is shorter. The JSON columns
# arrive as their text and are decoded here exactly as Django's ``JSONField`` decodes them, the
# timestamp as the canonical text itself (or through ``timestamp``, a function of the stored value).

# The C scanner behind ``json.loads``, without its two whitespace regexes: the database's JSON text
# never starts or ends with whitespace; anything else goes the long way (``json_column``).
_SCAN_JSON = json.JSONDecoder().scan_once
_ROW_PROBLEMS = (TypeError, ValueError, StopIteration)


def json_column(text):
    """A JSON column's stored text → its value, as Django's ``JSONField.from_db_value`` gives it:
    ``json.loads``, and text that is not JSON stays text (it can only be there by tampering)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _json_fast(text):
    try:
        value, end = _SCAN_JSON(text, 0)
        if end == len(text):
            return value
    except _ROW_PROBLEMS:
        pass
    return json_column(text)


def _sm3_from_cryptography(data: bytes):
    digest = _CryptographyDigest(hashes.SM3())
    digest.update(data)
    return digest


def _sm3_constructor():
    """SM3 as one call on the data. OpenSSL's through ``hashlib`` when it has SM3 and gives the
    standard's answer (GB/T 32905 A.1, "abc"), else ``cryptography``'s — the same function."""
    known = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    try:
        if hashlib.new("sm3", b"abc").hexdigest() == known:
            return lambda data: hashlib.new("sm3", data)
    except ValueError:
        pass
    return _sm3_from_cryptography


# algorithm name → a function of the data giving an object with ``hexdigest()``.
# Every name in ``HASH_ALGORITHMS`` is here (tests/audit/test_verify_rows.py checks it).
_ONE_SHOT = {"sha256": hashlib.sha256, "sm3": _sm3_constructor()}

CONTENT_CHANGED = "事件内容与其哈希不符（内容被改动，或哈希算法记录被改动）"
POSITION_CHANGED = "事件哈希与其位置不符（序号、链接或哈希被改动）"
LINK_CHANGED = "前一事件哈希不符（链接被改动）"


def _unknown_algorithm(algorithm) -> str:
    return f"哈希算法“{algorithm}”不可识别（算法记录被改动）"


_FIDS_KEPT = 4096

# ``leaf_content``'s text with a ``%s`` for each value's JSON, its keys in the encoder's (sorted) order;
# ``verify_chain_rows`` fills it in that order (tests/audit/test_verify_rows.py compares the two).
_LEAF_TEMPLATE = "{" + ",".join(f'"{name}":%s' for name in sorted(LEAF_FIELDS)) + "}"


def row_content(row, *, json_text: bool = True, timestamp=None) -> dict:
    """The content of one verifier row (``VERIFIED_FIELDS`` order) as the dict whose canonical JSON is
    hashed, without the sequence: the JSON columns decoded when ``json_text``, the timestamp as text."""
    (_, occurred_at, actor_id, actor_label, acting_facility_id, acting_division_code, ip_address, request_id, channel,
     event_type, object_type, object_id, facility_ids, outcome, details) = row[:15]
    if json_text:
        facility_ids, details = _json_fast(facility_ids), _json_fast(details)
    return {"occurred_at": timestamp(occurred_at) if timestamp is not None else occurred_at, "actor_id": actor_id,
            "actor_label": actor_label, "acting_facility_id": acting_facility_id,
            "acting_division_code": acting_division_code, "ip_address": ip_address, "request_id": request_id,
            "channel": channel, "event_type": event_type, "object_type": object_type, "object_id": object_id,
            "facility_ids": facility_ids, "outcome": outcome, "details": details}


def verify_chain_rows(rows: Iterable, *, json_text: bool = True, timestamp=None) -> ChainReport:
    """Walk rows in sequence order (``VERIFIED_FIELDS`` order each); report the first link that does not
    hold (JL-A1). ``json_text``: ``facility_ids`` and ``details`` are their stored JSON text;
    ``timestamp``: turns the stored ``occurred_at`` into its canonical text (``None``: it is already).

    A changed row fails its own hash; a deleted row leaves a gap in the sequence and a ``prev_hash`` that
    no longer matches; an inserted row fails the next row's link; two events swapped keep their content
    but not their links (the sequence is in the link). Each event is hashed with the algorithm it names
    (SHA-256 when it names none); a changed or unknown algorithm name fails like changed content, since
    the stored hash is the output of the one recorded. An event with a leaf hash (issue 11) is checked in
    two steps, content against leaf, then link; one without (written before issue 11) with its one-step
    ``event_hash``. The loop is written out (no call per field) because it runs once per event.
    """
    expected_prev = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    chunks, join, text = _ENCODE_CHUNKS, "".join, _ENCODE_TEXT
    one_shot = _ONE_SHOT
    scan, problems, slow = _SCAN_JSON, _ROW_PROBLEMS, json_column
    leaf_prefix, link_prefix = LEAF_PREFIX, LINK_PREFIX
    fids_seen: dict = {}  # stored text of ``facility_ids`` → its canonical JSON (few distinct values)
    for row in rows:
        (sequence, occurred_at, actor_id, actor_label, acting_facility_id, acting_division_code, ip_address, request_id,
         channel, event_type, object_type, object_id, facility_ids, outcome, details, algorithm, leaf, prev, stored) = row
        if sequence != expected_sequence:
            return ChainReport(checked, False, sequence, f"序号应为 {expected_sequence}，实为 {sequence}（有事件缺失或插入）")
        if prev != expected_prev:
            return ChainReport(checked, False, sequence, LINK_CHANGED)
        algorithm = algorithm or DEFAULT_HASH_ALGORITHM
        new = one_shot.get(algorithm)
        if new is None:
            return ChainReport(checked, False, sequence, _unknown_algorithm(algorithm))
        fids_json = None
        if json_text:  # ``_json_fast`` of ``details`` written out; ``facility_ids`` repeat, their text is kept
            fids_json = fids_seen.get(facility_ids)
            if fids_json is None:
                fids_json = canonical_text(_json_fast(facility_ids))
                if len(fids_seen) < _FIDS_KEPT:
                    fids_seen[facility_ids] = fids_json
            try:
                value, end = scan(details, 0)
                details = value if end == len(details) else slow(details)
            except problems:
                details = slow(details)
        if timestamp is not None:
            occurred_at = timestamp(occurred_at)
        content = None
        if leaf and chunks is not None:
            # ``leaf_content`` written out (``_LEAF_TEMPLATE``): each value encoded as the canonical encoder
            # encodes it. Only for the types the columns hold; anything else goes the generic way below.
            try:
                if (type(actor_id) is int or actor_id is None) and (
                        type(acting_facility_id) is int or acting_facility_id is None):
                    content = _LEAF_TEMPLATE % (
                        text(acting_division_code), "null" if acting_facility_id is None else acting_facility_id,
                        "null" if actor_id is None else actor_id, text(actor_label), text(channel), join(chunks(details, 0)),
                        text(event_type), join(chunks(facility_ids, 0)) if fids_json is None else fids_json,
                        "null" if ip_address is None else text(ip_address),
                        text(object_id), text(object_type), text(occurred_at), text(outcome), text(request_id))
            except TypeError:  # a value that is not text where text is kept
                content = None
        if content is None:
            if json_text:
                facility_ids = _json_fast(facility_ids)
            # The dict of ``leaf_content`` (``canonical_content`` adds the sequence); its encoder sorts the keys.
            data = {"occurred_at": occurred_at, "actor_id": actor_id, "actor_label": actor_label,
                    "acting_facility_id": acting_facility_id, "acting_division_code": acting_division_code,
                    "ip_address": ip_address, "request_id": request_id, "channel": channel, "event_type": event_type,
                    "object_type": object_type, "object_id": object_id, "facility_ids": facility_ids, "outcome": outcome,
                    "details": details}
            if not leaf:
                data["sequence"] = sequence
            content = canonical_text(data)
        if leaf:
            if new(leaf_prefix + content.encode("utf-8")).hexdigest() != leaf:
                return ChainReport(checked, False, sequence, CONTENT_CHANGED)
            if new(link_prefix + f"{prev}\n{expected_sequence}\n{leaf}".encode("ascii")).hexdigest() != stored:
                return ChainReport(checked, False, sequence, POSITION_CHANGED)
        elif new(prev.encode("ascii") + b"\n" + content.encode("utf-8")).hexdigest() != stored:
            return ChainReport(checked, False, sequence, CONTENT_CHANGED)
        checked += 1
        expected_prev = stored
        expected_sequence += 1
    return ChainReport(checked, True)


def verify_pending_rows(report: ChainReport, rows: Iterable, *, json_text: bool = True, timestamp=None) -> ChainReport:
    """Issue 11: after the chain, the events committed but not yet chained, by id (each row ``id``
    then ``VERIFIED_FIELDS``). Each must carry a leaf hash that matches its content and no link yet;
    the first that does not is named by its id. A chain already broken is returned as it is."""
    if not report.intact:
        return report
    pending = 0
    for pk, *row in rows:
        algorithm, leaf, prev, stored = row[15:]
        algorithm = algorithm or DEFAULT_HASH_ALGORITHM
        if not leaf or prev or stored:
            return ChainReport(report.checked, False, None, "待入链事件缺少内容哈希或已带链接（记录被改动）", pending, pk)
        if algorithm not in HASH_ALGORITHMS:
            return ChainReport(report.checked, False, None, _unknown_algorithm(algorithm), pending, pk)
        content = canonical_text(row_content(row, json_text=json_text, timestamp=timestamp)).encode("utf-8")
        if _ONE_SHOT[algorithm](LEAF_PREFIX + content).hexdigest() != leaf:
            return ChainReport(report.checked, False, None, CONTENT_CHANGED, pending, pk)
        pending += 1
    return ChainReport(report.checked, True, pending=pending)


def _mapping_row(event: Mapping) -> tuple:
    """An event given as a mapping (an export, the ORM's ``values``, a test's dict) as a verifier row."""
    return (*(event[name] for name in HASHED_FIELDS), event.get("hash_algorithm"), event.get("leaf_hash"),
            event.get("prev_hash"), event.get("hash"))


def verify_chain(events: Iterable[Mapping]) -> ChainReport:
    """``verify_chain_rows`` for events given as mappings with the decoded values (``occurred_at`` a
    timezone-aware datetime, the JSON columns decoded): an export, a test's chain."""
    return verify_chain_rows(map(_mapping_row, events), json_text=False, timestamp=timestamp_text)


def verify_pending(report: ChainReport, events: Iterable[Mapping]) -> ChainReport:
    """``verify_pending_rows`` for events given as mappings (with their ``id``)."""
    return verify_pending_rows(report, ((event["id"], *_mapping_row(event)) for event in events),
                               json_text=False, timestamp=timestamp_text)


# --- JL-C8: sealed snapshots --------------------------------------------------------------------


def snapshot_hash(snapshot: Mapping) -> str:
    """SHA-256 of a record snapshot in canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(json_normal(snapshot), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def snapshot_differences(sealed: Mapping, live: Mapping, prefix: str = "") -> list[str]:
    """Paths where the live record differs from the sealed snapshot (for the verification page)."""
    sealed, live = json_normal(sealed), json_normal(live)
    paths: list[str] = []
    for key in sorted(set(sealed) | set(live)):
        path = f"{prefix}{key}"
        a, b = sealed.get(key), live.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            paths += snapshot_differences(a, b, prefix=f"{path}.")
        elif a != b:
            paths.append(path)
    return paths


def run_is_stale(*, heartbeat_at: datetime, now: datetime, timeout_seconds: int) -> bool:
    """A background verification silent for longer than the time-out is stale (JL-A1): its worker
    died or its message was lost, so it may be taken over or replaced."""
    return (now - heartbeat_at).total_seconds() > timeout_seconds


# --- Signed checkpoints (JL-A1; issue 11) ---------------------------------------------------------

CHECKPOINT_FORMAT = "telemed-audit-checkpoint/1"
CHECKPOINT_ORIGIN = "jilin-telemed/audit"
# What the signature covers, as canonical JSON (sorted keys, no spaces, UTF-8). Written out, like
# HASHED_FIELDS: a new field needs a new format.
CHECKPOINT_SIGNED_FIELDS = ("format", "origin", "size", "head_hash", "signed_at", "signature_algorithm", "key_id")
SIGNATURE_ALGORITHMS = ("ed25519", "sm2")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class CheckpointError(ValueError):
    """A checkpoint file that is not one (malformed JSON, a missing or ill-formed field)."""


def checkpoint_statement(*, size: int, head_hash: str, signed_at: str, signature_algorithm: str, key_id: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    data = {"format": CHECKPOINT_FORMAT, "origin": CHECKPOINT_ORIGIN, "size": size, "head_hash": head_hash,
            "signed_at": signed_at, "signature_algorithm": signature_algorithm, "key_id": key_id}
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def checkpoint_document(*, size: int, head_hash: str, signed_at: str, signature_algorithm: str, key_id: str,
                        public_key_b64: str, public_key_sha256: str, signature_b64: str) -> dict:
    """What a regulator downloads and keeps: the signed fields, the signature, the public key and its
    SHA-256 fingerprint, and the signed text itself (a verifier recomputes it from the fields)."""
    statement = checkpoint_statement(size=size, head_hash=head_hash, signed_at=signed_at,
                                     signature_algorithm=signature_algorithm, key_id=key_id)
    return {**json.loads(statement), "public_key": public_key_b64, "public_key_sha256": public_key_sha256,
            "signature": signature_b64, "signed_text": statement.decode("utf-8")}


def parse_checkpoint(raw: bytes | str) -> dict:
    """A kept checkpoint file → its fields (``public_key`` and ``signature`` as bytes); ``CheckpointError``
    with a Chinese reason for anything else."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError("JL-A1: 检查点文件不是有效的 JSON。") from None
    if not isinstance(data, dict):
        raise CheckpointError("JL-A1: 检查点文件应为 JSON 对象。")
    missing = [f for f in (*CHECKPOINT_SIGNED_FIELDS, "public_key", "signature") if f not in data]
    if missing:
        raise CheckpointError(f"JL-A1: 检查点文件缺少字段：{'、'.join(missing)}。")
    if data["format"] != CHECKPOINT_FORMAT or data["origin"] != CHECKPOINT_ORIGIN:
        raise CheckpointError("JL-A1: 不是本平台审计日志的检查点（格式或来源不符）。")
    size = data["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise CheckpointError("JL-A1: 检查点的日志条数应为非负整数。")
    if not isinstance(data["head_hash"], str) or not _HEX64.match(data["head_hash"]):
        raise CheckpointError("JL-A1: 检查点的末条事件哈希应为 64 位十六进制。")
    if data["signature_algorithm"] not in SIGNATURE_ALGORITHMS:
        raise CheckpointError(f"JL-A1: 不支持的签名算法：{str(data['signature_algorithm'])[:20]}。")
    if not all(isinstance(data[f], str) for f in ("signed_at", "key_id", "public_key", "signature")):
        raise CheckpointError("JL-A1: 检查点的时间、密钥编号、公钥和签名应为文本。")
    try:
        public_key = base64.b64decode(data["public_key"], validate=True)
        signature = base64.b64decode(data["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("JL-A1: 检查点的公钥或签名不是有效的 Base64。") from None
    fields = {f: data[f] for f in CHECKPOINT_SIGNED_FIELDS}
    return {**fields, "public_key": public_key, "signature": signature}


@dataclass(frozen=True)
class CheckpointReport:
    size: int
    intact: bool
    problem: str = ""

    @property
    def text(self) -> str:
        if self.intact:
            return f"JL-A1 审计日志与检查点一致：前 {self.size} 条事件未被改写，签名有效。"
        return f"JL-A1 审计日志与检查点（{self.size} 条）不符：{self.problem}"


def checkpoint_signature_problem(checkpoint: Mapping, keys: Iterable, verify) -> str:
    """Why a parsed checkpoint's signature does not hold under this portal's keys ("" when it does).
    ``keys`` are ``telemed.signing.SigningKey``; ``verify`` is ``telemed.signing.verify``."""
    algorithm = checkpoint["signature_algorithm"]
    key = next((k for k in keys if k.id == checkpoint["key_id"]), None)
    if key is None:
        return f"签名密钥“{checkpoint['key_id']}”未在本平台配置，无法确认签名。"
    if key.public_key(algorithm) != checkpoint["public_key"]:
        return "检查点中的公钥与本平台同编号的密钥不符（不是本平台签署）。"
    statement = checkpoint_statement(**{f: checkpoint[f] for f in CHECKPOINT_SIGNED_FIELDS if f not in ("format", "origin")})
    if not verify(algorithm, checkpoint["public_key"], statement, checkpoint["signature"]):
        return "签名无效（检查点被改动，或不是本平台签署）。"
    return ""


def checkpoint_chain_problem(checkpoint: Mapping, *, chain_size: int, hash_at_size: str | None) -> str:
    """Why the current log is not an extension of the kept checkpoint ("" when it is): fewer events than
    it counted, or a different event at its size — a rewrite, however carefully rehashed."""
    size = checkpoint["size"]
    if chain_size < size:
        return f"日志现有 {chain_size} 条，少于检查点记录的 {size} 条（事件被删除或日志被替换）。"
    expected = hash_at_size if size else GENESIS_HASH
    if expected != checkpoint["head_hash"]:
        return f"第 {size} 号事件的哈希与检查点不符（此前的日志被改写）。"
    return ""


# --- Quality control (JL-O2, art. 26, 27) ---------------------------------------------------------
# The draw is a pure function of the ordered population, the share and the recorded seed, so anyone
# holding the three can reproduce it and see that it was fair.

QC_RULE, QC_ARTICLE = "JL-O2", "第二十六条、第二十七条"


def qc_sample_size(population: int, share_per_mille: int) -> int:
    """JL-O2: how many of ``population`` finished cases a plan's share takes: rounded up, so that a
    non-empty population with a non-zero share is never left unsampled."""
    if population <= 0 or share_per_mille <= 0:
        return 0
    return min(population, -(-population * share_per_mille // 1000))


def seeded_sample(population_ids: Iterable[int], size: int, *, seed: str, salt: str) -> list[int]:
    """``size`` ids drawn from ``population_ids``, deterministic from the recorded ``seed`` and the
    ``salt`` that names the draw (the population is ordered here, so the caller's order does not
    matter); the result is sorted. The one random draw of oversight: QC's cases (JL-O2) and the
    random inspections' facilities and inspectors (JL-O6) both go through it."""
    ordered = sorted(set(int(pk) for pk in population_ids))
    return sorted(random.Random(f"{salt}:{seed}").sample(ordered, min(size, len(ordered))))


def draw_sample(population_ids: Iterable[int], share_per_mille: int, seed: str) -> list[int]:
    """JL-O2 (art. 26): the cases drawn from ``population_ids`` — deterministic from the seed and the
    population (ordered here, so the caller's order does not matter); the result is sorted."""
    population = set(int(pk) for pk in population_ids)
    return seeded_sample(population, qc_sample_size(len(population), share_per_mille), seed=seed, salt="JL-O2")


def qc_period_bounds(kind: str, day) -> tuple:
    """The month or quarter (``kind``) containing ``day``: ``(first day, first day of the next)``."""
    months = 3 if kind == "quarter" else 1
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    end_month = first_month + months
    end = date(day.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    return start, end


def qc_checklist_checks(items: list[dict]):
    """JL-O2 (art. 27): a checklist has items, each with a code, a text and a positive maximum."""
    codes = [str(item.get("code", "")).strip() for item in items]
    well_formed = bool(items) and all(
        code and str(item.get("text", "")).strip() and isinstance(item.get("max_points"), int) and item["max_points"] > 0
        for code, item in zip(codes, items, strict=True)
    )
    return [
        Check(QC_RULE, "第二十七条", "评分表须至少有一个项目，每项写明编号、内容和正整数满分", well_formed),
        Check(QC_RULE, "第二十七条", "评分项目编号不能重复", len(set(codes)) == len(codes)),
    ]


def qc_score_checks(items: list[dict], scores: Mapping[str, object]):
    """JL-O2 (art. 27): every checklist item is scored with a whole number from 0 to its maximum;
    nothing outside the checklist is scored. Returns every failing check."""
    checks = []
    known = {str(item["code"]) for item in items}
    for item in items:
        code, limit = str(item["code"]), int(item["max_points"])
        value = scores.get(code)
        if not isinstance(value, int) or isinstance(value, bool):
            checks.append(Check(QC_RULE, "第二十七条", f"“{item['text']}”须评分", False, f"满分{limit}分"))
        elif value < 0 or value > limit:
            checks.append(Check(QC_RULE, "第二十七条", f"“{item['text']}”得分须在0至{limit}分之间", False, f"现为{value}分"))
    extra = sorted(set(scores) - known)
    if extra:
        checks.append(Check(QC_RULE, "第二十七条", "只能对评分表中的项目评分", False, "、".join(extra)))
    return checks


def qc_answer_overdue(*, answer_due, answered_at, now) -> bool:
    """JL-O2 (art. 27): the facility's corrective-action answer is overdue when it has not come by the
    deadline (or came after it)."""
    if answer_due is None:
        return False
    return (answered_at or now) > answer_due
