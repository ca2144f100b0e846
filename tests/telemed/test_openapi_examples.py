"""Issue 14: every example in the published schema is true to its schema.

Every operation of ``/api/v1/`` documents at least one success answer (2xx) with an example
(``telemed.openapi_examples``), and every example — success and error (``telemed.openapi``) — validates
against the schema of its own answer, read as OpenAPI 3.0 reads it: ``nullable`` admits null, a
``writeOnly`` property is never in an answer, ``date``/``date-time`` are checked (ISO 8601 with an offset).
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from telemed.openapi_examples import Builder

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _response_json_schema(node):
    """OpenAPI 3.0 schema object of an answer → JSON Schema (draft 4)."""
    if isinstance(node, list):
        return [_response_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _response_json_schema(value) for key, value in node.items() if key not in ("example", "discriminator")}
    properties = node.get("properties")
    if isinstance(properties, dict):
        write_only = {key for key, value in properties.items() if isinstance(value, dict) and value.get("writeOnly")}
        node["properties"] = {key: value for key, value in properties.items() if key not in write_only}
        if "required" in node:
            node["required"] = [key for key in node["required"] if key not in write_only]
            if not node["required"]:
                del node["required"]
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    return not isinstance(value, str) or dt.datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("date", raises=ValueError)
def _date(value) -> bool:
    return not isinstance(value, str) or bool(dt.date.fromisoformat(value))


def _examples(schema):
    """Every (operation, status, media type, example name, value, answer schema) of ``/api/v1/``."""
    shared = schema["components"].get("examples", {})
    for path, item in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            for status, response in operation["responses"].items():
                for media_type, media in (response.get("content") or {}).items():
                    examples = dict(media.get("examples") or {})
                    if "example" in media:
                        examples["example"] = {"value": media["example"]}
                    for name, example in examples.items():
                        if "$ref" in example:
                            example = shared[example["$ref"].rsplit("/", 1)[1]]
                        yield f"{method.upper()} {path}", status, media_type, name, example["value"], media.get("schema", {})


_VALIDATORS: dict = {}


def _problems(schema, value, answer_schema) -> list[str]:
    """What is wrong with ``value`` as an answer of ``answer_schema`` (nothing: ``[]``)."""
    components = _VALIDATORS.get(id(schema))
    if components is None:
        components = _VALIDATORS[id(schema)] = {"schemas": _response_json_schema(schema["components"]["schemas"])}
    key = (id(schema), json.dumps(answer_schema, sort_keys=True))
    validator = _VALIDATORS.get(key)
    if validator is None:
        root = {"allOf": [_response_json_schema(answer_schema)], "components": components}
        validator = _VALIDATORS[key] = jsonschema.Draft4Validator(root, format_checker=FORMATS)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}" for error in validator.iter_errors(value)]


def test_every_operation_has_a_success_answer_with_an_example(schema):
    """Issue 14: "every response … documented with examples" — the 2xx answers too."""
    missing = []
    operations = 0
    for path, item in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            operations += 1
            success = {status: response for status, response in operation["responses"].items() if status.startswith("2")}
            if not any(media.get("examples") or "example" in media
                       for response in success.values() for media in (response.get("content") or {}).values()):
                missing.append(f"{method.upper()} {path} {sorted(success)}")
    assert operations > 150
    assert missing == []


def test_every_example_validates_against_its_own_schema(schema):
    """Issue 14: success and error examples alike are answers the schema admits."""
    checked, failures = 0, []
    for operation, status, media_type, name, value, answer_schema in _examples(schema):
        checked += 1
        failures += [f"{operation} {status} {media_type} {name}: {problem}"
                     for problem in _problems(schema, value, answer_schema)]
    assert checked > 1000
    assert failures == []


def test_a_wrong_example_is_caught(schema):
    """The check above can fail: an example that breaks its schema (a float for whole fen, a missing
    required field, a time without its offset, a null where none is allowed) is reported."""
    component = "Charge"
    value = copy.deepcopy(Builder(schema["components"]).value({"$ref": f"#/components/schemas/{component}"}))
    answer_schema = {"$ref": f"#/components/schemas/{component}"}
    assert _problems(schema, value, answer_schema) == []
    fen = next(key for key in value if key.endswith("_fen"))
    stamp = next(key for key, prop in schema["components"]["schemas"][component]["properties"].items()
                 if prop.get("format") == "date-time" and not prop.get("nullable"))
    required = next(key for key in schema["components"]["schemas"][component]["required"] if key not in (fen, stamp))
    wrong = {**value, fen: 300.5, stamp: "2026-12-07T09:30:00"}
    del wrong[required]
    problems = _problems(schema, wrong, answer_schema)
    assert any(p.startswith(f"{fen}:") for p in problems), problems
    assert any(p.startswith(f"{stamp}:") for p in problems), problems
    assert any(required in p for p in problems), problems
    assert _problems(schema, {**value, "id": None}, answer_schema) != []


def test_the_fhir_examples_are_valid_fhir_r4_resources(schema):
    """The FHIR facade's examples (``telemed.fhir.examples``) parse as FHIR R4 (R4B models) of the type the
    operation answers: a Bundle of that type for a search, the resource for a read."""
    import importlib

    def model(resource_type: str):
        return getattr(importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}"), resource_type)

    checked = 0
    for operation, status, media_type, _name, value, _schema in _examples(schema):
        if media_type != "application/fhir+json" or not status.startswith("2"):
            continue
        path = operation.split(" ", 1)[1]
        name = path.removeprefix("/api/v1/fhir/").split("/")[0]
        expected = "CapabilityStatement" if name == "metadata" else ("Bundle" if path.endswith(name) else name)
        assert value["resourceType"] == expected, operation
        model(value["resourceType"]).model_validate(value)
        for entry in value.get("entry", []):
            assert entry["resource"]["resourceType"] == name, operation
        checked += 1
    assert checked >= 23


def test_the_schema_is_the_same_whatever_the_time_it_is_generated(schema):
    """Issue 14: partners diff and cache the published schema; an example must not carry the moment the
    schema was built (the FHIR examples' rows once took their change stamp from the clock)."""
    import time_machine

    with time_machine.travel(dt.datetime(2031, 5, 17, 3, 4, 5, tzinfo=dt.UTC), tick=False):
        later = SchemaGenerator().get_schema(request=None, public=True)
    assert json.dumps(later, sort_keys=True, default=str) == json.dumps(schema, sort_keys=True, default=str)
