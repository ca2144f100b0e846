"""Uploaded files on S3-compatible object storage (issue 11, docs/scaling.md), encrypted as on disk (JL-A2).

Against a local S3 emulator: moto's server, started on the loopback for this module (no cloud, no
network beyond 127.0.0.1). The object store must hold only ciphertext; the portal reads, sizes,
refuses tampered objects and rotates keys exactly as with the disk storage.
"""

from __future__ import annotations

from io import StringIO

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from telemed import crypto
from telemed.storage import MAGIC, SEGMENT_BYTES

moto_server = pytest.importorskip("moto.server")

BUCKET = "telemed-documents"
BODY = b"%PDF-1.4\n" + b"".join(f"患者病历第{n}行：血压 120/80\n".encode() for n in range(9000))
OLD = crypto.DataKey("old", bytes(range(32)))
NEW = crypto.DataKey("new", bytes(range(32, 64)))


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch):
    """The portal's default storage pointed at a fresh bucket of the emulator."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "cn-north-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="cn-north-1")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "telemed.s3storage.EncryptedS3Storage", "OPTIONS": {
            "bucket_name": BUCKET, "endpoint_url": s3_endpoint, "region_name": "cn-north-1", "location": "documents",
            "file_overwrite": False, "default_acl": None,
        }},
    }
    default_storage._setup()
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def stored_object(client, name: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=f"documents/{name}")["Body"].read()


@pytest.mark.parametrize("size", [0, 1, SEGMENT_BYTES, 3 * SEGMENT_BYTES + 5])
def test_jl_a2_a_file_on_s3_round_trips_and_the_bucket_holds_only_ciphertext(s3, size):
    body = (BODY * 2)[:size]
    name = default_storage.save("cases/报告.pdf", ContentFile(body))
    in_bucket = stored_object(s3, name)
    assert in_bucket.startswith(MAGIC)
    if size >= 16:
        assert body[:16] not in in_bucket and body[-16:] not in in_bucket
    assert default_storage.size(name) == size
    with default_storage.open(name) as handle:
        assert handle.size == size and handle.read() == body
    # A second file of the same name gets a name of its own, as on disk (nothing is overwritten).
    assert default_storage.save("cases/报告.pdf", ContentFile(b"second")) != name


def test_jl_a2_a_changed_object_in_the_bucket_is_refused_before_a_byte_is_served(s3):
    name = default_storage.save("cases/ct.pdf", ContentFile(BODY))
    sealed = bytearray(stored_object(s3, name))
    sealed[-40] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=f"documents/{name}", Body=bytes(sealed))
    with pytest.raises(crypto.UndecryptableError, match="JL-A2"):
        default_storage.open(name)


def test_jl_a2_encrypted_objects_have_no_direct_link():
    from telemed.s3storage import EncryptedS3Storage

    with pytest.raises(NotImplementedError, match="JL-A2"):
        EncryptedS3Storage(bucket_name=BUCKET).url("cases/ct.pdf")


def test_jl_a2_rotate_data_key_re_encrypts_the_objects_in_the_bucket(db, s3, settings):
    settings.TELEMED_DATA_KEYS = (OLD,)
    first = default_storage.save("cases/a.pdf", ContentFile(BODY))
    second = default_storage.save("cases/b.pdf", ContentFile(b"%PDF-1.4 short"))
    settings.TELEMED_DATA_KEYS = (NEW, OLD)
    out = StringIO()
    call_command("rotate_data_key", "--batch-size", "1", stdout=out)
    assert "2 个文件已重新加密" in out.getvalue()
    assert {default_storage.key_id_of(first), default_storage.key_id_of(second)} == {"new"}
    settings.TELEMED_DATA_KEYS = (NEW,)  # the old key is gone: the files still read
    with default_storage.open(first) as handle:
        assert handle.read() == BODY
    again = StringIO()
    call_command("rotate_data_key", stdout=again)
    assert "0 个文件已重新加密" in again.getvalue()
