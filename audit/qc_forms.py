"""Forms of the quality-control pages (JL-O2, art. 26, 27): input shape only; ``audit.qc`` decides."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from facilities.forms import DateInput, PortalForm
from facilities.models import Division, ServiceType

from .choices import QCPeriod


class QCPlanForm(PortalForm):
    division = forms.ModelChoiceField(label=_lazy("质控区划"), queryset=Division.objects.none())
    name = forms.CharField(label=_lazy("计划名称"), max_length=100)
    service_types = forms.ModelMultipleChoiceField(
        label=_lazy("服务项目"), queryset=ServiceType.objects.order_by("code"), widget=forms.CheckboxSelectMultiple
    )
    share_per_mille = forms.IntegerField(label=_lazy("抽样比例（‰）"), min_value=1, max_value=1000, help_text=_lazy("如 50 表示抽取 5%"))
    period = forms.ChoiceField(label=_lazy("抽样周期"), choices=QCPeriod.choices)

    def __init__(self, *args, divisions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["division"].queryset = divisions


class QCDrawForm(PortalForm):
    plan = forms.ModelChoiceField(label=_lazy("质控计划"), queryset=None)
    period_start = forms.DateField(label=_lazy("周期第一天"), widget=DateInput)

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans


class QCChecklistForm(PortalForm):
    items = forms.CharField(
        label=_lazy("评分项目"), widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_lazy("每行一项：编号|内容|满分，如 material|资料完整性与质量|20"),
    )

    def clean_items(self):
        rows = []
        for line in self.cleaned_data["items"].splitlines():
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != 3 or not parts[2].isdigit():
                raise forms.ValidationError(_("JL-O2 第二十七条: 每行须为“编号|内容|满分”，满分为整数：%(line)s") % {"line": line[:60]})
            rows.append({"code": parts[0], "text": parts[1], "max_points": int(parts[2])})
        return rows


class QCAssignForm(PortalForm):
    review = forms.ModelChoiceField(label=_lazy("抽中病例"), queryset=None)
    reviewer = forms.CharField(
        label=_lazy("质控专家（用户名）"), max_length=150,
        help_text=_lazy("填写专家的登录用户名；专家只能调阅指定给他的病例，不能是该病例双方机构的人员"),
    )

    def __init__(self, *args, reviews, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["review"].queryset = reviews
        self.fields["review"].label_from_instance = lambda r: r.consultation.number


class QCScoreForm(PortalForm):
    feedback = forms.CharField(label=_lazy("反馈意见"), widget=forms.Textarea(attrs={"rows": 5}), max_length=5000)

    def __init__(self, *args, items, **kwargs):
        super().__init__(*args, **kwargs)
        self.items = items
        for item in items:
            # The maximum is the service's to check (JL-O2, with its own Chinese message): no max_value here.
            self.fields[f"score_{item['code']}"] = forms.IntegerField(
                label=f"{item['text']}（{_('满分')} {item['max_points']}）", min_value=0
            )
        self.order_fields([f"score_{item['code']}" for item in items] + ["feedback"])

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {"scores": {str(i["code"]): data[f"score_{i['code']}"] for i in self.items}, "feedback": data["feedback"]}


class QCAnswerForm(PortalForm):
    answer = forms.CharField(label=_lazy("整改情况"), widget=forms.Textarea(attrs={"rows": 5}), max_length=5000)
