"""Forms of the random-inspection and credit pages (JL-O6): input shape only; ``audit.inspections``
decides."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from facilities.choices import FacilityKind, FacilityLevel
from facilities.forms import DateInput, PortalForm
from facilities.models import Division, Facility

from .choices import FindingSeverity


class InspectionPlanForm(PortalForm):
    division = forms.ModelChoiceField(label=_("监管部门（区划）"), queryset=Division.objects.none())
    title = forms.CharField(label=_("计划名称"), max_length=100)
    facility_kinds = forms.MultipleChoiceField(label=_("抽查机构类别"), choices=FacilityKind.choices,
                                               widget=forms.CheckboxSelectMultiple)
    facility_levels = forms.TypedMultipleChoiceField(label=_("抽查机构级别"), choices=FacilityLevel.choices, coerce=int,
                                                     widget=forms.CheckboxSelectMultiple)
    facility_count = forms.IntegerField(label=_("抽查机构数"), min_value=1, max_value=200)
    inspectors_per_facility = forms.IntegerField(label=_("每个机构检查人员数"), min_value=1, max_value=10, initial=2)
    period_start = forms.DateField(label=_("检查开始日期"), widget=DateInput)
    period_end = forms.DateField(label=_("检查截止日期"), widget=DateInput)

    def __init__(self, *args, divisions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["division"].queryset = divisions
        _only_choice(self.fields["division"], divisions)


def _only_choice(field, queryset) -> None:
    """A regulator of one division need not pick it."""
    only = list(queryset[:2])
    if len(only) == 1:
        field.initial = only[0].pk
        field.empty_label = None


class InspectorForm(PortalForm):
    division = forms.ModelChoiceField(label=_("名录所属区划"), queryset=Division.objects.none())
    username = forms.CharField(label=_("账号（用户名）"), max_length=150)
    workplace = forms.ModelChoiceField(label=_("工作单位（医疗机构，无则不选）"), queryset=Facility.objects.none(),
                                       required=False)

    def __init__(self, *args, divisions, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["division"].queryset = divisions
        self.fields["workplace"].queryset = facilities
        _only_choice(self.fields["division"], divisions)

    def clean(self):
        data = super().clean()
        username = (data.pop("username", "") or "").strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if username and user is None:
            self.add_error("username", _("JL-O6: 没有这个账号。"))
        data["user"] = user
        return data


class FindingsForm(PortalForm):
    severity = forms.ChoiceField(label=_("检查结论"), choices=FindingSeverity.choices)
    summary = forms.CharField(label=_("检查结果摘要（将公开，不得含患者信息）"), max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3}))
    findings = forms.CharField(label=_("检查发现（不公开）"), required=False, max_length=5000,
                               widget=forms.Textarea(attrs={"rows": 4}))
    rectification = forms.CharField(label=_("整改要求（将公开）"), required=False, max_length=2000,
                                    widget=forms.Textarea(attrs={"rows": 3}))
    deadline = forms.DateField(label=_("整改期限"), required=False, widget=DateInput)
    inspected_on = forms.DateField(label=_("检查日期"), required=False, widget=DateInput)


class RectifyForm(PortalForm):
    report = forms.CharField(label=_("整改情况"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
