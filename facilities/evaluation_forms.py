"""Forms of the yearly evaluation pages (JL-O3): input shape only; the rules are in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from . import evaluation_rules as rules
from .choices import EvaluationGrade
from .forms import PortalForm


class EvaluationStartForm(PortalForm):
    division = forms.ModelChoiceField(label=_("评价部门"), queryset=None, empty_label=None)
    year = forms.IntegerField(label=_("年度"), min_value=2000, max_value=2999)

    def __init__(self, *args, divisions, default_year: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["division"].queryset = divisions
        self.fields["year"].initial = default_year


class EvaluationAdjustForm(PortalForm):
    grade = forms.ChoiceField(label=_("调整后等次"), choices=EvaluationGrade.choices)
    reason = forms.CharField(label=_("调整理由"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, required=False,
                             help_text=_("必填：调整等次须写明理由（JL-O3 第四十七条），初评等次保留备查。"))


class EvaluationFormulaForm(PortalForm):
    """The weights (whole numbers adding up to 100) and thresholds the province publishes."""

    document_number = forms.CharField(label=_("文号"), max_length=100, required=False)

    def __init__(self, *args, current=None, **kwargs):
        super().__init__(*args, **kwargs)
        for key, (label, rule) in rules.PARTS.items():
            self.fields[f"weight_{key}"] = forms.IntegerField(
                label=_("权重：%(p)s（%(r)s）") % {"p": label, "r": rule}, min_value=0, max_value=100,
                initial=(current.weights.get(key) if current else None))
        for key, label in rules.THRESHOLDS.items():
            self.fields[f"threshold_{key}"] = forms.DecimalField(
                label=label, min_value=0, max_value=100000, decimal_places=1,
                initial=(current.thresholds.get(key) if current else None))

    def formula(self) -> dict:
        data = self.cleaned_data
        return {
            "weights": {key: data[f"weight_{key}"] for key in rules.PARTS},
            "thresholds": {key: data[f"threshold_{key}"] for key in rules.THRESHOLDS},
            "document_number": data.get("document_number", ""),
        }
