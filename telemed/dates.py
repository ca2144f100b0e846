"""Date-time input: one check on the UTC offset, used by every date-time field and filter.

Real time zones lie between UTC−12:00 and UTC+14:00; PostgreSQL refuses a displacement of 16 hours
or more (``time zone displacement out of range``), so ``2026-11-01T00:00:00-23:00`` used to reach it
and fail as a 500. Every date-time the portal reads — API bodies, API query filters, page forms —
goes through the field classes below, which refuse such an offset with a clear message (400
``invalid`` over the API, a form error on pages). ``tests/telemed/test_dates.py`` walks every form,
serializer and filter set so that a new plain ``DateTimeField`` cannot slip past.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

# PostgreSQL accepts a displacement strictly below 16 hours.
MAX_UTC_OFFSET = dt.timedelta(hours=16)
OFFSET_MESSAGE = _("时区偏移超出范围：须在 UTC−16:00 到 UTC+16:00 之间（中国为 +08:00）。")


def utc_offset_ok(value: dt.datetime) -> bool:
    """Naive values (read in the portal's own zone) and offsets under 16 hours pass."""
    offset = value.utcoffset() if isinstance(value, dt.datetime) else None
    return offset is None or abs(offset) < MAX_UTC_OFFSET


def validate_utc_offset(value) -> None:
    if not utc_offset_ok(value):
        raise ValidationError(OFFSET_MESSAGE, code="utc_offset")


class DateTimeField(serializers.DateTimeField):
    """DRF's date-time field, refusing an out-of-range UTC offset before it converts the value."""

    default_error_messages = {"utc_offset": OFFSET_MESSAGE}

    def enforce_timezone(self, value):
        if not utc_offset_ok(value):
            self.fail("utc_offset")
        return super().enforce_timezone(value)


class DateTimeFormField(forms.DateTimeField):
    """Django's form date-time field with the offset check (pages)."""

    default_validators = [validate_utc_offset]


class IsoDateTimeFormField(django_filters.fields.IsoDateTimeField):
    default_validators = [validate_utc_offset]


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """django-filter's ISO 8601 filter with the offset check (API query parameters)."""

    field_class = IsoDateTimeFormField
