"""Pure functions of the audit chain (JL-A1): canonical content, hashing, verification.

Nothing here touches the database, so the chain's arithmetic is tested on plain values.

The hash function is SHA-256 or SM3 (GB/T 32905, for deployments assessed under 密评, GB/T 39786),
chosen by the same setting as the data cipher (``telemed.crypto.chain_hash_algorithm``) and recorded
in each event (``hash_algorithm``), so that a chain written partly under one and partly under the
other still verifies: each link is checked with the function its event names. Both come from the
``cryptography`` package.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes

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


def json_normal(value):
    """Round-trip through JSON so that what is hashed is exactly what the database gives back."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str, sort_keys=True))


def timestamp_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_content(fields: Mapping) -> bytes:
    data = {name: fields[name] for name in HASHED_FIELDS}
    data["occurred_at"] = timestamp_text(data["occurred_at"])
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def event_hash(fields: Mapping, prev_hash: str, algorithm: str = DEFAULT_HASH_ALGORITHM) -> str:
    """``algorithm(prev_hash ‖ "\\n" ‖ canonical content)`` in hex; ``ValueError`` for an unknown algorithm."""
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"unknown audit hash algorithm {algorithm!r}")
    digest = hashes.Hash(HASH_ALGORITHMS[algorithm]())
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_content(fields))
    return digest.finalize().hex()


# What a verifier reads of each event: the hashed content, the algorithm it names, and the links.
VERIFIED_FIELDS = (*HASHED_FIELDS, "hash_algorithm", "prev_hash", "hash")


@dataclass(frozen=True)
class ChainReport:
    checked: int
    intact: bool
    broken_sequence: int | None = None
    problem: str = ""

    @property
    def text(self) -> str:
        if self.intact:
            return f"JL-A1 审计链完整：共校验 {self.checked} 条事件。"
        return f"JL-A1 审计链在第 {self.broken_sequence} 号事件处断开：{self.problem}（已校验 {self.checked} 条）。"


def verify_chain(events: Iterable[Mapping]) -> ChainReport:
    """Walk events in sequence order; report the first link that does not hold.

    A changed row fails its own hash; a deleted row leaves a gap in the sequence and a
    ``prev_hash`` that no longer matches; an inserted row fails the next row's link. Each event is
    hashed with the algorithm it names (SHA-256 when it names none); a changed or unknown algorithm
    name fails like changed content, since the stored hash is the output of the one recorded.
    """
    expected_prev = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    for event in events:
        sequence = event["sequence"]
        if sequence != expected_sequence:
            return ChainReport(checked, False, sequence, f"序号应为 {expected_sequence}，实为 {sequence}（有事件缺失或插入）")
        if event["prev_hash"] != expected_prev:
            return ChainReport(checked, False, sequence, "前一事件哈希不符（链接被改动）")
        algorithm = event.get("hash_algorithm") or DEFAULT_HASH_ALGORITHM
        if algorithm not in HASH_ALGORITHMS:
            return ChainReport(checked, False, sequence, f"哈希算法“{algorithm}”不可识别（算法记录被改动）")
        if event_hash(event, event["prev_hash"], algorithm) != event["hash"]:
            return ChainReport(checked, False, sequence, "事件内容与其哈希不符（内容被改动，或哈希算法记录被改动）")
        checked += 1
        expected_prev = event["hash"]
        expected_sequence += 1
    return ChainReport(checked, True)


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
