"""JL-A2, issue 11: the verified device is read with a statement compiled once (``facilities.otp_middleware``),
with django-otp's own semantics: the device named in the session, of this user, else unverified."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware as DjangoOTPMiddleware
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from facilities.otp_middleware import OTPMiddleware, device_from_persistent_id
from tests.factories import regulator

pytestmark = pytest.mark.django_db


def fields(device):
    return {f.attname: getattr(device, f.attname) for f in type(device)._meta.concrete_fields}


def test_jl_a2_the_compiled_read_gives_what_django_otp_gives(django_assert_num_queries):
    user = regulator("220000", username="reg_otp")
    totp = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    static = StaticDevice.objects.create(user=user, name="recovery", confirmed=False)
    for device in (totp, static, totp):  # the second read of a model runs the compiled statement again
        with django_assert_num_queries(1):
            mine = device_from_persistent_id(device.persistent_id)
        theirs = Device.from_persistent_id(device.persistent_id)
        assert type(mine) is type(theirs) and fields(mine) == fields(theirs)
        assert mine._state.db == theirs._state.db and not mine._state.adding
    for missing in (f"otp_totp.totpdevice/{totp.pk + 100}", "otp_totp.totpdevice/x", "otp_totp.nodevice/1", "auth.user/1",
                    "nonsense", "a.b.c/1", f"otp_totp.totpdevice/{2**31}", f"otp_totp.totpdevice/{2**63}", "otp_totp.totpdevice/-1"):
        assert device_from_persistent_id(missing) is None and Device.from_persistent_id(missing) is None


def verified(user, persistent_id, middleware=OTPMiddleware):
    request = RequestFactory().get("/")
    request.session = {} if persistent_id is None else {DEVICE_ID_SESSION_KEY: persistent_id}
    request.user = type(user).objects.get(pk=user.pk)
    seen = []
    middleware(lambda req: seen.append(req.user) or "ok")(request)
    return seen[0], request.session


def test_jl_a2_only_the_users_own_device_verifies_and_a_stale_id_leaves_the_session():
    user, other = regulator("220000", username="reg_a"), regulator("220000", username="reg_b")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    theirs = TOTPDevice.objects.create(user=other, name="phone", confirmed=True)

    seen, session = verified(user, device.persistent_id)
    assert seen.is_verified() and seen.otp_device == device and session == {DEVICE_ID_SESSION_KEY: device.persistent_id}
    # A legacy persistent id (a full import path), converted as django-otp does.
    seen, _ = verified(user, f"django_otp.plugins.otp_totp.models.TOTPDevice/{device.pk}")
    assert seen.otp_device == device
    seen, session = verified(user, theirs.persistent_id)
    assert not seen.is_verified() and session == {}
    seen, session = verified(user, f"otp_totp.totpdevice/{theirs.pk + 100}")
    assert not seen.is_verified() and session == {}
    seen, session = verified(user, None)
    assert not seen.is_verified() and session == {}


def test_jl_a2_every_case_answers_as_django_otps_own_middleware():
    user, other = regulator("220000", username="reg_c"), regulator("220000", username="reg_d")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=False)  # django-otp does not look at confirmed
    recovery = StaticDevice.objects.create(user=user, name="recovery", confirmed=True)
    theirs = TOTPDevice.objects.create(user=other, name="phone", confirmed=True)
    for persistent_id in (device.persistent_id, recovery.persistent_id, theirs.persistent_id, None, "",
                          f"django_otp.plugins.otp_static.models.StaticDevice/{recovery.pk}", "otp_totp.totpdevice/0",
                          "otp_totp.totpdevice/1/2", "auth.user/1"):
        mine, my_session = verified(user, persistent_id)
        library, library_session = verified(user, persistent_id, middleware=DjangoOTPMiddleware)
        assert mine.otp_device == library.otp_device and mine.is_verified() == library.is_verified(), persistent_id
        assert my_session == library_session, persistent_id
