"""The partner API's contract: the error answers every operation can give (issue 14).

drf-spectacular documents what a view declares; the answers that the shared plumbing gives to every
operation (the error contract of ``telemed.errors``, the partner rate limit, the body limits, the
``Idempotency-Key`` and ``If-Match`` checks) are added here, once, by a post-processing hook, each with
the ``{"code", "message", "extra"}`` body (component ``ErrorBody``) and an example per code.
``tests/telemed/test_api_fuzz.py`` (schemathesis against a live server) keeps this true.
"""

from __future__ import annotations

import copy

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}

ERROR_SCHEMA = {
    "type": "object",
    "description": "每个错误应答的统一格式（telemed.errors）：稳定的 code、中文 message、附加信息 extra。",
    "properties": {
        "code": {"type": "string", "description": "稳定的错误码：规则编号（如 JL-C2）或短词（not_found、invalid …）"},
        "message": {"type": "string", "description": "中文说明"},
        "extra": {"type": "object", "additionalProperties": True, "description": "附加信息，如 fields、reasons、retry_after"},
    },
    "required": ["code", "message", "extra"],
}


def _example(code: str, message: str, extra: dict | None = None, summary: str = "") -> dict:
    return {"summary": summary or code, "value": {"code": code, "message": message, "extra": extra or {}}}


#: status → (description, {example name: example}); what the shared plumbing answers.
COMMON = {
    "400": ("请求有误：字段或查询参数不合格（invalid，extra.fields 按字段列出）、查询参数含 NUL（invalid_query）、"
            "JSON 嵌套过深（json_too_deep），或规则拒绝（code 为规则编号，extra.reasons 列出全部原因）。", {
        "invalid": _example("invalid", "提交的数据有误，请按提示修改。", {"fields": {"page_size": ["请确保该值小于或等于 500。"]}}),
        "invalid_query": _example("invalid_query", "查询参数含有不允许的字符。"),
        "rule": _example("JL-C2", "JL-C2 第二十二条: …", {"reasons": [{"rule": "JL-C2", "article": "第二十二条", "message": "…"}]},
                         "规则拒绝（code 为规则编号）"),
    }),
    "401": ("未登录，或令牌无效、已过期（not_authenticated）。", {
        "not_authenticated": _example("not_authenticated", "请先登录或提供有效的 API 凭据。"),
    }),
    "403": ("角色无权执行此操作（permission_denied），或对接应用缺少所需的 scope（scope_insufficient，extra.required_scope）。", {
        "permission_denied": _example("permission_denied", "您的角色无权执行此操作。"),
        "scope_insufficient": _example("scope_insufficient", "该对接应用未获授权：需要 scope consultations:read。",
                                       {"required_scope": "consultations:read"}),
    }),
    "404": ("对象不存在或不在您的管辖范围内（JL-O1，not_found）；列表的页码超出范围同样是 404。", {
        "not_found": _example("not_found", "未找到该对象，或它不在您的管辖范围内。"),
    }),
    "409": ("与对象当前状态冲突（code 为规则编号或冲突原因），或存储的数据无法解密（data_undecryptable，JL-A2）。", {
        "conflict": _example("JL-O7", "JL-O7: …", {}, "状态冲突"),
        "data_undecryptable": _example("data_undecryptable", "该记录的数据无法解密，已记录，请联系安全管理员。",
                                       {"model": "consultations.patient", "field": "name"}),
    }),
    "429": ("对接应用超过每分钟请求上限（rate_limited）；Retry-After 与 extra.retry_after 给出等待秒数。", {
        "rate_limited": _example("rate_limited", "请求过于频繁，已超过该对接应用每分钟的请求上限，请按 Retry-After 稍后再试。",
                                 {"retry_after": 12}),
    }),
}

WRITES = {
    "413": ("请求内容或上传文件超过上限（body_too_large / upload_too_large，JL-A2）。", {
        "body_too_large": _example("body_too_large", "JL-A2: 请求内容超过上限，未予接收。", {"max_bytes": 2621440}),
    }),
    "415": ("不支持的内容类型（invalid）。", {
        "unsupported_media_type": _example("invalid", "不支持的内容类型。"),
    }),
}

POSTS = {
    "409": ("同一 Idempotency-Key 的首次请求仍在处理（idempotency_key_in_flight），或与对象当前状态冲突。", {
        "idempotency_key_in_flight": _example("idempotency_key_in_flight", "使用该 Idempotency-Key 的请求仍在处理中，请稍后重试。"),
    }),
    "422": ("同一 Idempotency-Key 已用于另一个请求（idempotency_key_reused）。", {
        "idempotency_key_reused": _example("idempotency_key_reused", "该 Idempotency-Key 已用于另一个请求。"),
    }),
}

DETAIL_WRITES = {
    "412": ("If-Match 与对象当前版本不符（precondition_failed），extra.etag 为当前版本；什么也没有执行。", {
        "precondition_failed": _example("precondition_failed", "对象已被修改，请重新读取后再提交。", {"etag": '"3f2a…"'}),
    }),
}

RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "等待的秒数"}}

METHODS = ("get", "put", "post", "patch", "delete")


def api_operations(result: dict):
    """Every operation of ``/api/v1/`` in a generated schema: ``(path, method, operation)``, for the hooks."""
    for path, path_item in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method in METHODS:
            operation = path_item.get(method)
            if operation is not None:
                yield path, method, operation
#: telemed.dates: a UTC offset of 16 hours or more cannot be true and is refused (400 invalid).
DATE_TIME_OFFSET = "(Z|z|[+-](0[0-9]|1[0-5]):?[0-5][0-9])$"


def _date_times(node) -> None:
    """Every ``date-time`` string of the schema states the offsets the portal takes."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "date-time" and "pattern" not in node:
            node["pattern"] = DATE_TIME_OFFSET
        for value in node.values():
            _date_times(value)
    elif isinstance(node, list):
        for value in node:
            _date_times(value)
NO_NUL = "^[^\\u0000]*$"

#: The FHIR facade (telemed.fhir) answers its own errors as an OperationOutcome (application/fhir+json);
#: the plumbing in front of its views answers as everywhere else (ErrorBody, application/json): a NUL in
#: the query (400 invalid_query, telemed.middleware) and a path id that is not a number (404 not_found,
#: Django's URL resolver). Both are documented for those two statuses (issue 14). The operations of the
#: facade carry the tag ``fhir``; ``/api/v1/fhir/AuditEvent`` (audit.api) answers ErrorBody throughout.
FHIR_PREFIX = "/api/v1/fhir/"
FHIR_MEDIA_TYPE = "application/fhir+json"
FHIR_PLUMBING = {
    "400": "查询参数含 NUL 时由门户中间件以 ErrorBody（application/json，invalid_query）应答。",
    "404": "路径中的 id 不是数字时由门户以 ErrorBody（application/json，not_found）应答。",
}


def _fhir(responses: dict, table: dict) -> None:
    """A FHIR operation: OperationOutcome for every error status, plus ErrorBody where the plumbing answers."""
    for status, (description, _examples) in table.items():
        response = responses.setdefault(status, {"description": description})
        content = response.setdefault("content", {})
        content.setdefault(FHIR_MEDIA_TYPE, {"schema": {"type": "object", "description": "FHIR R4 OperationOutcome"}})
        if status in FHIR_PLUMBING:
            content.setdefault("application/json", {"schema": ERROR_REF})
            response["description"] = f"{response.get('description', description)} {FHIR_PLUMBING[status]}"


def _add(responses: dict, status: str, description: str, examples: dict, shared: dict) -> None:
    response = responses.get(status)
    if response is None:
        response = responses[status] = {"description": description}
    content = response.setdefault("content", {})
    if not content:
        content["application/json"] = {"schema": ERROR_REF}
    for media in content.values():
        if media.get("schema") == ERROR_REF or media.get("schema", {}).get("$ref", "").endswith("/ErrorBody"):
            merged = media.setdefault("examples", {})
            for name, example in examples.items():
                key = f"Error_{example['value']['code']}_{name}".replace("-", "_")
                shared.setdefault(key, copy.deepcopy(example))
                merged.setdefault(name, {"$ref": f"#/components/examples/{key}"})


def document_errors(result, generator, request, public):
    """drf-spectacular post-processing hook: every API operation documents the error answers of the
    shared plumbing (``COMMON``), writes the body limits, POSTs the ``Idempotency-Key`` answers and
    writes on one object the ``If-Match`` answer, each with the ``ErrorBody`` schema and examples."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ERROR_SCHEMA)
    shared = result["components"].setdefault("examples", {})
    _date_times(result)
    for path, method, operation in api_operations(result):
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and schema.get("type") == "string" and not (
                    {"pattern", "enum", "format"} & set(schema)):
                # telemed.middleware: a NUL in any query parameter is 400 invalid_query.
                schema["pattern"] = NO_NUL
        responses = operation.setdefault("responses", {})
        table = dict(COMMON)
        if method != "get":
            table.update(WRITES)
        if method == "post":
            for status, (description, examples) in POSTS.items():
                _, common = table.get(status, ("", {}))
                table[status] = (description, {**common, **examples})
        if method != "get" and "{" in path:
            table.update(DETAIL_WRITES)
        if path.startswith(FHIR_PREFIX) and "fhir" in operation.get("tags", []):  # not AuditEvent (ErrorBody)
            _fhir(responses, table)
        for status, (description, examples) in sorted(table.items()):
            _add(responses, status, description, examples, shared)
        responses["429"].setdefault("headers", RETRY_AFTER)
    return result
