"""JL-A2 (GB/T 22239-2019 8.1.4.8, GB/T 39786-2021): the encryption-at-rest plumbing, telemed/crypto.py.

Pure tests: the two ciphers round trip, anything tampered with or moved is refused, the blind index is
keyed, and the portal will not start in production without a data key.
"""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from telemed import crypto

ID = "220102196005011234"
AAD = "consultations_patient.id_number"
OLD = crypto.DataKey("old", bytes(range(32)))
NEW = crypto.DataKey("new", bytes(range(32, 64)))


@pytest.fixture(params=["aes-256-gcm", "sm4-gcm"])
def cipher(request, settings):
    settings.TELEMED_DATA_KEYS = (NEW, OLD)
    settings.TELEMED_DATA_CIPHER = request.param
    return request.param


def test_jl_a2_both_ciphers_round_trip_with_a_fresh_nonce(cipher):
    stored = crypto.encrypt(ID, aad=AAD)
    again = crypto.encrypt(ID, aad=AAD)
    assert crypto.decrypt(stored, aad=AAD) == ID and crypto.decrypt(again, aad=AAD) == ID
    assert stored != again  # a fresh nonce each time: equal numbers do not look equal
    version, cipher_id, key_id, body = stored.split(".")
    assert (version, cipher_id, key_id) == ("v1", crypto.CIPHERS[cipher], "new")
    assert ID not in stored and ID.encode() not in base64.urlsafe_b64decode(body + "==")
    assert crypto.decrypt(crypto.encrypt("张三 13812341234", aad=AAD), aad=AAD) == "张三 13812341234"
    assert crypto.encrypt("", aad=AAD) == "" and crypto.decrypt("", aad=AAD) == ""


def test_jl_a2_sm4_and_aes_are_different_ciphers(settings):
    settings.TELEMED_DATA_KEYS = (NEW,)
    settings.TELEMED_DATA_CIPHER = "sm4-gcm"
    sm4 = crypto.encrypt(ID, aad=AAD)
    # The value names its cipher: it still reads after the setting moves back to AES, and relabelled as
    # AES it does not open.
    assert sm4.split(".")[1] == "SM4G"
    settings.TELEMED_DATA_CIPHER = "aes-256-gcm"
    assert crypto.decrypt(sm4, aad=AAD) == ID
    forged = sm4.replace(".SM4G.", ".A256G.")
    with pytest.raises(crypto.UndecryptableError, match="JL-A2"):
        crypto.decrypt(forged, aad=AAD)


def test_jl_a2_tampered_ciphertext_is_refused(cipher):
    stored = crypto.encrypt(ID, aad=AAD)
    prefix, body = stored.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for position in (0, 13, len(raw) - 1):  # the nonce, the ciphertext, the tag
        flipped = bytearray(raw)
        flipped[position] ^= 1
        with pytest.raises(crypto.UndecryptableError, match="JL-A2"):
            crypto.decrypt(f"{prefix}.{base64.urlsafe_b64encode(bytes(flipped)).decode()}", aad=AAD)
    for broken in (stored[:-4], "220102196005011234", "v1.XXX.new.abc", "v1.A256G.new", prefix + ".!!!"):
        with pytest.raises(crypto.UndecryptableError, match="JL-A2"):
            crypto.decrypt(broken, aad=AAD)


def test_jl_a2_a_value_moved_to_another_column_is_refused(cipher):
    stored = crypto.encrypt(ID, aad=AAD)
    with pytest.raises(crypto.UndecryptableError, match="JL-A2"):
        crypto.decrypt(stored, aad="consultations_patient.phone")


def test_jl_a2_an_old_key_still_decrypts_and_a_removed_one_is_refused(settings):
    settings.TELEMED_DATA_CIPHER = "aes-256-gcm"
    settings.TELEMED_DATA_KEYS = (OLD,)
    stored = crypto.encrypt(ID, aad=AAD)
    settings.TELEMED_DATA_KEYS = (NEW, OLD)
    assert crypto.decrypt(stored, aad=AAD) == ID and crypto.key_id_of(stored) == "old"
    assert crypto.key_id_of(crypto.encrypt(ID, aad=AAD)) == "new"
    settings.TELEMED_DATA_KEYS = (NEW,)
    with pytest.raises(crypto.UndecryptableError, match="'old' is not configured"):
        crypto.decrypt(stored, aad=AAD)
    # The same key id with other key material does not open it either.
    settings.TELEMED_DATA_KEYS = (crypto.DataKey("old", bytes(32)),)
    with pytest.raises(crypto.UndecryptableError):
        crypto.decrypt(stored, aad=AAD)


def test_jl_a2_the_blind_index_is_keyed_normalised_and_per_column(cipher, settings):
    index = crypto.blind_index(ID, purpose="id_number")
    assert len(index) == 64 and ID not in index
    assert crypto.blind_index(" 220102 196005011234 ", purpose="id_number") == index
    assert crypto.blind_index("２２０１０２１９６００５０１１２３４", purpose="id_number") == index  # full-width digits
    assert crypto.blind_index("22010219700101567x", purpose="id_number") == crypto.blind_index("22010219700101567X", purpose="id_number")
    assert crypto.blind_index(ID, purpose="phone") != index
    assert crypto.blind_index("", purpose="id_number") == ""
    assert index in crypto.blind_index_candidates(ID, purpose="id_number")
    # Another key gives another digest: the index means nothing without the key.
    settings.TELEMED_DATA_KEYS = (OLD, NEW)
    assert crypto.blind_index(ID, purpose="id_number") != index
    assert index in crypto.blind_index_candidates(ID, purpose="id_number")  # old rows still found


def test_jl_a2_the_index_is_hmac_sm3_under_sm4_and_hmac_sha256_under_aes(settings):
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    settings.TELEMED_DATA_KEYS = (NEW,)
    for name, algorithm in (("sm4-gcm", hashes.SM3()), ("aes-256-gcm", hashes.SHA256())):
        settings.TELEMED_DATA_CIPHER = name
        key = HKDF(algorithm=algorithm, length=32, salt=None, info=f"telemed index {name}".encode()).derive(NEW.secret)
        mac = hmac.HMAC(key, algorithm)
        mac.update(b"id_number\x00" + ID.encode())
        assert crypto.blind_index(ID, purpose="id_number") == mac.finalize().hex()


# --- Keys: from the environment or a file, never the database -----------------------------------


def test_jl_a2_keys_come_from_the_environment_current_first(tmp_path):
    raw = f"{crypto.new_key_line('k2')}, {crypto.new_key_line('k1')}"
    keys = crypto.data_keys(raw, "", debug=False, allow_http=False, var_dir=tmp_path)
    assert [k.id for k in keys] == ["k2", "k1"] and all(len(k.secret) == 32 for k in keys)
    assert "secret" not in repr(keys[0]) and str(keys[0].secret) not in repr(keys)


def test_jl_a2_keys_come_from_a_key_file(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# current first\n{crypto.new_key_line('k2')}\n{crypto.new_key_line('k1')}\n")
    keys = crypto.data_keys("", str(path), debug=False, allow_http=False, var_dir=tmp_path)
    assert [k.id for k in keys] == ["k2", "k1"]
    with pytest.raises(ImproperlyConfigured, match="TELEMED_DATA_KEY_FILE"):
        crypto.data_keys("", str(tmp_path / "missing"), debug=False, allow_http=False, var_dir=tmp_path)


@pytest.mark.parametrize("raw", [
    "k1", "k1:not base64!", f"k1:{base64.b64encode(bytes(16)).decode()}", "bad id:" + base64.b64encode(bytes(32)).decode(),
    f"k1:{base64.b64encode(bytes(32)).decode()},k1:{base64.b64encode(bytes(range(32))).decode()}",
])
def test_jl_a2_a_malformed_key_stops_start_up(raw, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="TELEMED_DATA_KEYS"):
        crypto.data_keys(raw, "", debug=True, allow_http=True, var_dir=tmp_path)


def test_jl_a2_production_refuses_to_start_without_a_data_key(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="JL-A2") as refused:
        crypto.data_keys("", "", debug=False, allow_http=False, var_dir=tmp_path)
    assert "TELEMED_DATA_KEYS" in str(refused.value) and "TELEMED_ALLOW_HTTP" in str(refused.value)
    assert not (tmp_path / "data_keys").exists()  # no key is made up for production


def test_jl_a2_local_use_gets_one_key_per_checkout(tmp_path):
    first = crypto.data_keys("", "", debug=False, allow_http=True, var_dir=tmp_path / "var")
    again = crypto.data_keys("", "", debug=True, allow_http=False, var_dir=tmp_path / "var")
    assert first == again and (tmp_path / "var" / "data_keys").stat().st_mode & 0o077 == 0
    assert crypto.data_keys("", "", debug=True, allow_http=False, var_dir=tmp_path / "other") != first


def test_jl_a2_the_cipher_setting_is_one_of_two():
    assert crypto.data_cipher("") == "aes-256-gcm" and crypto.data_cipher("SM4-GCM") == "sm4-gcm"
    with pytest.raises(ImproperlyConfigured, match="TELEMED_DATA_CIPHER"):
        crypto.data_cipher("des")
