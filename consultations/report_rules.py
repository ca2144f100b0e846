"""Structured opinions and reports (JL-C11, JL-C6) as pure functions: no database, no request.

An opinion or report may be written in the sections its service type's template defines (held as
data on ``facilities.ServiceType.report_template`` and set by the provincial regulator), with one
or more diagnoses — each an ICD-10 code (GB/T 14396 and the national clinical extensions such as
``I21.001``) and its text — and recommendations. Only the *format* of a code is checked here: the
portal ships no code list.

The canonical structure (``canonical_structure``) is what is stored and what the signature covers
(JL-C6): a plain dict whose order is fixed by the template, so that the same input always hashes
the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telemed.checks import Check

RULE = "JL-C11"
ARTICLE = "GB/T 14396"
ICD10_ERROR_CODE = "icd10_invalid"  # the API's stable code for a malformed diagnosis code

STRUCTURE_SCHEMA = 1  # the canonical structure's own version, inside the signed payload
SECTION_KEY = re.compile(r"[a-z][a-z0-9_]{0,29}")
SECTION_LABEL_MAX = 30
SECTIONS_MAX = 12
SECTION_TEXT_MAX = 5000
DIAGNOSES_MAX = 10
DIAGNOSIS_TEXT_MAX = 200
RECOMMENDATIONS_MAX = 3000

# ICD-10 (GB/T 14396-2016): a letter and two digits (A00–Z99), optionally a point and 1 to 4 digits
# or letters (I21.0, I21.001, C34.1X1), and the national clinical edition's extension ``x`` and 3
# digits (I21.000x001). Letters are compared in upper case; the extension marker is kept as ``x``.
ICD10 = re.compile(r"[A-Z]\d{2}(?:\.[0-9A-Z]{1,4}(?:X\d{3})?)?")


# --- ICD-10 format -----------------------------------------------------------------------------------


def normalise_icd10(code: str) -> str:
    """``i21.001`` → ``I21.001``; ``i21.000X001`` → ``I21.000x001``; blanks and full-width points trimmed."""
    text = (code or "").strip().replace("．", ".").replace("。", ".").upper()
    return re.sub(r"(\.[0-9A-Z]{1,4}?)X(\d{3})$", r"\1x\2", text)


def is_icd10(code: str) -> bool:
    return bool(ICD10.fullmatch(normalise_icd10(code).replace("x", "X")))


def icd10_check(code: str) -> Check:
    """JL-C11 (GB/T 14396): a diagnosis code has the ICD-10 format."""
    shown = (code or "").strip()
    return Check(
        RULE, ARTICLE,
        "诊断编码须为 ICD-10 格式：一个字母加两位数字（A00–Z99），可加小数点及 1 至 4 位数字或字母，如 I21 或 I21.001",
        is_icd10(code),
        f"「{shown}」格式不正确" if shown else "未填写诊断编码",
    )


# --- Templates per service type ----------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    key: str
    label: str


def template_sections(template: dict | None, modality: str = "") -> list[Section]:
    """The sections a report of this service type (and imaging modality) is written in: the
    modality's own list when the template has one (ECG: rhythm, intervals, conclusion), else the
    service type's. An empty template means free text only."""
    template = template or {}
    rows = (template.get("modalities") or {}).get(modality) if modality else None
    if not rows:
        rows = template.get("sections") or []
    return [Section(str(r["key"]), str(r["label"])) for r in rows]


def _sections_ok(rows) -> str:
    """"" when ``rows`` is a valid list of sections, else why not."""
    if not isinstance(rows, list) or len(rows) > SECTIONS_MAX:
        return f"栏目须为列表，最多 {SECTIONS_MAX} 个"
    keys = []
    for row in rows:
        if not isinstance(row, dict) or set(row) != {"key", "label"}:
            return "每个栏目须且只须有 key 和 label"
        key, label = row["key"], row["label"]
        if not isinstance(key, str) or not SECTION_KEY.fullmatch(key):
            return f"栏目编码「{key}」须为小写字母开头的字母、数字、下划线（至多30位）"
        if not isinstance(label, str) or not label.strip() or len(label) > SECTION_LABEL_MAX:
            return f"栏目「{key}」须有名称（{SECTION_LABEL_MAX} 字以内）"
        keys.append(key)
    if len(set(keys)) != len(keys):
        return "栏目编码不能重复"
    return ""


def report_template_checks(template, *, modalities: list[str]) -> list[Check]:
    """JL-C11: a service type's report template as the provincial regulator sets it:
    ``{"sections": [{"key", "label"}, …], "modalities": {"ecg": [{"key", "label"}, …]}}``."""
    label = "报告模板须为 {sections: [{key, label}], modalities: {类别: [{key, label}]}}"
    if not isinstance(template, dict) or not set(template) <= {"sections", "modalities"}:
        return [Check(RULE, "—", label, False, "只能包含 sections 和 modalities")]
    problem = _sections_ok(template.get("sections", []))
    by_modality = template.get("modalities", {})
    if not problem and not isinstance(by_modality, dict):
        problem = "modalities 须为按影像类别的栏目表"
    if not problem:
        for modality, rows in by_modality.items():
            if modality not in modalities:
                problem = f"影像类别「{modality}」不存在"
                break
            problem = _sections_ok(rows) and f"{modality}：{_sections_ok(rows)}"
            if problem:
                break
    return [Check(RULE, "—", label, not problem, problem)]


def template_from_lines(text: str) -> list[dict]:
    """The regulator's form: one section a line, ``key 名称`` (or ``key|名称``) → the list of sections."""
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        key, _sep, label = line.replace("|", " ").replace("\t", " ").partition(" ")
        rows.append({"key": key.strip(), "label": label.strip()})
    return rows


def template_to_lines(rows) -> str:
    return "\n".join(f"{r['key']} {r['label']}" for r in rows or [])


# --- The structure of one opinion or report ----------------------------------------------------------


def canonical_structure(*, sections: list[Section], texts: dict[str, str], diagnoses: list[dict], recommendations: str) -> dict:
    """The structure as stored and signed (JL-C6): every template section in the template's order
    with its label and text, the diagnoses in the order given (codes normalised), recommendations."""
    return {
        "schema": STRUCTURE_SCHEMA,
        "sections": [{"key": s.key, "label": s.label, "text": (texts.get(s.key) or "").strip()} for s in sections],
        "diagnoses": [
            {"code": normalise_icd10(d.get("code", "")), "text": (d.get("text") or "").strip()} for d in diagnoses
        ],
        "recommendations": (recommendations or "").strip(),
    }


def structure_checks(*, sections: list[Section], texts: dict[str, str], diagnoses: list[dict], recommendations: str) -> list[Check]:
    """JL-C11: what a structured opinion or report needs. Every failing check, not the first:
    known sections only, something written, one to ten diagnoses each with a well-formed ICD-10
    code and its text (the code checks are ``icd10_check``; the caller refuses them with
    ``icd10_invalid``), lengths within bounds."""
    known = {s.key for s in sections}
    unknown = sorted(set(texts) - known)
    long_section = next((s.label for s in sections if len(texts.get(s.key) or "") > SECTION_TEXT_MAX), "")
    checks = [
        Check(RULE, "—", "只能填写本服务项目报告模板中的栏目", not unknown, f"未知栏目：{'、'.join(unknown)}" if unknown else ""),
        Check(RULE, "—", "报告栏目至少填写一项", not sections or any((texts.get(s.key) or "").strip() for s in sections)),
        Check(RULE, "—", f"每个栏目请控制在 {SECTION_TEXT_MAX} 字以内", not long_section, long_section),
        Check(RULE, "—", f"须填写 1 至 {DIAGNOSES_MAX} 条诊断（ICD-10 编码和诊断名称）", 1 <= len(diagnoses) <= DIAGNOSES_MAX,
              f"现有 {len(diagnoses)} 条"),
    ]
    missing_text = [str(i + 1) for i, d in enumerate(diagnoses) if not (d.get("text") or "").strip()]
    long_text = [str(i + 1) for i, d in enumerate(diagnoses) if len((d.get("text") or "").strip()) > DIAGNOSIS_TEXT_MAX]
    checks += [
        Check(RULE, "—", "每条诊断须填写诊断名称", not missing_text, f"第 {'、'.join(missing_text)} 条" if missing_text else ""),
        Check(RULE, "—", f"诊断名称请控制在 {DIAGNOSIS_TEXT_MAX} 字以内", not long_text, f"第 {'、'.join(long_text)} 条" if long_text else ""),
        Check(RULE, "—", f"建议请控制在 {RECOMMENDATIONS_MAX} 字以内", len((recommendations or "").strip()) <= RECOMMENDATIONS_MAX),
    ]
    return checks


def diagnosis_code_checks(diagnoses: list[dict]) -> list[Check]:
    """JL-C11: one ``icd10_check`` per diagnosis, numbered as the user sees them."""
    checks = []
    for index, diagnosis in enumerate(diagnoses, start=1):
        check = icd10_check(diagnosis.get("code", ""))
        checks.append(Check(check.rule, check.article, f"第 {index} 条{check.label}", check.passed, check.detail))
    return checks


def structure_text(structure: dict) -> str:
    """The plain text of a structured opinion, stored as its ``content`` (and so signed too): what a
    reader of the free-text field — a partner system, a notification — sees."""
    parts = [f"【{s['label']}】\n{s['text']}" for s in structure.get("sections", []) if s.get("text")]
    diagnoses = structure.get("diagnoses", [])
    if diagnoses:
        lines = "\n".join(f"{i}. {d['text']}（{d['code']}）" for i, d in enumerate(diagnoses, start=1))
        parts.append(f"【诊断】\n{lines}")
    if structure.get("recommendations"):
        parts.append(f"【建议】\n{structure['recommendations']}")
    return "\n\n".join(parts)
