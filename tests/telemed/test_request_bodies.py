"""JSON request bodies: too deep or too large is a 400 in the error contract, never a 500 or an
HTML page, and nothing is stored (issue 8)."""

import json

import pytest

from consultations.models import Consent
from telemed.parsers import json_depth
from tests.api_cases import assert_error, token_client


def consent_url(consultation) -> str:
    return f"/api/v1/consultations/{consultation.pk}/consent/"


def test_json_depth_counts_nesting_without_recursion():
    assert json_depth(1) == 0
    assert json_depth([]) == 1
    assert json_depth({"a": [1, {"b": []}]}) == 4
    deep = []
    for _ in range(100_000):
        deep = [deep]
    assert json_depth(deep) == 100_001


def test_a_body_nested_100000_levels_is_json_too_deep(world):
    consultation = world.draft()
    client = token_client(world.clinician)
    body = "[" * 100_000 + "]" * 100_000
    error = assert_error(client.generic("POST", consent_url(consultation), body, content_type="application/json"), 400, "json_too_deep")
    assert error["extra"] == {"max_depth": 32}
    assert not Consent.objects.exists()


def test_a_body_deeper_than_the_setting_is_refused_and_within_it_is_parsed(world, settings):
    settings.TELEMED_JSON_MAX_DEPTH = 3
    consultation = world.draft()
    client = token_client(world.clinician)
    nested = {"signer_name": "李四", "relation": "spouse", "x": {"y": {"z": [1]}}}
    assert_error(client.post(consent_url(consultation), nested, format="json"), 400, "json_too_deep")
    shallow = {"signer_name": "李四", "relation": "spouse", "x": {"y": [1]}}
    response = client.post(consent_url(consultation), shallow, format="json")
    assert response.json()["code"] != "json_too_deep"


def test_jl_a2_a_body_over_the_upload_limit_is_413_body_too_large_in_the_error_contract(world, settings):
    consultation = world.draft()
    client = token_client(world.clinician)
    body = json.dumps({"signer_name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = client.generic("POST", consent_url(consultation), body, content_type="application/json")
    error = assert_error(response, 413, "body_too_large")
    assert response["Content-Type"].startswith("application/json")
    assert error["extra"] == {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
    assert not Consent.objects.exists()


@pytest.mark.parametrize("body", ["{", "[1,]", "\"unterminated"])
def test_malformed_json_stays_invalid(world, body):
    consultation = world.draft()
    assert_error(token_client(world.clinician).generic("POST", consent_url(consultation), body, content_type="application/json"), 400, "invalid")
