"""Reads that cross relations, already scoped to the user (STYLE 3) and already joined."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch

from telemed.checks import Check
from telemed.scope import Scope

from . import rules
from .choices import AccreditationStatus, ActingRole
from .models import (
    AccreditationApplication,
    AssessmentEntry,
    CooperationAgreement,
    DutyShift,
    Facility,
    Physician,
    PracticeRegistration,
    StaffMembership,
    Suspension,
    TelemedicineAsset,
)


def facility_list(*, user, search: str = "", division: str = "", level: str = "", accreditation: str = ""):
    queryset = Facility.objects.visible_to(user).select_related("division").with_suspension()
    if search:
        queryset = queryset.filter(name__icontains=search.strip()) | queryset.filter(licence_number__icontains=search.strip())
    if division:
        queryset = queryset.filter(division__code__startswith=division.rstrip("0") or division)
    if level:
        queryset = queryset.filter(level=level)
    if accreditation:
        queryset = queryset.filter(accreditation_status=accreditation)
    return queryset.order_by("division_id", "name")


def facility_detail(*, user, pk: int) -> Facility:
    return (
        Facility.objects.visible_to(user)
        .select_related("division", "licence_issuer")
        .with_suspension()
        .get(pk=pk)
    )


def facility_participation(facility: Facility) -> list[Check]:
    """JL-F1 and JL-F5 for a facility loaded with ``with_suspension()``."""
    return rules.participation_checks(
        accreditation_status=facility.accreditation_status, suspended=bool(getattr(facility, "is_suspended", False))
    )


def agreement_list(*, user, facility_id: int | None = None, status: str = ""):
    queryset = (
        CooperationAgreement.objects.visible_to(user)
        .select_related("inviting", "invited")
        .prefetch_related("service_types")
    )
    if facility_id:
        queryset = queryset.filter(inviting_id=facility_id) | queryset.filter(invited_id=facility_id)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-valid_from", "number")


def agreement_detail(*, user, pk: int) -> CooperationAgreement:
    return (
        CooperationAgreement.objects.visible_to(user)
        .select_related("inviting__division", "invited__division", "created_by")
        .prefetch_related("service_types")
        .get(pk=pk)
    )


def physician_list(*, user, search: str = "", facility_id: int | None = None, title: str = "", scope: str = ""):
    queryset = Physician.objects.visible_to(user).prefetch_related(
        Prefetch("registrations", queryset=PracticeRegistration.objects.select_related("facility"))
    )
    if search:
        queryset = queryset.filter(name__icontains=search.strip()) | queryset.filter(
            certificate_number__icontains=search.strip()
        )
    if facility_id:
        queryset = queryset.filter(registrations__facility_id=facility_id)
    if title:
        queryset = queryset.filter(title=title)
    if scope:
        # JSON containment is not portable to SQLite; scope lists are short, so match the code text.
        queryset = queryset.filter(scopes__icontains=f'"{scope}"')
    return queryset.distinct().order_by("name", "id")


def physician_detail(*, user, pk: int) -> Physician:
    return (
        Physician.objects.visible_to(user)
        .prefetch_related(
            Prefetch("registrations", queryset=PracticeRegistration.objects.select_related("facility", "verified_by", "authorised_by")),
            "assessment_entries__facility",
            "assessment_entries__audit_event",  # JL-A1: the chain position the sequencer gave the attempt
        )
        .get(pk=pk)
    )


def assessment_entries(*, physician: Physician):
    """JL-P6 (art. 31): a (visible) physician's assessment file, newest first, with the facility."""
    return AssessmentEntry.objects.filter(physician=physician).select_related("facility", "audit_event").order_by("-occurred_at", "-id")


def physician_qualification_table(physician: Physician, *, on: date, scope: str | None = None) -> list[dict]:
    """For each registration of a prefetched physician: the JL-P checks as expert and as attending."""
    rows = []
    for registration in physician.registrations.all():
        rows.append(
            {
                "registration": registration,
                "expert": rules.physician_checks(physician, registration, acting_role=ActingRole.EXPERT, scope=scope or (physician.scopes[0] if physician.scopes else None), on=on),
                "attending": rules.physician_checks(physician, registration, acting_role=ActingRole.ATTENDING, scope=None, on=on),
            }
        )
    return rows


def duty_list(*, user, facility_id: int | None = None, start=None, end=None):
    queryset = DutyShift.objects.visible_to(user).select_related("facility", "physician")
    if facility_id:
        queryset = queryset.filter(facility_id=facility_id)
    if start is not None:
        queryset = queryset.filter(ends_at__gt=start)
    if end is not None:
        queryset = queryset.filter(starts_at__lt=end)
    return queryset.order_by("starts_at", "id")


def application_list(*, user, status: str = ""):
    queryset = AccreditationApplication.objects.visible_to(user).select_related("facility__division", "submitted_by", "decided_by")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-submitted_at")


def application_detail(*, user, pk: int) -> AccreditationApplication:
    return (
        AccreditationApplication.objects.visible_to(user)
        .select_related("facility__division", "submitted_by", "decided_by")
        .prefetch_related("items")
        .get(pk=pk)
    )


def suspension_list(*, user, open_only: bool = False):
    queryset = Suspension.objects.visible_to(user).select_related("facility", "issuing_division", "reported_by", "lifted_by")
    if open_only:
        queryset = queryset.filter(lifted_at__isnull=True)
    return queryset.order_by("-reported_at")


def asset_list(*, user, facility_id: str | int = ""):
    """JL-O7 (art. 33): register entries the user may see (own facility; regulators their division)."""
    queryset = TelemedicineAsset.objects.visible_to(user).select_related("facility")
    if str(facility_id).isdigit():
        queryset = queryset.filter(facility_id=int(facility_id))
    return queryset.order_by("facility_id", "kind", "name", "pk")


def home_summary(*, user, scope: Scope) -> dict:
    facilities = list(Facility.objects.visible_to(user).filter(id__in=scope.facility_ids).with_suspension()) if scope.facility_roles else []
    return {
        "my_facilities": facilities,
        "my_roles": scope.facility_roles,
        "pending_applications": (
            AccreditationApplication.objects.visible_to(user).filter(status=AccreditationStatus.PENDING).count()
            if scope.is_regulator
            else None
        ),
        "open_suspensions": Suspension.objects.visible_to(user).filter(lifted_at__isnull=True).count(),
    }


def agreement_party_choices():
    """The registry of facilities an agreement may name (name, level, division are public
    registry facts, 医疗机构执业登记). Registering still needs the actor to administer one party,
    which the service checks; nothing beyond the registry fields is shown."""
    return Facility.objects.select_related("division").only("id", "name", "level", "grade", "division__name", "division__code").order_by(
        "division_id", "name"
    )


def service_type_choices():
    from .models import ServiceType

    return ServiceType.objects.filter(active=True).order_by("sort_order", "code")


def membership_list(*, user, facility_id: int | None = None, active_only: bool = True):
    """Staff roles at the user's own facilities (every facility for the security administrator, who
    grants and revokes roles: JL-A2 三员分立), with their users."""
    scope = Scope.of(user)
    queryset = StaffMembership.objects.select_related("user", "facility").order_by("facility_id", "user__username", "role")
    if not scope.is_security_admin:
        queryset = queryset.filter(facility_id__in=scope.facility_ids)
    if facility_id is not None:
        queryset = queryset.filter(facility_id=facility_id)
    return queryset.filter(active=True) if active_only else queryset


def service_type_catalogue():
    """JL-C1: every service type, built-in and added, active or not."""
    from .models import ServiceType

    return ServiceType.objects.order_by("sort_order", "code")
