"""Notification rules as pure functions (issue 12): which channels a kind goes out on, phone numbers,
the retry back-off. No database, no request."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils.translation import gettext as _

from .choices import Channel, NotificationKind

# In-app is the record of every notification (the list, the unread count, the JL-C2 reminders a
# regulator may ask about): it is always on. E-mail and SMS are the user's choice per kind.
ALWAYS = frozenset({Channel.IN_APP})
OPTIONAL_CHANNELS = (Channel.EMAIL, Channel.SMS)

# Sensible defaults: what cannot wait (an urgent request, a deadline about to pass or missed) goes
# out on every channel; everything else stays in the portal until the user asks for more.
DEFAULT_CHANNELS: dict[str, frozenset[str]] = {
    NotificationKind.URGENT: frozenset({Channel.IN_APP, Channel.EMAIL, Channel.SMS}),
    NotificationKind.DEADLINE: frozenset({Channel.IN_APP, Channel.EMAIL, Channel.SMS}),
    NotificationKind.REQUEST: ALWAYS,
    NotificationKind.RETURNED: ALWAYS,
    NotificationKind.REPORT_SIGNED: ALWAYS,
    NotificationKind.REFERRAL: ALWAYS,
    NotificationKind.SYSTEM: ALWAYS,
}


def channels_for(kind: str, choices: dict | None) -> frozenset[str]:
    """The channels a notification of ``kind`` goes out on for a user whose stored choices are
    ``choices`` (``{kind: [channel, …]}``; a kind not stored keeps its default)."""
    stored = (choices or {}).get(kind)
    if stored is None:
        return DEFAULT_CHANNELS.get(kind, ALWAYS)
    return ALWAYS | frozenset(c for c in stored if c in OPTIONAL_CHANNELS)


def all_channels(choices: dict | None) -> dict[str, frozenset[str]]:
    return {kind: channels_for(kind, choices) for kind in NotificationKind.values}


def clean_choices(raw: dict) -> tuple[dict[str, list[str]], list[str]]:
    """Validate ``{kind: [channel, …]}`` from a form or the API: ``(choices, errors)``."""
    errors: list[str] = []
    cleaned: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return {}, [_("通知设置格式无效：应为“通知类别 → 渠道列表”。")]
    for kind, channels in raw.items():
        if kind not in NotificationKind.values:
            errors.append(_("未知的通知类别：%(k)s。") % {"k": str(kind)[:40]})
            continue
        if not isinstance(channels, list | tuple) or not all(isinstance(c, str) for c in channels):
            errors.append(_("通知类别 %(k)s 的渠道应为列表。") % {"k": kind})
            continue
        unknown = [c for c in channels if c not in Channel.values]
        if unknown:
            errors.append(_("未知的通知渠道：%(c)s。") % {"c": "、".join(c[:20] for c in unknown)})
            continue
        cleaned[kind] = sorted(c for c in set(channels) if c in OPTIONAL_CHANNELS)
    return cleaned, errors


_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalise_phone(raw: str) -> tuple[str, str | None]:
    """A mainland mobile number for SMS: ``(number, error)``; spaces, dashes and a +86/0086 prefix
    are dropped. Empty means "no SMS number"."""
    value = re.sub(r"[\s\-()]", "", raw or "")
    for prefix in ("+86", "0086"):
        if value.startswith(prefix):
            value = value[len(prefix):]
    if not value:
        return "", None
    if not _MOBILE.match(value):
        return "", _("手机号码格式不正确：请填写11位中国大陆手机号码（如 13800138000）。")
    return value, None


def mask_phone(number: str) -> str:
    """138****8000: what the audit log and the pages show of a stored number (JL-C9)."""
    return f"{number[:3]}****{number[-4:]}" if len(number) >= 7 else ("****" if number else "")


def retry_delay(attempts: int, *, base_seconds: int, cap_seconds: int) -> timedelta:
    """Back-off before the next attempt after ``attempts`` failed ones: base × 2^(n-1), capped."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))
