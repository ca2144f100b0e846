"""The structured opinion/report editor (JL-C11) on the case page: input shape only.

The sign and correct forms of ``consultations.forms`` with, when the service type's report template
has sections, one text box per section, rows of diagnoses (ICD-10 code and name) and the
recommendations in place of the one free-text box. A valid form's ``cleaned_data`` is the
service's keyword arguments (``structure`` and the rest); every rule — the ICD-10 format among
them — is checked by ``services.opinion_sign``, whose refusal is shown on the form as typed.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from facilities.choices import ImagingModality
from facilities.forms import PortalForm
from facilities.models import section_label

from . import report_rules
from .forms import CorrectForm, SignForm

DIAGNOSIS_ROWS = 5  # rows offered on the page (more come back when a correction has more)


class StructuredEditorMixin:
    """Turns the free-text form into the structured editor when ``sections`` is not empty."""

    def __init__(self, *args, sections=(), previous=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sections = list(sections)
        if not self.sections:
            return
        structure = getattr(previous, "structure", None) or {}
        texts = {s["key"]: s["text"] for s in structure.get("sections", [])}
        previous_dx = structure.get("diagnoses", [])
        self.diagnosis_count = min(max(DIAGNOSIS_ROWS, len(previous_dx)), report_rules.DIAGNOSES_MAX)
        kept = dict(self.fields)
        free_text = kept.pop("content")
        free_text.label = _("自由文本（不分栏时填写）")
        free_text.help_text = _("填写分栏和诊断时此处留空；仅填此处则按自由文本签发。")
        self.fields = {}
        if "correction_reason" in kept:
            self.fields["correction_reason"] = kept.pop("correction_reason")
        for section in self.sections:
            self.fields[f"section_{section.key}"] = forms.CharField(
                label=section_label(section.label), required=False, widget=forms.Textarea(attrs={"rows": 4}),
                initial=texts.get(section.key, ""),
            )
        for index in range(self.diagnosis_count):
            old = previous_dx[index] if index < len(previous_dx) else {}
            self.fields[f"dx{index}_code"] = forms.CharField(
                label=_("ICD-10 编码"), required=False, max_length=50, initial=old.get("code", ""),
                widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "spellcheck": "false",
                                              "placeholder": "I21.001", "size": 14,
                                              "aria-label": _("第 %(n)d 条诊断的 ICD-10 编码") % {"n": index + 1}}),
            )
            self.fields[f"dx{index}_text"] = forms.CharField(
                label=_("诊断名称"), required=False, max_length=1000, initial=old.get("text", ""),
                widget=forms.TextInput(attrs={"aria-label": _("第 %(n)d 条诊断名称") % {"n": index + 1}}),
            )
        self.fields["recommendations"] = forms.CharField(
            label=_("建议"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
            initial=structure.get("recommendations", ""),
        )
        self.fields.update(kept)
        self.fields["content"] = free_text

    @property
    def structured(self) -> bool:
        return bool(self.sections)

    def section_fields(self):
        return [self[f"section_{s.key}"] for s in self.sections]

    def diagnosis_rows(self):
        return [(index + 1, self[f"dx{index}_code"], self[f"dx{index}_text"]) for index in range(self.diagnosis_count)]

    def other_fields(self):
        """Recommendations, then the JL-C10 recommendation to transfer (and the correction's reason first)."""
        return [self[name] for name in self.fields if not name.startswith(("section_", "dx")) and name != "content"]

    def free_text_field(self):
        return self["content"]

    def clean(self):
        data = super().clean()
        if not self.sections:
            return data
        values = {"recommends_transfer": data.get("recommends_transfer", False), "transfer_reason": data.get("transfer_reason", "")}
        if "correction_reason" in self.fields:
            values["correction_reason"] = data.get("correction_reason", "")
        structured_input = [v for name, v in data.items() if name.startswith(("section_", "dx")) or name == "recommendations"]
        if not any((v or "").strip() for v in structured_input) and (data.get("content") or "").strip():
            return {**values, "content": data["content"]}  # free text only: signed as before (JL-C6)
        structure = {
            "sections": {s.key: data.get(f"section_{s.key}", "") for s in self.sections},
            "diagnoses": [
                {"code": data.get(f"dx{i}_code", ""), "text": data.get(f"dx{i}_text", "")} for i in range(self.diagnosis_count)
            ],
            "recommendations": data.get("recommendations", ""),
        }
        # Both filled in: the service refuses (JL-C11), and the form keeps everything as typed.
        return {**values, "structure": structure, "content": data.get("content") or ""}


class OpinionSignForm(StructuredEditorMixin, SignForm):
    """JL-C6, JL-C11: sign in the service type's sections (or as free text when it has none)."""


class OpinionCorrectForm(StructuredEditorMixin, CorrectForm):
    """JL-C6, JL-C11: a correction, pre-filled with the version it corrects."""


class ReportTemplateForm(PortalForm):
    """JL-C11: the provincial regulator's editor of a service type's report template — one section a
    line (``key 名称``); an imaging service may give a modality its own sections. The shape is
    checked by ``services.service_type_report_template_set``."""

    sections = forms.CharField(
        label=_("报告栏目"), required=False, widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        help_text=_("每行一个栏目：编码（小写字母开头）+ 空格 + 名称，如“findings 影像所见”。全部留空则只用自由文本。"),
    )

    def __init__(self, *args, service_type, **kwargs):
        template = service_type.report_template or {}
        kwargs.setdefault("initial", {})
        kwargs["initial"]["sections"] = report_rules.template_to_lines(template.get("sections"))
        super().__init__(*args, **kwargs)
        self.modalities = list(ImagingModality) if service_type.needs_modality else []
        for modality in self.modalities:
            name = f"modality_{modality.value}"
            self.fields[name] = forms.CharField(
                label=_("%(m)s 专用栏目") % {"m": modality.label}, required=False,
                widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
                help_text=_("留空则使用上面的报告栏目。"),
                initial=report_rules.template_to_lines((template.get("modalities") or {}).get(modality.value)),
            )

    def clean(self):
        data = super().clean()
        template = {"sections": report_rules.template_from_lines(data.get("sections", ""))}
        modalities = {
            m.value: report_rules.template_from_lines(data.get(f"modality_{m.value}", "")) for m in self.modalities
        }
        template["modalities"] = {key: rows for key, rows in modalities.items() if rows}
        return {"template": template}
