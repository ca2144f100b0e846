"""The 通知设置 form (issue 12): per kind the outside channels; the SMS number."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from . import rules
from .choices import Channel, NotificationKind

OPTIONAL_CHOICES = [(c.value, c.label) for c in rules.OPTIONAL_CHANNELS]


def field_name(kind: str) -> str:
    return f"kind_{kind}"


class PreferenceForm(forms.Form):
    phone = forms.CharField(
        label=_("短信接收手机号码"), max_length=20, required=False,
        help_text=_("11位中国大陆手机号码；留空则不发短信。号码加密保存，仅用于通知。"),
    )

    def __init__(self, *args, preference=None, **kwargs):
        super().__init__(*args, **kwargs)
        effective = rules.all_channels(preference.channels if preference else {})
        for kind in NotificationKind:
            self.fields[field_name(kind.value)] = forms.MultipleChoiceField(
                label=kind.label, choices=OPTIONAL_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
                initial=sorted(effective[kind.value] - rules.ALWAYS),
                help_text=_("默认：站内通知、电子邮件和短信") if Channel.SMS in rules.DEFAULT_CHANNELS[kind.value] else _("默认：仅站内通知"),
            )
        if preference is not None and not self.is_bound:
            self.fields["phone"].initial = preference.phone

    def kind_fields(self):
        return [self[field_name(kind)] for kind in NotificationKind.values]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "channels": {kind: list(data.get(field_name(kind)) or []) for kind in NotificationKind.values},
            "phone": data.get("phone", ""),
        }
