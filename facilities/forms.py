"""Forms of the facilities pages: input shape only. Every rule is checked by ``services.py``.

Choice lists of facilities come from the view (through ``selectors.py``, already scoped); the
catalogues that are the same for everyone (divisions, service types) are read here.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from telemed.dates import DateTimeFormField

from . import selectors
from .choices import (
    AccreditationCondition,
    AccreditationStatus,
    AgreementStatus,
    AssetKind,
    AssetStatus,
    DivisionLevel,
    FacilityLevel,
    MaintenanceKind,
    PracticeScope,
    ServiceCategory,
    SuspensionCause,
    Title,
)
from .models import Division
from .rules import JILIN_PREFIX


def _blank(label) -> list[tuple[str, str]]:
    return [("", label)]


class PortalForm(forms.Form):
    """Labels without a trailing colon (the layout sets them apart); required fields marked by CSS."""

    required_css_class = "required"
    error_css_class = "has-error"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class FacilityChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("empty_label", _("请选择机构"))
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj) -> str:
        return f"{obj.name}（{obj.level_and_grade}）"


def jilin_division_choices() -> list[tuple[str, str]]:
    """Jilin's province, cities and counties, counties indented under their city."""
    rows = (
        Division.objects.filter(code__startswith=JILIN_PREFIX)
        .order_by("code")
        .values_list("code", "name", "level")
    )
    cities = [(code, name) for code, name, level in rows if level != DivisionLevel.COUNTY]
    counties = [(code, name) for code, name, level in rows if level == DivisionLevel.COUNTY]
    choices: list[tuple[str, str]] = []
    for code, name in cities:
        choices.append((code, name))
        if code.endswith("0000"):
            continue
        choices.extend((c, f"\u3000{n}") for c, n in counties if c[:4] == code[:4])
    return choices


# --- Filters (GET forms above lists) ------------------------------------------------------


class FacilityFilterForm(PortalForm):
    q = forms.CharField(label=_("机构名称或许可证号"), required=False, max_length=100)
    division = forms.ChoiceField(label=_("所在区划"), required=False)
    level = forms.ChoiceField(
        label=_("级别"), required=False, choices=_blank(_("全部级别")) + list(FacilityLevel.choices)
    )
    accreditation = forms.ChoiceField(
        label=_("评估验收"), required=False, choices=_blank(_("全部状态")) + list(AccreditationStatus.choices)
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["division"].choices = _blank(_("全部区划")) + jilin_division_choices()


class AgreementFilterForm(PortalForm):
    status = forms.ChoiceField(
        label=_("状态"), required=False, choices=_blank(_("全部状态")) + list(AgreementStatus.choices)
    )
    facility = FacilityChoiceField(label=_("机构"), required=False, queryset=None, empty_label=_("全部机构"))

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


class PhysicianFilterForm(PortalForm):
    q = forms.CharField(label=_("姓名或执业证书编码"), required=False, max_length=50)
    facility = FacilityChoiceField(
        label=_("执业机构"), required=False, queryset=None, empty_label=_("全部机构")
    )
    title = forms.TypedChoiceField(
        label=_("专业技术职务"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=_blank(_("全部职称")) + list(Title.choices),
    )
    scope = forms.ChoiceField(
        label=_("执业范围"), required=False, choices=_blank(_("全部专业")) + list(PracticeScope.choices)
    )

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


class DutyFilterForm(PortalForm):
    facility = FacilityChoiceField(label=_("机构"), required=False, queryset=None, empty_label=_("全部机构"))

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


class ApplicationFilterForm(PortalForm):
    status = forms.ChoiceField(
        label=_("状态"),
        required=False,
        choices=_blank(_("全部状态"))
        + [c for c in AccreditationStatus.choices if c[0] != AccreditationStatus.NONE],
    )


class SuspensionFilterForm(PortalForm):
    open_only = forms.BooleanField(label=_("只看未解除的"), required=False)


# --- Writes ---------------------------------------------------------------------------------


class AgreementForm(PortalForm):
    """JL-F3 (art. 15): what a cooperation agreement states; JL-F2 is checked by the service."""

    number = forms.CharField(label=_("协议编号"), max_length=50)
    inviting = FacilityChoiceField(label=_("邀请方"), queryset=None)
    invited = FacilityChoiceField(label=_("受邀方"), queryset=None)
    service_types = forms.ModelMultipleChoiceField(
        label=_("合作服务项目"), queryset=None, widget=forms.CheckboxSelectMultiple
    )
    valid_from = forms.DateField(label=_("生效日期"), widget=DateInput())
    valid_until = forms.DateField(label=_("截止日期"), widget=DateInput())
    purpose = forms.CharField(label=_("合作目的"), widget=forms.Textarea(attrs={"rows": 3}))
    conditions = forms.CharField(label=_("合作条件"), widget=forms.Textarea(attrs={"rows": 3}))
    process = forms.CharField(label=_("远程医疗流程"), widget=forms.Textarea(attrs={"rows": 3}))
    rights_obligations = forms.CharField(label=_("双方权利义务"), widget=forms.Textarea(attrs={"rows": 3}))
    liability_sharing = forms.CharField(
        label=_("医疗损害风险和责任分担"), widget=forms.Textarea(attrs={"rows": 3})
    )
    inviting_fee_share = forms.IntegerField(
        label=_("邀请方分成份数"),
        min_value=0,
        max_value=100,
        help_text=_("门诊、心电、影像、检验、病理诊断等协商定价项目的分配比例（第四十四条）"),
    )
    invited_fee_share = forms.IntegerField(label=_("受邀方分成份数"), min_value=0, max_value=100)
    signed_copy = forms.FileField(
        label=_("协议签署件"), help_text=_("双方盖章的协议扫描件（PDF）。如提交未成功，请重新选择文件。")
    )

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["inviting"].queryset = facilities
        self.fields["invited"].queryset = facilities
        self.fields["service_types"].queryset = selectors.service_type_choices()


class ReasonForm(PortalForm):
    reason = forms.CharField(label=_("理由"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


class PhysicianRegisterForm(PortalForm):
    """JL-P1, JL-P2: a physician's qualification and their practice registration at our facility."""

    facility = FacilityChoiceField(label=_("执业机构"), queryset=None)
    name = forms.CharField(label=_("姓名"), max_length=50)
    qualification_number = forms.CharField(label=_("医师资格证书编码"), max_length=30)
    qualification_obtained_on = forms.DateField(label=_("取得资格日期"), widget=DateInput())
    certificate_number = forms.CharField(label=_("医师执业证书编码"), max_length=30)
    certificate_valid_until = forms.DateField(
        label=_("执业证书有效期至"), required=False, widget=DateInput(), help_text=_("留空表示长期有效")
    )
    title = forms.TypedChoiceField(label=_("专业技术职务"), coerce=int, choices=Title.choices)
    scopes = forms.MultipleChoiceField(
        label=_("执业范围"), choices=PracticeScope.choices, widget=forms.CheckboxSelectMultiple
    )
    registered_on = forms.DateField(label=_("注册日期"), widget=DateInput())
    registration_valid_until = forms.DateField(
        label=_("注册有效期至"), required=False, widget=DateInput(), help_text=_("留空表示长期有效")
    )
    is_primary = forms.BooleanField(label=_("第一执业地点"), required=False)

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


class PhysicianQualificationsForm(PortalForm):
    """JL-P1, P4, P5: a renewed certificate, a new title, a changed scope of practice."""

    certificate_number = forms.CharField(label=_("医师执业证书编码"), max_length=30)
    certificate_valid_until = forms.DateField(
        label=_("执业证书有效期至"), required=False, widget=DateInput(), help_text=_("留空表示长期有效")
    )
    certificate_revoked = forms.BooleanField(label=_("执业证书已注销或吊销"), required=False)
    title = forms.TypedChoiceField(label=_("专业技术职务"), coerce=int, choices=Title.choices)
    scopes = forms.MultipleChoiceField(
        label=_("执业范围"), choices=PracticeScope.choices, widget=forms.CheckboxSelectMultiple
    )


class PhysicianChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("empty_label", _("请选择医务人员"))
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj) -> str:
        return f"{obj.name}（{obj.get_title_display()}）"


class DutyShiftForm(PortalForm):
    """JL-F4 (art. 24): one shift of the diagnosis duty roster."""

    facility = FacilityChoiceField(label=_("机构"), queryset=None)
    physician = PhysicianChoiceField(label=_("值班人员"), queryset=None)
    scope = forms.ChoiceField(label=_("值班专业"), choices=PracticeScope.choices)
    starts_at = DateTimeFormField(label=_("开始时间"), widget=DateTimeInput())
    ends_at = DateTimeFormField(label=_("结束时间"), widget=DateTimeInput())

    def __init__(self, *args, facilities, physicians, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities
        self.fields["physician"].queryset = physicians


class AccreditationApplicationForm(PortalForm):
    """JL-F1 (art. 13): the seven conditions, each a statement and one evidence file.

    The fields are optional here so that the service's completeness check names every missing
    condition at once, with its article.
    """

    facility = FacilityChoiceField(label=_("申请机构"), queryset=None)

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities
        for condition in AccreditationCondition:
            self.fields[f"{condition.value}_statement"] = forms.CharField(
                label=_("情况说明"), required=False, widget=forms.Textarea(attrs={"rows": 3})
            )
            self.fields[f"{condition.value}_evidence"] = forms.FileField(label=_("证明材料"), required=False)

    def conditions(self):
        """(condition, statement field, evidence field) in the article's order, for the template."""
        return [
            (condition, self[f"{condition.value}_statement"], self[f"{condition.value}_evidence"])
            for condition in AccreditationCondition
        ]

    def items(self) -> list[dict]:
        return [
            {
                "condition": condition.value,
                "statement": self.cleaned_data.get(f"{condition.value}_statement") or "",
                "evidence": self.cleaned_data.get(f"{condition.value}_evidence"),
            }
            for condition in AccreditationCondition
        ]


class AccreditationDecisionForm(PortalForm):
    decision = forms.ChoiceField(
        label=_("审核结论"),
        choices=[("approve", _("通过")), ("reject", _("不予通过"))],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("审核意见"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("不予通过须写明理由"),
    )


class ServiceTypeForm(PortalForm):
    """JL-C1 (art. 3): a service type the provincial regulator adds."""

    code = forms.SlugField(label=_("项目编码"), max_length=40, help_text=_("小写字母、数字、下划线，如 tele_icu"))
    name = forms.CharField(label=_("项目名称"), max_length=50)
    category = forms.ChoiceField(label=_("服务类别"), choices=ServiceCategory.choices)
    required_scope = forms.ChoiceField(
        label=_("诊断所需执业范围"),
        required=False,
        choices=_blank(_("（会诊类项目不填）")) + list(PracticeScope.choices),
        help_text=_("诊断类项目必填：签发报告的专家须具备该执业范围（JL-P5 第十四条第五项）"),
    )
    needs_modality = forms.BooleanField(label=_("须注明影像类别"), required=False)
    negotiated_split = forms.BooleanField(
        label=_("费用按协议比例分配"), required=False, help_text=_("第四十四条：门诊及心电、影像、检验、病理诊断等协商定价项目")
    )


class SuspensionForm(PortalForm):
    """JL-F5 (art. 34): stop at once and report to the licensing regulator."""

    facility = FacilityChoiceField(label=_("机构"), queryset=None)
    cause = forms.ChoiceField(label=_("原因类别"), choices=SuspensionCause.choices)
    description = forms.CharField(label=_("情况说明"), widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


# --- The register of telemedicine equipment and software (JL-O7) -----------------------------


class AssetForm(PortalForm):
    """JL-O7 (art. 33): an entry of the facility's register."""

    facility = FacilityChoiceField(label=_("机构"), queryset=None)
    kind = forms.ChoiceField(label=_("类别"), choices=AssetKind.choices)
    name = forms.CharField(label=_("名称"), max_length=100)
    model_number = forms.CharField(label=_("型号／版本"), max_length=100, required=False)
    serial_number = forms.CharField(label=_("序列号／授权号"), max_length=100, required=False)
    vendor = forms.CharField(label=_("生产厂家／供应商"), max_length=100, required=False)
    in_service_since = forms.DateField(label=_("启用日期"), widget=DateInput())
    maintenance_interval_days = forms.IntegerField(
        label=_("维护周期（天）"), required=False, min_value=1, help_text=_("按厂家要求填写；留空表示不定期维护")
    )
    essential = forms.BooleanField(
        label=_("必要设备"), required=False,
        help_text=_("开展远程医疗所必需：停用时机构须立即暂停远程医疗服务并报告（JL-O7 第三十四条）"),
    )

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


class MaintenanceForm(PortalForm):
    kind = forms.ChoiceField(label=_("类别"), choices=MaintenanceKind.choices)
    performed_on = forms.DateField(label=_("日期"), widget=DateInput())
    performed_by = forms.CharField(label=_("执行人／单位"), max_length=100)
    description = forms.CharField(label=_("内容"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class AssetStatusForm(PortalForm):
    status = forms.ChoiceField(label=_("新状态"), choices=AssetStatus.choices)
    report = forms.CharField(
        label=_("情况说明"), required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000,
        help_text=_("必要设备停用时必填：将同时暂停本机构远程医疗服务并报告发证机关"),
    )


class FollowUpForm(PortalForm):
    text = forms.CharField(label=_("跟进情况"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
