"""JL-A1, issue 11 (and issue 13, 密评): signed checkpoints of the audit log.

The portal signs (size, head hash) with a key kept outside the database — Ed25519, or SM2 under
``sm4-gcm``; regulators download and keep the checkpoints; ``manage.py audit_verify --checkpoint FILE``
checks a kept one against the table. A superuser who rewrites the whole table and recomputes every
hash passes the plain chain walk but not the kept checkpoint.
"""

import json
import shutil
import subprocess

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from audit import rules
from audit.choices import EventType
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import (
    audit_chain_verify,
    audit_checkpoint_daily,
    audit_checkpoint_download,
    audit_checkpoint_sign,
    audit_checkpoint_verify,
    audit_event_append,
)
from audit.tasks import audit_checkpoint_daily_task
from facilities.choices import StaffRole
from telemed import signing
from telemed.celery import _beat_schedule
from tests.api_cases import token_client
from tests.factories import FacilityFactory, regulator, staff

KEY_A = signing.SigningKey("a", bytes(range(1, 33)))
KEY_B = signing.SigningKey("b", bytes(range(101, 133)))


def _append(n: int, **details):
    return [audit_event_append(actor=None, event_type=EventType.AUDIT_LOG_READ, details={"n": i, **details}) for i in range(n)]


def _raw(sql: str, params):
    """Write behind the ORM's back, as a database superuser would (the append-only trigger bypassed)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def _rewrite_whole_table(changed_sequence: int) -> None:
    """The attack of issue 11: change one event's details, then recompute every hash after it, so the
    chain is internally consistent again."""
    rows = list(AuditEvent.objects.order_by("sequence").values(*rules.VERIFIED_FIELDS, "pk"))
    prev = rules.GENESIS_HASH
    for row in rows:
        if row["sequence"] == changed_sequence:
            row["details"] = {**row["details"], "n": "已被改写"}
        # Issue 11: the content's leaf hash, then the link, both recomputed.
        leaf = rules.leaf_hash(row, row["hash_algorithm"])
        digest = rules.link_hash(prev, row["sequence"], leaf, row["hash_algorithm"])
        _raw("UPDATE audit_auditevent SET details = %s, leaf_hash = %s, prev_hash = %s, hash = %s WHERE id = %s",
             [json.dumps(row["details"], ensure_ascii=False), leaf, prev, digest, row["pk"]])
        prev = digest


def _kept(checkpoint) -> bytes:
    """What a regulator keeps: the downloaded document, as a file's bytes."""
    return json.dumps(audit_checkpoint_download(actor=None, checkpoint=checkpoint), ensure_ascii=False).encode()


@pytest.fixture
def keys(settings):
    settings.TELEMED_AUDIT_SIGNING_KEYS = (KEY_A,)
    return settings


# --- signatures (pure) ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ed25519", "sm2"])
def test_jl_a1_both_signature_algorithms_sign_and_verify_and_refuse_a_changed_message(algorithm):
    public = KEY_A.public_key(algorithm)
    signature = KEY_A.sign(algorithm, b"statement")
    assert signing.verify(algorithm, public, b"statement", signature)
    assert not signing.verify(algorithm, public, b"statemenT", signature)
    assert not signing.verify(algorithm, KEY_B.public_key(algorithm), b"statement", signature)
    assert not signing.verify(algorithm, public, b"statement", signature[:-1] + bytes([signature[-1] ^ 1]))
    assert len(public) == {"ed25519": 32, "sm2": 65}[algorithm]


def test_jl_a1_the_signature_follows_the_data_cipher_setting():
    assert signing.signature_algorithm("aes-256-gcm") == "ed25519"
    assert signing.signature_algorithm("sm4-gcm") == "sm2"


def test_jl_a1_sm2_refuses_out_of_range_signature_values():
    """GB/T 32918.2 7.1: r and s must lie in [1, n-1]; s + n would otherwise pass gmssl's check."""
    public = KEY_A.public_key("sm2")
    signature = KEY_A.sign("sm2", b"m")
    s = int.from_bytes(signature[32:], "big") + signing.SM2_N
    if s < 2**256:
        assert not signing.verify("sm2", public, b"m", signature[:32] + s.to_bytes(32, "big"))
    assert not signing.verify("sm2", public, b"m", bytes(64))


OPENSSL = shutil.which("openssl")


def _openssl(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=check)  # noqa: S603 - fixed arguments


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")
def test_jl_a1_sm2_signatures_interoperate_with_openssl(tmp_path):
    """Our SM2 (gmssl, SM3, signer id 1234567812345678) verifies under OpenSSL and OpenSSL's under ours."""
    key_pem = tmp_path / "k.pem"
    if _openssl("genpkey", "-algorithm", "SM2", "-out", str(key_pem)).returncode:
        pytest.skip("this openssl has no SM2")
    text = _openssl("pkey", "-in", str(key_pem), "-text", "-noout", check=True).stdout
    lines = [line.strip() for line in text.splitlines()]
    priv = "".join(lines[lines.index("priv:") + 1: lines.index("pub:")]).replace(":", "")
    pub = bytes.fromhex("".join(lines[lines.index("pub:") + 1: next(i for i, x in enumerate(lines) if x.startswith("ASN1"))]).replace(":", ""))
    key = signing.SigningKey("o", bytes.fromhex(priv.rjust(64, "0")[-64:]))
    assert key.public_key("sm2") == pub
    message = tmp_path / "m"
    message.write_bytes("检查点".encode())
    pub_pem = tmp_path / "pub.pem"
    _openssl("pkey", "-in", str(key_pem), "-pubout", "-out", str(pub_pem), check=True)

    def der(signature: bytes) -> bytes:
        ints = b""
        for part in (signature[:32], signature[32:]):
            value = int.from_bytes(part, "big")
            raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
            ints += b"\x02" + bytes([len(raw)]) + raw
        return b"\x30" + bytes([len(ints)]) + ints

    (tmp_path / "ours.der").write_bytes(der(key.sign("sm2", message.read_bytes())))
    common = ["-rawin", "-in", str(message), "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
    ok = _openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(pub_pem), "-sigfile", str(tmp_path / "ours.der"), *common)
    assert "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    _openssl("pkeyutl", "-sign", "-inkey", str(key_pem), "-out", str(tmp_path / "theirs.der"), *common, check=True)
    theirs = (tmp_path / "theirs.der").read_bytes()
    r_len = theirs[3]
    r = int.from_bytes(theirs[4:4 + r_len], "big")
    s = int.from_bytes(theirs[6 + r_len:], "big")
    assert signing.verify("sm2", pub, message.read_bytes(), r.to_bytes(32, "big") + s.to_bytes(32, "big"))


# --- keys from the environment, never the database ---------------------------------------------


def test_jl_a1_production_refuses_to_start_without_a_signing_key(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="TELEMED_AUDIT_SIGNING_KEYS"):
        signing.signing_keys("", "", debug=False, allow_http=False, var_dir=tmp_path)


def test_jl_a1_signing_keys_come_from_the_environment_or_a_key_file_current_first(tmp_path):
    line_a, line_b = signing.new_key_line("s2"), signing.new_key_line("s1")
    keys = signing.signing_keys(f"{line_a},{line_b}", "", debug=False, allow_http=False, var_dir=tmp_path)
    assert [k.id for k in keys] == ["s2", "s1"] and "secret" not in repr(keys[0])
    key_file = tmp_path / "signing"
    key_file.write_text(line_b + "\n")
    assert [k.id for k in signing.signing_keys("", str(key_file), debug=False, allow_http=False, var_dir=tmp_path)] == ["s1"]
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        signing.signing_keys("", str(tmp_path / "missing"), debug=False, allow_http=False, var_dir=tmp_path)
    with pytest.raises(ImproperlyConfigured, match="base64"):
        signing.signing_keys("s1:not base64!", "", debug=False, allow_http=False, var_dir=tmp_path)


def test_jl_a1_local_use_gets_one_signing_key_per_checkout_apart_from_the_data_key(tmp_path):
    first = signing.signing_keys("", "", debug=False, allow_http=True, var_dir=tmp_path)
    again = signing.signing_keys("", "", debug=True, allow_http=False, var_dir=tmp_path)
    assert first == again and (tmp_path / "audit_signing_key").stat().st_mode & 0o077 == 0
    assert not (tmp_path / "data_keys").exists()


# --- signing ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_jl_a1_a_checkpoint_signs_size_and_head_hash_and_is_idempotent(keys):
    events = _append(3)
    checkpoint = audit_checkpoint_sign()
    assert (checkpoint.size, checkpoint.head_hash) == (events[-1].sequence, events[-1].hash)
    assert (checkpoint.signature_algorithm, checkpoint.key_id) == ("ed25519", "a")
    signed = AuditEvent.objects.get(event_type=EventType.AUDIT_CHECKPOINT_SIGN)
    assert signed.sequence == checkpoint.size + 1 and signed.details["head_hash"] == checkpoint.head_hash
    document = json.loads(_kept(checkpoint))
    assert document["size"] == checkpoint.size and document["key_id"] == "a"
    assert document["public_key_sha256"] == signing.fingerprint(KEY_A.public_key("ed25519"))
    assert audit_checkpoint_verify(json.dumps(document)).intact
    assert audit_chain_verify().intact


@pytest.mark.django_db
def test_jl_a1_signing_again_at_the_same_size_returns_the_same_checkpoint(keys):
    """Idempotent on the size: a log already checkpointed at its head gets no second signature."""
    _append(2)
    first = audit_checkpoint_sign()
    second = audit_checkpoint_sign()  # the head is now the first's sign event: a new size
    assert second.size == first.size + 1
    _raw("DELETE FROM audit_auditevent WHERE sequence > %s", [second.size])  # back to the second's head
    events = AuditEvent.objects.count()
    assert audit_checkpoint_sign() == second
    assert AuditCheckpoint.objects.count() == 2 and AuditEvent.objects.count() == events


@pytest.mark.django_db
@pytest.mark.frozen_at("2026-12-07T09:00:00+08:00")
def test_jl_a1_the_daily_task_signs_once_a_beijing_day():
    _append(2)
    first = audit_checkpoint_daily_task()
    assert "checkpoint" in first
    assert audit_checkpoint_daily_task() == {"skipped": True}
    with time_machine.travel("2026-12-07T23:59:00+08:00", tick=False):
        assert audit_checkpoint_daily() is None
    with time_machine.travel("2026-12-08T00:01:00+08:00", tick=False):
        assert audit_checkpoint_daily_task()["size"] > first["size"]
    assert AuditCheckpoint.objects.count() == 2
    schedule = {entry["task"] for entry in _beat_schedule().values()}
    assert "audit.checkpoint_daily" in schedule


# --- verification against a kept checkpoint ------------------------------------------------------


@pytest.mark.django_db
def test_jl_a1_a_rewrite_with_recomputed_hashes_passes_the_chain_walk_but_fails_the_kept_checkpoint(keys, tmp_path):
    """Issue 11: the database superuser's attack."""
    _append(5)
    kept = tmp_path / "checkpoint.json"
    kept.write_bytes(_kept(audit_checkpoint_sign()))
    _append(2)
    call_command("audit_verify", "--checkpoint", str(kept))  # intact: no error

    _rewrite_whole_table(changed_sequence=2)
    assert audit_chain_verify().intact  # the plain walk is fooled
    report = audit_checkpoint_verify(kept.read_bytes())
    assert not report.intact and "此前的日志被改写" in report.text
    with pytest.raises(CommandError, match="此前的日志被改写"):
        call_command("audit_verify", "--checkpoint", str(kept))


@pytest.mark.django_db
def test_jl_a1_a_log_cut_below_the_kept_size_fails_the_checkpoint(keys):
    _append(4)
    kept = _kept(audit_checkpoint_sign())
    size = json.loads(kept)["size"]
    _raw("DELETE FROM audit_auditevent WHERE sequence >= %s", [size - 1])
    assert audit_chain_verify().intact  # a shorter chain is still a chain
    report = audit_checkpoint_verify(kept)
    assert not report.intact and f"少于检查点记录的 {size} 条" in report.text


@pytest.mark.django_db
def test_jl_a1_a_changed_or_foreign_checkpoint_file_is_refused(keys, settings):
    _append(3)
    kept = json.loads(_kept(audit_checkpoint_sign()))
    for field, value in (("size", kept["size"] - 1), ("head_hash", "0" * 64), ("signed_at", "2030-01-01T00:00:00.000000Z")):
        report = audit_checkpoint_verify(json.dumps({**kept, field: value}))
        assert not report.intact and "签名无效" in report.problem, field
    # Signed by someone else's key under our key id: the public key is not ours.
    statement = rules.checkpoint_statement(**{f: kept[f] for f in ("size", "head_hash", "signed_at", "signature_algorithm", "key_id")})
    forged = {**kept, "public_key": signing.b64(KEY_B.public_key("ed25519")), "signature": signing.b64(KEY_B.sign("ed25519", statement))}
    assert "公钥与本平台同编号的密钥不符" in audit_checkpoint_verify(json.dumps(forged)).problem
    settings.TELEMED_AUDIT_SIGNING_KEYS = (KEY_B,)
    assert "未在本平台配置" in audit_checkpoint_verify(json.dumps(kept)).problem


@pytest.mark.django_db
@pytest.mark.parametrize("raw, reason", [
    (b"not json", "不是有效的 JSON"),
    (b"[]", "JSON 对象"),
    (b'{"size": 1}', "缺少字段"),
])
def test_jl_a1_a_malformed_checkpoint_file_is_a_chinese_error_not_a_traceback(keys, tmp_path, raw, reason):
    path = tmp_path / "bad.json"
    path.write_bytes(raw)
    with pytest.raises(CommandError, match=reason):
        call_command("audit_verify", "--checkpoint", str(path))
    with pytest.raises(CommandError, match="无法读取"):
        call_command("audit_verify", "--checkpoint", str(tmp_path / "missing.json"))


@pytest.mark.django_db
def test_jl_a1_old_checkpoints_verify_after_key_rotation_and_a_switch_to_sm2(keys, settings):
    _append(2)
    ed = _kept(audit_checkpoint_sign())
    settings.TELEMED_DATA_CIPHER = "sm4-gcm"
    settings.TELEMED_AUDIT_SIGNING_KEYS = (KEY_B, KEY_A)  # rotated: B signs, A still verifies
    _append(2)
    sm2 = audit_checkpoint_sign()
    assert (sm2.signature_algorithm, sm2.key_id) == ("sm2", "b")
    assert AuditEvent.objects.order_by("-sequence").first().hash_algorithm == "sm3"
    sm2_kept = _kept(sm2)
    settings.TELEMED_DATA_CIPHER = "aes-256-gcm"
    assert audit_checkpoint_verify(ed).intact and audit_checkpoint_verify(sm2_kept).intact
    _rewrite_whole_table(changed_sequence=1)
    assert audit_chain_verify().intact
    assert not audit_checkpoint_verify(ed).intact and not audit_checkpoint_verify(sm2_kept).intact


# --- the page and the API ------------------------------------------------------------------------


@pytest.mark.django_db
def test_jl_a1_regulators_list_and_download_checkpoints_on_the_page_and_each_download_is_audited(
        keys, client, django_assert_max_num_queries):
    _append(2)
    checkpoint = audit_checkpoint_sign()
    province = regulator("220000")
    client.force_login(province)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("audit:checkpoint-list"))
    assert page.status_code == 200
    text = page.content.decode()
    assert checkpoint.head_hash in text and signing.fingerprint(KEY_A.public_key("ed25519")) in text
    response = client.get(reverse("audit:checkpoint-download", args=[checkpoint.pk]))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert audit_checkpoint_verify(response.content).intact
    download = AuditEvent.objects.get(event_type=EventType.AUDIT_CHECKPOINT_DOWNLOAD)
    assert download.actor_id == province.pk and download.object_id == str(checkpoint.pk)
    assert client.get(reverse("audit:checkpoint-download", args=[999_999])).status_code == 404


@pytest.mark.django_db
def test_jl_a1_staff_may_not_see_checkpoints(keys, client):
    checkpoint = audit_checkpoint_sign()
    clinician = staff(FacilityFactory(), StaffRole.FACILITY_ADMIN)
    client.force_login(clinician)
    assert client.get(reverse("audit:checkpoint-list")).status_code == 403
    assert client.get(reverse("audit:checkpoint-download", args=[checkpoint.pk])).status_code == 403
    api = token_client(clinician)
    answer = api.get(f"/api/v1/audit-checkpoints/{checkpoint.pk}/")
    assert answer.status_code == 403 and answer.json()["code"] == "permission_denied"
    assert not AuditEvent.objects.filter(event_type=EventType.AUDIT_CHECKPOINT_DOWNLOAD).exists()


@pytest.mark.django_db
def test_jl_a1_the_api_lists_checkpoints_and_serves_each_as_its_signed_document(keys, django_assert_max_num_queries):
    _append(1)
    first = audit_checkpoint_sign()
    second = audit_checkpoint_sign()
    api = token_client(regulator("220000"))
    with django_assert_max_num_queries(6):
        listing = api.get("/api/v1/audit-checkpoints/")
    assert listing.status_code == 200
    assert [row["size"] for row in listing.json()["results"]] == [second.size, first.size]
    document = api.get(f"/api/v1/audit-checkpoints/{first.pk}/")
    assert document.status_code == 200 and document.json()["signature"] == first.signature
    assert audit_checkpoint_verify(document.content).intact
    assert api.get("/api/v1/audit-checkpoints/999999/").status_code == 404
