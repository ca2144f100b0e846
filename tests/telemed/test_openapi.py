"""The partner API's OpenAPI schema: one component per name (drf-spectacular)."""

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture
def schema_warnings():
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    warnings = list(GENERATOR_STATS._warn_cache)
    GENERATOR_STATS.reset()
    return schema, warnings


def test_no_two_serializers_collide_in_one_component(schema_warnings):
    """A collision means one component silently overrides the other in the published schema."""
    schema, warnings = schema_warnings
    assert [w for w in warnings if "identical names" in w] == []
    reason = schema["components"]["schemas"]["Reason"]
    assert set(reason["properties"]) == {"reason"} and "required" not in reason


def test_every_reason_body_uses_the_one_shared_component(schema_warnings):
    """Decline, cancel, withdraw, agreement termination, revocation and charge reversal share ``Reason``."""
    schema, _warnings = schema_warnings
    bodies = [
        op["requestBody"]["content"]["application/json"]["schema"].get("$ref", "")
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path.endswith(("/decline/", "/cancel/", "/withdraw/", "/terminate/", "/reverse/")) and "requestBody" in op
    ]
    assert len(bodies) >= 5 and set(bodies) == {"#/components/schemas/Reason"}
