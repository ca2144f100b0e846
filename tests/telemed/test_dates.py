"""telemed.dates: a UTC offset PostgreSQL cannot store is refused at input, never a 500 (issue 8)."""

import datetime as dt
import importlib
import inspect

import django_filters
import pytest
from django import forms
from django.core.exceptions import ValidationError
from rest_framework import serializers
from rest_framework.test import APIClient

from telemed import dates
from tests.api_cases import assert_error

APPS = ("consultations", "facilities", "billing", "audit")
OUTPUT_ONLY = {"ActSerializer"}  # audit.api.serializers: renders responsibility acts, never reads input


def test_offsets_under_sixteen_hours_pass_and_beyond_are_refused():
    assert dates.utc_offset_ok(dt.datetime(2026, 11, 1))
    assert dates.utc_offset_ok(dt.datetime(2026, 11, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))))
    assert dates.utc_offset_ok(dt.datetime(2026, 11, 1, tzinfo=dt.timezone(-dt.timedelta(hours=15, minutes=59))))
    assert not dates.utc_offset_ok(dt.datetime(2026, 11, 1, tzinfo=dt.timezone(-dt.timedelta(hours=16))))
    assert not dates.utc_offset_ok(dt.datetime(2026, 11, 1, tzinfo=dt.timezone(dt.timedelta(hours=23))))


def test_the_form_field_refuses_an_out_of_range_offset():
    with pytest.raises(ValidationError, match="时区偏移超出范围"):
        dates.DateTimeFormField().clean("2026-11-01T00:00:00-23:00")
    assert dates.DateTimeFormField().clean("2026-11-01T00:00:00+08:00").utcoffset() == dt.timedelta(hours=8)


def test_an_api_filter_with_an_out_of_range_offset_is_400(world):
    client = APIClient()
    client.force_authenticate(world.invited_coordinator)
    body = assert_error(client.get("/api/v1/duty/?from=2026-11-01T00:00:00-23:00"), 400, "invalid")
    assert "时区偏移超出范围" in str(body["extra"]["fields"]["from"])
    assert client.get("/api/v1/duty/?from=2026-11-01T00:00:00%2B08:00").status_code == 200


def test_an_api_body_with_an_out_of_range_offset_is_400(world):
    consultation = world.draft()
    client = APIClient()
    client.force_authenticate(world.clinician)
    response = client.post(f"/api/v1/consultations/{consultation.pk}/consent/", {
        "signer_name": "李四", "relation": "spouse", "signed_at": "2026-11-01T00:00:00-23:00", "sensitive_info_consent": True,
        "e_signature_reference": "CA-1",
    }, format="json")
    body = assert_error(response, 400, "invalid")
    assert "signed_at" in body["extra"]["fields"]


def _classes():
    for app in APPS:
        for module_name in (f"{app}.forms", f"{app}.api.serializers", f"{app}.api.views"):
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue
            for _name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ == module_name:
                    yield cls


def test_every_date_time_input_goes_through_telemed_dates():
    """A new plain DateTimeField in a form, serializer or filter set would skip the offset check."""
    plain = []
    for cls in _classes():
        if issubclass(cls, forms.BaseForm):
            for name, field in cls.base_fields.items():
                if isinstance(field, forms.DateTimeField) and not isinstance(field, dates.DateTimeFormField | dates.IsoDateTimeFormField):
                    plain.append(f"{cls.__name__}.{name}")
        elif issubclass(cls, serializers.Serializer) and cls.__name__ not in OUTPUT_ONLY:
            for name, field in cls._declared_fields.items():
                if isinstance(field, serializers.DateTimeField) and not field.read_only and not isinstance(field, dates.DateTimeField):
                    plain.append(f"{cls.__name__}.{name}")
        elif issubclass(cls, django_filters.FilterSet):
            for name, flt in cls.base_filters.items():
                if issubclass(flt.field_class, forms.DateTimeField) and not issubclass(flt.field_class, dates.IsoDateTimeFormField):
                    plain.append(f"{cls.__name__}.{name}")
    assert plain == []
