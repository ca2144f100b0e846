"""Forms of complaints (JL-O6): the public intake, the staff entry, the steps, the status lookup."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from facilities.forms import DateTimeInput, PortalForm
from telemed.dates import DateTimeFormField

from .choices import ComplainantRelation

FINDING_CHOICES = [("", _("请选择")), ("yes", _("属实")), ("no", _("不属实"))]


def _finding(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class FacilityByNameField(forms.ModelChoiceField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("empty_label", _("请选择被投诉的医疗机构"))
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj) -> str:
        return obj.name


class ComplaintForm(PortalForm):
    """The public form and the staff entry: the same fields (the channel is who submits it)."""

    facility = FacilityByNameField(label=_("被投诉的医疗机构"), queryset=None)
    case_number = forms.CharField(
        label=_("远程医疗申请编号（选填）"), max_length=30, required=False,
        help_text=_("如您知道本次远程医疗服务的申请编号，请填写，便于机构核查"),
    )
    complainant_name = forms.CharField(label=_("投诉人姓名"), max_length=50)
    complainant_phone = forms.CharField(
        label=_("联系电话"), max_length=24, help_text=_("查询办理进度时需要输入电话号码后4位"),
    )
    relation = forms.ChoiceField(label=_("与患者关系"), choices=ComplainantRelation.choices)
    text = forms.CharField(label=_("投诉内容"), max_length=5000, widget=forms.Textarea(attrs={"rows": 6}))

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


class StaffComplaintForm(ComplaintForm):
    """JL-O6: the staff entry of a complaint received by phone or in person — it may be entered later,
    so it says when it came in; the deadlines run from then (issue 10: the service took it, the page
    did not ask, so a complaint entered a day late got a day more)."""

    received_at = DateTimeFormField(
        label=_("受理时间（选填）"), required=False, widget=DateTimeInput(),
        help_text=_("电话或来访的时间；不填为现在。确认收到和答复期限从这一时间起算"),
    )


class ComplaintStatusForm(PortalForm):
    tracking_number = forms.CharField(label=_("投诉编号"), max_length=30)
    phone_tail = forms.CharField(label=_("联系电话后4位"), min_length=4, max_length=4)


# What each step's text is, and who reads it (issue 10: one label "内容" for all of them left the
# handler guessing whether the complainant would read an investigation note).
STEP_TEXT = {
    "investigate": (_("调查情况"), _("机构内部记录，投诉人看不到；监管部门可以查看")),
    "answer": (_("给投诉人的答复"), _("投诉人凭投诉编号查询时看到这段答复")),
    "note": (_("监管意见"), _("记入办理记录，被投诉机构可以看到，投诉人看不到")),
    "override": (_("变更认定的理由"), _("记入办理记录，被投诉机构可以看到")),
}


class ComplaintStepForm(PortalForm):
    """One step: the text it needs and, for an answer or an override, the finding. The form's prefix
    is the act (``acknowledge``, ``answer``, ...), which names the text (JL-O6)."""

    text = forms.CharField(label=_("内容"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    finding = forms.ChoiceField(label=_("认定"), choices=FINDING_CHOICES, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.prefix in STEP_TEXT:
            self.fields["text"].label, self.fields["text"].help_text = STEP_TEXT[self.prefix]

    def cleaned_for(self, act: str) -> dict:
        data = {} if act == "acknowledge" else {"text": self.cleaned_data.get("text", "")}
        if act in ("answer", "override"):
            data["substantiated"] = _finding(self.cleaned_data.get("finding", ""))
        return data
