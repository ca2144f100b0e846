"""JL-A2 (GB/T 22239-2019 8.1.4.8, GB/T 39786-2021): uploaded files are stored encrypted.

The default storage writes authenticated ciphertext in 64 KiB segments under the data keys (AES-256-GCM,
or SM4-GCM under 密评); downloads give back the plain bytes; tampering, cutting, reordering and a missing
key are refused before a byte is served; files written before encryption still read and
``rotate_data_key`` moves every file onto the current key.
"""

from __future__ import annotations

import hashlib
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from consultations import services
from telemed import crypto
from telemed.storage import MAGIC, SEGMENT_BYTES, EncryptedFileSystemStorage
from tests.factories import pdf

OLD = crypto.DataKey("old", bytes(range(32)))
NEW = crypto.DataKey("new", bytes(range(32, 64)))
# A body that spans several segments, with a last one that is not full.
BODY = b"%PDF-1.4\n" + b"".join(f"患者病历第{n}行：血压 120/80\n".encode() for n in range(9000))


@pytest.fixture(params=["aes-256-gcm", "sm4-gcm"])
def cipher(request, settings):
    settings.TELEMED_DATA_CIPHER = request.param
    return request.param


@pytest.fixture
def storage(settings):
    return EncryptedFileSystemStorage(location=settings.MEDIA_ROOT)


def test_jl_a2_the_default_storage_is_the_encrypted_one():
    default_storage._setup()
    assert isinstance(default_storage._wrapped, EncryptedFileSystemStorage)


@pytest.mark.parametrize("size", [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES])
def test_jl_a2_a_file_round_trips_and_the_disk_holds_no_plain_byte_run(storage, cipher, size):
    body = (BODY * 2)[:size]
    name = storage.save("documents/x.pdf", ContentFile(body))
    on_disk = Path(storage.path(name)).read_bytes()
    assert on_disk.startswith(MAGIC)
    if size >= 16:
        assert body[:16] not in on_disk and body[-16:] not in on_disk
    assert storage.size(name) == size
    with storage.open(name) as handle:
        assert handle.size == size
        assert handle.read() == body
        handle.seek(max(0, size - 10))
        assert handle.read() == body[-10:] if size >= 10 else True


def test_jl_a2_two_saves_of_the_same_bytes_differ_on_disk(storage):
    first, second = storage.save("a.pdf", ContentFile(BODY)), storage.save("a.pdf", ContentFile(BODY))
    assert Path(storage.path(first)).read_bytes() != Path(storage.path(second)).read_bytes()


@pytest.mark.parametrize("damage", ["flip", "cut", "swap", "append", "header"])
def test_jl_a2_a_damaged_file_is_refused_before_a_byte_is_served(storage, cipher, damage):
    name = storage.save("documents/x.pdf", ContentFile(BODY))
    path = Path(storage.path(name))
    data = bytearray(path.read_bytes())
    header = data.index(b"\n") + 1
    full = SEGMENT_BYTES + crypto.TAG_BYTES
    if damage == "flip":
        data[header + full + 100] ^= 1
    elif damage == "cut":
        data = data[: header + 2 * full]  # whole segments: only "this is not the last" tells
    elif damage == "swap":
        data[header:header + 2 * full] = data[header + full:header + 2 * full] + data[header:header + full]
    elif damage == "append":
        data += data[header:header + full]
    else:
        data[5:9] = b"ZZZZ"
    path.write_bytes(bytes(data))
    with pytest.raises(crypto.UndecryptableError):
        storage.open(name)


def test_jl_a2_a_file_whose_key_is_gone_is_refused(storage, settings):
    settings.TELEMED_DATA_KEYS = (OLD,)
    name = storage.save("x.pdf", ContentFile(BODY))
    settings.TELEMED_DATA_KEYS = (NEW,)
    with pytest.raises(crypto.UndecryptableError, match="not configured"):
        storage.open(name)


def test_jl_a2_a_file_written_before_encryption_still_reads(storage):
    path = Path(storage.location) / "legacy" / "old.pdf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"%PDF-1.4 plain legacy")
    with storage.open("legacy/old.pdf") as handle:
        assert handle.read() == b"%PDF-1.4 plain legacy"
    assert storage.size("legacy/old.pdf") == len(b"%PDF-1.4 plain legacy")


def test_jl_a2_a_case_document_is_stored_encrypted_and_downloads_plain(client, world, cipher):
    consultation = world.draft()
    document = services.document_upload(actor=world.clinician, consultation=consultation, kind="medical_record",
                                        title="病历", upload=pdf("record.pdf", BODY))
    assert document.sha256 == hashlib.sha256(BODY).hexdigest() and document.size == len(BODY)
    assert BODY[:64] not in Path(document.file.path).read_bytes()
    client.force_login(world.clinician)
    response = client.get(reverse("consultations:document-download", args=[consultation.pk, document.pk]))
    assert response.status_code == 200
    assert int(response["Content-Length"]) == len(BODY)
    assert b"".join(response.streaming_content) == BODY


def test_jl_a2_a_tampered_case_document_is_never_served(client, world):
    consultation = world.draft()
    document = services.document_upload(actor=world.clinician, consultation=consultation, kind="medical_record",
                                        title="病历", upload=pdf("record.pdf", BODY))
    path = Path(document.file.path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    client.force_login(world.clinician)
    client.raise_request_exception = False
    response = client.get(reverse("consultations:document-download", args=[consultation.pk, document.pk]))
    assert response.status_code != 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert BODY[:64] not in body


def test_jl_a2_rotate_data_key_encrypts_plain_files_and_moves_old_ones(db, storage, settings):
    settings.TELEMED_DATA_KEYS = (OLD,)
    on_old = storage.save("documents/old-key.pdf", ContentFile(BODY))
    legacy = Path(storage.location) / "documents" / "legacy.pdf"
    legacy.write_bytes(b"%PDF-1.4 legacy")
    settings.TELEMED_DATA_KEYS = (NEW, OLD)
    out = StringIO()
    call_command("rotate_data_key", "--batch-size", "1", stdout=out)
    assert EncryptedFileSystemStorage.stored_key_id(storage.path(on_old)) == "new"
    assert EncryptedFileSystemStorage.stored_key_id(legacy) == "new"
    settings.TELEMED_DATA_KEYS = (NEW,)
    with storage.open(on_old) as handle:
        assert handle.read() == BODY
    with storage.open("documents/legacy.pdf") as handle:
        assert handle.read() == b"%PDF-1.4 legacy"
    assert "2 个文件已重新加密" in out.getvalue()
    assert not [p for p in Path(storage.location).rglob("*") if p.name.startswith(".")]  # no working file left
    assert AuditEvent.objects.filter(event_type="security.data_key_rotate", object_type="files").count() == 2
    # A file whose key is gone is named and left as it is; the rest of the run goes on.
    settings.TELEMED_DATA_KEYS = (OLD,)
    lost = storage.save("documents/lost.pdf", ContentFile(b"%PDF-1.4 lost"))
    settings.TELEMED_DATA_KEYS = (NEW,)
    errors = StringIO()
    call_command("rotate_data_key", stdout=StringIO(), stderr=errors)
    assert "1 个文件无法解密" in errors.getvalue() and lost in errors.getvalue()
    Path(storage.path(lost)).unlink()
    # A second run finds nothing left to do.
    again = StringIO()
    call_command("rotate_data_key", stdout=again)
    assert "0 个文件已重新加密" in again.getvalue()
