import datetime as dt
import os
from dataclasses import dataclass

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from consultations import services
from facilities.choices import FacilityLevel, StaffRole, Title
from facilities.models import Facility, ServiceType
from tests.factories import (
    AgreementFactory,
    FacilityFactory,
    PhysicianFactory,
    RegistrationFactory,
    UserFactory,
    division,
    pdf,
    staff,
)


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Uploaded files go to a per-test folder, never into the checkout."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TELEMED_ALLOW_AUDIT_PURGE = True


# --- The clock ---------------------------------------------------------------------------------
# No test may depend on the real date or time of day. Each test runs at one "now", frozen when it
# starts (it then ticks, so timeouts still work): the session's clock by default, or the instant
# its ``frozen_at`` marker names. Factories read that clock, so fixtures built for a test agree with
# the dates the test travels to. ``--clock`` (or TELEMED_TEST_CLOCK) moves the whole session's clock
# to an awkward instant; CI runs the suite a second time that way.


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        default=os.environ.get("TELEMED_TEST_CLOCK", ""),
        help="run the whole session with the clock moved to this ISO 8601 instant (e.g. 2028-02-29T16:30:00+00:00)",
    )


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise pytest.UsageError(f"--clock / frozen_at needs a time zone offset: {text!r}")
    return value


def pytest_configure(config):
    settings.TELEMED_ALLOW_AUDIT_PURGE = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    config.addinivalue_line("markers", "frozen_at(instant): run this test (and its fixtures) from a fixed ISO 8601 instant")
    clock = config.getoption("clock")
    if clock:
        traveller = time_machine.travel(_instant(clock), tick=True)
        traveller.start()
        config.stash[_CLOCK_KEY] = traveller


_CLOCK_KEY = pytest.StashKey[time_machine.travel]()


def pytest_report_header(config):
    clock = config.getoption("clock")
    return f"clock: moved to {clock} for the whole session" if clock else "clock: real (use --clock to move it)"


def pytest_unconfigure(config):
    traveller = config.stash.get(_CLOCK_KEY, None)
    if traveller is not None:
        traveller.stop()


@pytest.fixture(autouse=True)
def frozen_now(request) -> dt.datetime:
    """The one "now" of this test, started before every other fixture so that factories see it."""
    marker = request.node.get_closest_marker("frozen_at")
    start = _instant(marker.args[0]) if marker else dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=True):
        yield start


@pytest.fixture
def on_postgresql():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL (CI does)")


# --- A small network for consultation and billing tests -----------------------------------





@dataclass
class World:
    inviting: Facility
    invited: Facility
    clinician: object
    coordinator: object
    invited_coordinator: object
    expert: object
    attending: object
    expert_physician: object

    def patient(self, **overrides):
        values = dict(name="张三", sex="1", birth_date=dt.date(1960, 5, 1), id_number="220102196005011234", phone="13812341234")
        values.update(overrides)
        return services.patient_register(actor=self.clinician, facility=self.inviting, **values)

    def draft(self, service="consultation", patient=None, **overrides):
        values = dict(
            inviting=self.inviting, invited=self.invited, service_type=ServiceType.objects.get(code=service),
            patient=patient or self.patient(), reason="入院4天诊断不明", purpose="明确诊断", case_summary="发热待查",
            wanted_scope="internal", wanted_title=Title.ASSOCIATE_CHIEF_PHYSICIAN,
            modality="radiology" if service == "imaging" else "",
        )
        values.update(overrides)
        return services.consultation_create(actor=self.clinician, **values)

    def ready(self, consultation, material=("condition_summary", "medical_record", "test_report")):
        services.consent_record(actor=self.clinician, consultation=consultation, signer_name="李四", relation="spouse",
                                signed_at=timezone.now() - dt.timedelta(minutes=5), sensitive_info_consent=True, signed_copy=pdf("consent.pdf"))
        services.participant_add_inviting(actor=self.clinician, consultation=consultation, physician=self.attending)
        for kind in material:
            services.document_upload(actor=self.clinician, consultation=consultation, kind=kind, title=kind, upload=pdf(f"{kind}.pdf"))
        return consultation

    def sent(self, **kwargs):
        return services.consultation_send(actor=self.coordinator, consultation=self.ready(self.draft(**kwargs)))

    def accepted_with_expert(self, **kwargs):
        consultation = services.consultation_accept(actor=self.invited_coordinator, consultation=self.sent(**kwargs))
        services.expert_assign(actor=self.invited_coordinator, consultation=consultation, physician=self.expert_physician)
        return consultation


@pytest.fixture
def world(db) -> World:
    inviting = FacilityFactory(name="农安县人民医院", level=FacilityLevel.LEVEL_2, division=division("220122"))
    invited = FacilityFactory(name="吉林大学第一医院", division=division("220104"), licence_issuer=division("220000"))
    AgreementFactory(inviting=inviting, invited=invited)
    clinician = staff(inviting, StaffRole.CLINICIAN, username="clinician")
    attending = RegistrationFactory(facility=inviting, physician=PhysicianFactory(user=clinician, title=Title.ATTENDING_PHYSICIAN)).physician
    expert = UserFactory(username="expert")
    staff_membership = staff(invited, StaffRole.CLINICIAN, username="expert")
    assert staff_membership == expert
    expert_physician = RegistrationFactory(facility=invited, physician=PhysicianFactory(user=expert, scopes=["internal", "imaging"])).physician
    return World(
        inviting=inviting,
        invited=invited,
        clinician=clinician,
        coordinator=staff(inviting, StaffRole.COORDINATOR, username="coordinator"),
        invited_coordinator=staff(invited, StaffRole.COORDINATOR, username="invited_coordinator"),
        expert=expert,
        attending=attending,
        expert_physician=expert_physician,
    )


# --- Two-factor sign-in in tests -----------------------------------------------------------------
# ``client.force_login(user)`` stands for a full sign-in: for a user the two-factor policy (JL-A2,
# TELEMED_2FA_REQUIRED_ROLES) concerns, it also passes the second step with a TOTP device made for the
# test, as a browser would after typing the code. Tests of the step itself (tests/facilities/
# test_twofactor.py) sign in through the login form, or with ``force_login(user, otp=False)``.


@pytest.fixture(autouse=True)
def _force_login_passes_second_step(monkeypatch):
    from django.test.client import ClientMixin
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from facilities import twofactor

    original = ClientMixin.force_login

    def force_login(self, user, backend=None, *, otp=True):
        original(self, user, backend)
        had_scope = hasattr(user, "_telemed_scope")
        needed = twofactor.required_for(user)
        if not had_scope:  # the test may still give the user roles: no stale scope on its object
            del user._telemed_scope
        if not (otp and needed):
            return
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="test", confirmed=True
        )
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

    monkeypatch.setattr(ClientMixin, "force_login", force_login)
