"""The partner API's contract: an example of every success answer (issue 14).

``telemed.openapi`` gives every error answer its examples; this post-processing hook gives every 2xx
answer of ``/api/v1/`` one, so that a partner's developer sees what a real answer looks like. The
examples are built once per response component from the component itself (so they follow the
serializers as they change): each property gets a value of its type, its format, its pattern and its
bounds, chosen by its name to read like the portal's own data — 吉林大学第一医院, division codes of
GB/T 2260 (220102), masked identity numbers (JL-C9), whole fen (JL-B*), times in Beijing time. A label
beside an enum (``state`` / ``state_label``) is that value's label. An operation that declares its own
example (``OpenApiExample``, as the FHIR facade does) keeps it; a file download gets a sample of its
media type. ``tests/telemed/test_openapi_examples.py`` validates every example against its schema.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from telemed.openapi import api_operations

FHIR_MEDIA_TYPE = "application/fhir+json"
NOW = "2026-12-07T09:30:00+08:00"
TODAY = "2026-12-07"

#: The start of a file of each downloadable media type, as text (the schema says ``format: binary``).
FILE_EXAMPLES = {
    "text/csv": "\ufeff月份,机构,医师,角色,病例编号,金额（分）\r\n2026-11,吉林大学第一医院,王建国,签发专家,YC-20261107-0042,9600\r\n",
    "application/pdf": "%PDF-1.7\n%…（二进制 PDF 文件，此处仅示其开头）",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "PK\u0003\u0004…（二进制 XLSX 文件，此处仅示其开头）",
    "application/octet-stream": "%PDF-1.7\n%…（上传时的原始文件，类型见 Content-Type，此处仅示其开头）",
}

#: By component: what a ``name`` is there (the default is a hospital's name).
NAMES = (
    (re.compile(r"Physician|Expert|Practitioner|Inspector|Payout|Participant|Registration|Qualification|Membership"), "王建国"),
    (re.compile(r"Patient"), "张三"),
    (re.compile(r"ServiceType"), "远程会诊"),
    (re.compile(r"PartnerClient|Rotated|Webhook"), "吉林大学第一医院 HIS 对接"),
    (re.compile(r"Division|Metrics"), "南关区"),
    (re.compile(r"Evaluation|Inspection|QC"), "2026 年度远程医疗服务评价"),
    (re.compile(r"Asset"), "远程会诊终端（会诊室 2）"),
    (re.compile(r"Formula"), "年度评价公式（2026 版）"),
)

#: By property name (the first match wins): a realistic value for a free text.
STRINGS = (
    (r"^(id_number|id_number_masked)$", "220***********1234"),
    (r"phone", "138****1234"),
    (r"account_number", "6222****0123"),
    (r"^(division|division_code|acting_division_code|issuing_division|licence_issuer)$", "220102"),
    (r"division_name", "长春市南关区"),
    (r"^(facility_name|inviting_name|invited_name|principal_name|inviting_party_name|unseal_inviting_party_name)$", "吉林大学第一医院"),
    (r"invited_party_name", "吉林大学第二医院"),
    (r"(patient_name|complainant_name|signer_name)$", "张三"),
    (r"(physician_name|by_name|signed_by_name|uploaded_by_name|sealed_by|unsealed_by|acted_by|actor|performed_by)$", "王建国"),
    (r"_role$", "医务科科长"),
    (r"^(consultation_)?number$", "YC-20261207-0042"),
    (r"^service_type$", "consultation"),
    (r"service_type_name", "远程会诊"),
    (r"^category$", "opinion"),
    (r"^status$", "unsettled"),
    (r"^kind$", "month"),
    (r"^(title_label|physician_title_label|wanted_title_label)$", "主任医师"),
    (r"level_label$", "三级"),
    (r"grade_label$", "甲等"),
    (r"period_label|^label$", "2026 年 11 月"),
    (r"event_label", "发送会诊申请"),
    (r"scope_label", "内科专业"),
    (r"role_label", "协调员"),
    (r"rater_kind_label", "患者"),
    (r"category_label", "会诊类（意见供参考）"),
    (r"status_label", "有效"),
    (r"facility|hospital|inviting|invited", "吉林大学第一医院"),
    (r"agreement_number", "JLYC-XY-2026-015"),
    (r"document_number", "吉卫医发〔2018〕25号"),
    (r"licence_number", "PDY00001X22010215A1001"),
    (r"qualification_number", "202022110220102196501011234"),
    (r"certificate_number", "110220100012345"),
    (r"medical_record_number|inpatient_number", "BA2026120701"),
    (r"fiscal_receipt_number", "22010126000012345"),
    (r"bank_reference|tracking_number", "CCB2026120700123"),
    (r"bank_name", "中国建设银行长春南关支行"),
    (r"account_name", "吉林大学第一医院"),
    (r"external_id", "HIS-20261207-7781"),
    (r"sha256|head_hash", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    (r"^client_id$", "jdyy-his-7Yk2Qx"),
    (r"secret|token|password|key$", "s3cr3t-只显示一次-Qm9x7Lp2"),
    (r"key_id", "checkpoint-2026"),
    (r"public_key", "MCowBQYDK2VwAyEA2k9b2xq…"),
    (r"signature_algorithm", "Ed25519"),
    (r"signature", "b3Jp…Z2luYWw="),
    (r"username", "jdyy_coordinator"),
    (r"original_name", "病历摘要.pdf"),
    (r"content_type", "application/pdf"),
    (r"(download_)?url$", "/api/v1/consultations/305/documents/88/download/"),
    (r"video_link", "https://meeting.example.com/j/2026120701"),
    (r"diagnosis", "I21.001 急性前壁心肌梗死"),
    (r"recommendations", "建议转上级医院行冠状动脉造影。"),
    (r"summary|case_summary", "男，66 岁，发热 4 天，诊断不明。"),
    (r"purpose", "明确诊断"),
    (r"department|ward", "心血管内科"),
    (r"address", "吉林省长春市朝阳区新民大街 71 号"),
    (r"vendor", "华为技术有限公司"),
    (r"model_number", "TE50"),
    (r"serial_number", "SN2026A0001"),
    (r"grade$", "甲等"),
    (r"rule$", "JL-C2"),
    (r"article", "第二十二条"),
    (r"event_type", "consultation.send"),
    (r"object_type", "consultations.consultation"),
    (r"object_id|^id$", "305"),
    (r"last_error|last_response", "HTTP 200"),
    (r"relation", "配偶"),
    (r"occasion", "会诊"),
    (r"split_basis", "会诊类项目 2:8（JL-B3）"),
    (r"(reason|comment|note|feedback|findings|rectification|answer|message|text|content|description|"
     r"statement|conditions|process|rights_obligations|liability_sharing|split_basis|report|detail)", "已核实，情况属实。"),
    (r"title$", "入院三天诊断不明"),
    (r"_label$", "已确认"),
    (r"(^|_)name$", "吉林大学第一医院"),
)
STRINGS = tuple((re.compile(pattern), value) for pattern, value in STRINGS)

#: Strings with a pattern: the value for the pattern.
PATTERNS = {
    "^[0-9]{6}$": "220102",
    r"^\d{4}-(0[1-9]|1[0-2])$": "2026-11",
    "^[-a-zA-Z0-9_]+$": "consultation",
    r"^-?\d{0,3}(?:\.\d{0,1})?$": "92.5",
    "^https?://[^/@:]+(:[0-9]+)?(/.*)?$": "https://his.example.com/telemed/webhooks",
}

DATE_TIMES = (
    (re.compile(r"due|until|expires|ends|next_"), "2026-12-08T09:30:00+08:00"),
    (re.compile(r"scheduled|requested_time|starts"), "2026-12-08T14:00:00+08:00"),
    (re.compile(r"created|registered|submitted|admitted|drafted|added|uploaded|opened|occurred|trigger"), "2026-12-07T08:15:00+08:00"),
)
DATES = (
    (re.compile(r"birth"), "1960-05-01"),
    (re.compile(r"period_start"), "2026-11-01"),
    (re.compile(r"period_end"), "2026-11-30"),
    (re.compile(r"until|expires|end"), "2030-12-31"),
    (re.compile(r"from|start|on$|obtained"), "2026-01-01"),
)

#: Integers by property name.
INTEGERS = (
    (re.compile(r"invited.*_fen$"), 24000),
    (re.compile(r"inviting.*_fen$"), 6000),
    (re.compile(r"(staff|payout).*_fen$"), 14400),
    (re.compile(r"min.*_fen$"), 20000),
    (re.compile(r"max.*_fen$"), 50000),
    (re.compile(r"insurance.*_fen$"), 18000),
    (re.compile(r"self_pay.*_fen$"), 12000),
    (re.compile(r"_fen$"), 30000),
    (re.compile(r"percent|ratio"), 80),
    (re.compile(r"year"), 2026),
    (re.compile(r"month"), 11),
    (re.compile(r"version|attempts|supersedes"), 1),
    (re.compile(r"count|total|size|number"), 3),
    (re.compile(r"minutes"), 45),
    (re.compile(r"sequence"), 40213),
    (re.compile(r"retry_after"), 12),
    (re.compile(r"rate_per_minute"), 600),
    (re.compile(r"title"), 231),
    (re.compile(r"(^|_)level$"), 3),
    (re.compile(r"(^|_)(facility|invited|workplace)(_id)?$"), 12),
    (re.compile(r"(^|_)inviting(_id)?$"), 7),
    (re.compile(r"(^|_)(physician|expert|attending)(_id)?$"), 56),
    (re.compile(r"(^|_)patient(_id)?$"), 4411),
    (re.compile(r"(^|_)consultation(_id)?$"), 305),
)

#: Free-form objects (``additionalProperties``) by property name.
OBJECTS = {
    "by_service_type": {"consultation": 12, "imaging": 5},
    "sub_divisions": {"220102": 7, "220104": 9},
    "channels": {"email": True, "sms": False},
    "weights": {"volume": 20, "compliance": 30, "turnaround": 20, "satisfaction": 15, "quality": 15},
    "thresholds": {"excellent": 90, "pass": 60},
}

#: The two sides of a case (JL-F2): a county hospital invites the provincial one.
PARTIES = {
    "inviting": {"id": 7, "name": "农安县人民医院", "division": "220122"},
    "invited": {"id": 12, "name": "吉林大学第一医院", "division": "220102"},
}
#: Enum values preferred where the schema offers them (else the first value).
PREFERRED = {"level": 3, "facility_level": 3, "relation": "spouse", "state": "accepted", "sex": "1"}

FALSE = re.compile(r"revoked|overdue|suspended|accountability|disabled|sealed|built_in|deprecated|late|breach|^is_")
LABEL_LINE = re.compile(r"^\* `([^`]*)` - (.*)$", re.M)


class Builder:
    """Builds one example per schema from the document's components."""

    def __init__(self, components: dict):
        self.schemas = components.get("schemas", {})
        self.cache: dict[str, Any] = {}
        self.building: set[str] = set()  # components being built: a cycle ends in null

    def _resolve(self, schema: dict) -> tuple[dict, str]:
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            return self.schemas.get(name, {}), name
        return schema, ""

    def labels(self, schema: dict) -> dict:
        """``{value: label}`` of an enum, from the description drf-spectacular writes beside it."""
        for part in [schema, *schema.get("allOf", []), *schema.get("oneOf", [])]:
            resolved, _name = self._resolve(part)
            if "enum" in resolved:
                return dict(LABEL_LINE.findall(resolved.get("description", "")))
        return {}

    def value(self, schema: dict, *, name: str = "", component: str = "", depth: int = 0) -> Any:
        resolved, ref_name = self._resolve(schema)
        if ref_name:
            if ref_name in self.building:
                return None
            if ref_name not in self.cache:
                self.building.add(ref_name)
                try:
                    self.cache[ref_name] = self.value(resolved, name=name, component=ref_name, depth=depth + 1)
                finally:
                    self.building.discard(ref_name)
            value = copy.deepcopy(self.cache[ref_name])
            if isinstance(value, dict) and name in PARTIES:  # {"id", "name"} of each side of a case
                value.update({key: v for key, v in PARTIES[name].items() if key in value})
            return value
        schema = resolved
        if "example" in schema:
            return copy.deepcopy(schema["example"])
        for key in ("allOf", "oneOf", "anyOf"):
            options = [o for o in schema.get(key, []) if o.get("type") != "null" and o.get("enum") not in ([None], [""], ["", None])]
            if options:
                return self.value(options[0], name=name, component=component, depth=depth)
        if "enum" in schema:
            if PREFERRED.get(name) in schema["enum"]:
                return PREFERRED[name]
            values = [v for v in schema["enum"] if v not in (None, "")]
            return values[0] if values else schema["enum"][0]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self.object(schema, name=name, component=component, depth=depth)
        if kind == "array":
            item = self.value(schema.get("items", {}), name=name, component=component, depth=depth + 1)
            return [item] * max(1, schema.get("minItems", 1)) if item is not None or schema.get("items") else []
        if kind == "integer":
            return self.number(schema, name, int)
        if kind == "number":
            return self.number(schema, name, float)
        if kind == "boolean":
            return not FALSE.search(name)
        if kind == "string":
            return self.string(schema, name, component)
        return {} if not kind else None

    def object(self, schema: dict, *, name: str, component: str, depth: int) -> dict:
        properties = schema.get("properties")
        if not properties:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:  # typed values: under the keys the portal uses there
                keys = OBJECTS.get(name) or {"consultation": None}
                return {key: self.value(extra, name=key, component=component, depth=depth + 1) for key in keys}
            return copy.deepcopy(OBJECTS.get(name, {}))
        result = {}
        for key, prop in properties.items():
            if prop.get("writeOnly"):
                continue
            result[key] = self.value(prop, name=key, component=component, depth=depth + 1)
        for key in properties:  # a label names the value beside it
            base = key.removesuffix("_label")
            if key != base and base in properties:
                label = self.labels(properties[base]).get(str(result.get(base)))
                if label is not None and isinstance(result.get(key), str):
                    result[key] = label
        return result

    @staticmethod
    def number(schema: dict, name: str, kind: type) -> Any:
        value = next((v for pattern, v in INTEGERS if pattern.search(name)), 1024 if name.endswith("id") or name == "id" else 3)
        if kind is float:
            value = 0.95 if re.search(r"rate|ratio|share", name) else float(value)
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        return kind(value)

    def string(self, schema: dict, name: str, component: str) -> str:
        fmt, pattern = schema.get("format"), schema.get("pattern")
        if fmt == "date-time":
            return next((v for rx, v in DATE_TIMES if rx.search(name)), NOW)
        if fmt == "date":
            return next((v for rx, v in DATES if rx.search(name)), TODAY)
        if fmt in ("uri", "url"):
            if name == "target_url" or "webhook" in component.lower():
                return PATTERNS["^https?://[^/@:]+(:[0-9]+)?(/.*)?$"]
            return "https://files.example.com/telemed/evidence/licence-2026.pdf"
        if fmt == "email":
            return "yiwuke@jdyy.example.com"
        if fmt == "uuid":
            return "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
        if fmt == "binary":
            return FILE_EXAMPLES["application/octet-stream"]
        if pattern in PATTERNS:
            value = PATTERNS[pattern]
        elif name in ("name", "label") and component:
            value = next((v for rx, v in NAMES if rx.search(component)), "吉林大学第一医院")
        else:
            value = next((v for rx, v in STRINGS if rx.search(name)), "吉林大学第一医院")
        if pattern and not re.search(pattern, value):
            value = "220102" if re.search(pattern, "220102") else value
        if schema.get("maxLength") and len(value) > schema["maxLength"]:
            value = value[: schema["maxLength"]]
        return value


def _json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def document_success_examples(result, generator, request, public):
    """drf-spectacular post-processing hook: every 2xx answer of ``/api/v1/`` has an example, built from
    its schema (shared per component under ``components/examples``, ``Ok_<Component>``)."""
    components = result.setdefault("components", {})
    shared = components.setdefault("examples", {})
    builder = Builder(components)
    for _path, _method, operation in api_operations(result):
        for status, response in operation.get("responses", {}).items():
            if not status.startswith("2"):
                continue
            for media_type, media in (response.get("content") or {}).items():
                if "example" in media or media.get("examples"):
                    continue
                schema = media.get("schema", {})
                if media_type == FHIR_MEDIA_TYPE:  # the facade's own mappings make its examples
                    from telemed.fhir.examples import example

                    value = example(operation.get("operationId", ""))
                    if value is not None:
                        media["examples"] = {"ok": {"summary": "FHIR R4 应答示例", "value": value}}
                        continue
                if not _json(media_type):
                    if media_type in FILE_EXAMPLES:
                        media["examples"] = {"file": {"summary": "文件内容（开头）", "value": FILE_EXAMPLES[media_type]}}
                    continue
                ref = schema.get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    key = f"Ok_{ref.rsplit('/', 1)[1]}"
                    if key not in shared:
                        shared[key] = {"summary": "成功应答示例", "value": builder.value(schema)}
                    media["examples"] = {"ok": {"$ref": f"#/components/examples/{key}"}}
                else:
                    media["examples"] = {"ok": {"summary": "成功应答示例", "value": builder.value(schema)}}
    return result
