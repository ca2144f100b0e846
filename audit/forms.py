"""Forms of the record pages: input shape only; ``audit.records`` decides (JL-C8, art. 32, 37).

The seal and unseal forms are named after the services' keyword arguments, so a valid form is
passed on whole. Fields are not required here: an empty reason or a missing party is refused by
the service with the rule's own words (JL-C8), shown on the form.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from facilities.forms import FacilityChoiceField, PortalForm


class _PartiesForm(PortalForm):
    inviting_party_name = forms.CharField(label=_("邀请方在场人姓名"), max_length=50, required=False)
    inviting_party_role = forms.CharField(
        label=_("邀请方在场人身份"), max_length=50, required=False, help_text=_("如：医务科科长、远程医疗专职管理人员")
    )
    invited_party_name = forms.CharField(label=_("受邀方（或患方）在场人姓名"), max_length=50, required=False)
    invited_party_role = forms.CharField(
        label=_("受邀方（或患方）在场人身份"), max_length=50, required=False, help_text=_("如：受邀方医务处、患者之子")
    )


class SealForm(_PartiesForm):
    field_order = ["reason"]

    reason = forms.CharField(
        label=_("封存原因（医疗争议情况）"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class UnsealForm(_PartiesForm):
    field_order = ["reason"]

    reason = forms.CharField(label=_("启封原因"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


class PurposeForm(PortalForm):
    """JL-C8 (art. 32, 37): why a sealed record is opened for reading; written to the access log."""

    purpose = forms.CharField(
        label=_("调阅目的"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("JL-C8 第三十七条: 调阅封存病历须写明目的。")},
    )

    def clean_purpose(self):
        purpose = self.cleaned_data["purpose"].strip()
        if not purpose:
            raise forms.ValidationError(_("JL-C8 第三十七条: 调阅封存病历须写明目的。"))
        return purpose


class ResponsibilityFilterForm(PortalForm):
    facility = FacilityChoiceField(label=_("机构"), queryset=None, required=False)

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities
        self.fields["facility"].empty_label = _("全部机构")


class SealFilterForm(PortalForm):
    open_only = forms.BooleanField(label=_("仅显示封存中"), required=False)
