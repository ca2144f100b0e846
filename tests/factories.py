"""factory_boy factories: valid, fully qualified objects by default; tests spoil one thing at a time."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.utils import timezone

from facilities.choices import (
    AccreditationStatus,
    FacilityGrade,
    FacilityKind,
    FacilityLevel,
    StaffRole,
    Title,
)
from facilities.models import (
    CooperationAgreement,
    Division,
    Facility,
    Physician,
    PracticeRegistration,
    RegulatorMembership,
    ServiceType,
    StaffMembership,
)


def pdf(name: str = "evidence.pdf", content: bytes = b"%PDF-1.4 test evidence\n") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


PASSWORD = "correct-horse-battery"  # UserFactory's password (factories skip the validators)


def login_request(address: str = "127.0.0.1") -> HttpRequest:
    """The request ``client.login(request=…, username=…, password=…)`` needs: django-axes checks
    the lockout (JL-A2) in ``authenticate`` and refuses to run without the request it counts."""
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = address
    return request


def division(code: str) -> Division:
    return Division.objects.get(code=code)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("name", locale="zh_CN")
    password = factory.django.Password(PASSWORD)


class FacilityFactory(factory.django.DjangoModelFactory):
    """An accredited level-3 hospital in 长春市南关区 by default."""

    class Meta:
        model = Facility

    name = factory.Sequence(lambda n: f"测试医院{n}")
    licence_number = factory.Sequence(lambda n: f"PDY{n:08d}22010211A1001")
    licence_expires_on = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=3 * 365))
    licence_issuer = factory.LazyFunction(lambda: division("220100"))
    level = FacilityLevel.LEVEL_3
    grade = FacilityGrade.A
    kind = FacilityKind.GENERAL_HOSPITAL
    division = factory.LazyFunction(lambda: division("220102"))
    accreditation_status = AccreditationStatus.APPROVED


def staff(facility: Facility, role: str = StaffRole.CLINICIAN, **user_fields):
    user = UserFactory(**user_fields)
    StaffMembership.objects.create(user=user, facility=facility, role=role)
    return user


def regulator(code: str, **user_fields):
    user = UserFactory(**user_fields)
    RegulatorMembership.objects.create(user=user, division=division(code))
    return user


def administrator(role: str, **user_fields):
    """One of the three administrators of 三员分立 (JL-A2), granted through the service (actor: the
    command line), as ``manage.py create_admins`` does."""
    from facilities.admins import admin_role_grant

    user = UserFactory(**user_fields)
    admin_role_grant(actor=None, user=user, role=role)
    return user


class PhysicianFactory(factory.django.DjangoModelFactory):
    """A 主任医师 in 内科 with a valid certificate and a platform registration."""

    class Meta:
        model = Physician

    name = factory.Faker("name", locale="zh_CN")
    qualification_number = factory.Sequence(lambda n: f"Q{n:014d}")
    qualification_obtained_on = dt.date(2005, 7, 1)
    certificate_number = factory.Sequence(lambda n: f"C{n:014d}")
    certificate_valid_until = None
    title = Title.CHIEF_PHYSICIAN
    scopes = factory.LazyFunction(lambda: ["internal"])
    platform_registered_at = factory.LazyFunction(timezone.now)


class RegistrationFactory(factory.django.DjangoModelFactory):
    """A registration that is verified (JL-P3) and authorised (JL-P6)."""

    class Meta:
        model = PracticeRegistration

    physician = factory.SubFactory(PhysicianFactory)
    facility = factory.SubFactory(FacilityFactory)
    is_primary = True
    registered_on = dt.date(2015, 1, 1)
    valid_until = None
    verified_at = factory.LazyFunction(timezone.now)
    authorised_at = factory.LazyFunction(timezone.now)


class AgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CooperationAgreement
        skip_postgeneration_save = True

    number = factory.Sequence(lambda n: f"JLYC-2026-{n:04d}")
    inviting = factory.SubFactory(FacilityFactory, level=FacilityLevel.LEVEL_2, division=factory.LazyFunction(lambda: division("220122")))
    invited = factory.SubFactory(FacilityFactory)
    valid_from = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=30))
    valid_until = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=335))
    purpose = "提升基层诊疗能力"
    conditions = "双方均已通过远程医疗评估验收"
    process = "邀请方提交申请，受邀方受理并出具意见"
    rights_obligations = "邀请方负责上传资料，受邀方负责出具意见"
    liability_sharing = "按《吉林省远程医疗服务管理办法（试行）》第二十八、二十九条"
    inviting_fee_share = 2
    invited_fee_share = 8
    signed_copy = factory.LazyFunction(lambda: pdf("agreement.pdf"))
    signed_copy_sha256 = "0" * 64
    created_by = factory.SubFactory(UserFactory)

    @factory.post_generation
    def service_types(self, create, extracted, **kwargs):
        if not create:
            return
        codes = extracted if extracted is not None else [s.code for s in ServiceType.objects.all()]
        self.service_types.set(ServiceType.objects.filter(code__in=codes))
