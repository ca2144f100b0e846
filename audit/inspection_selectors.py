"""Reads of random inspections and credit records (JL-O6): scoped to the user (STYLE 3), joined,
constant query counts. The public reads show published plans only."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q

from facilities.choices import AccreditationStatus
from facilities.models import Facility
from telemed.scope import Scope

from .choices import InspectionResultState
from .complaint_models import HANDLERS
from .inspection_models import InspectionPlan, InspectionResult, Inspector


def inspector_list(*, user):
    """The rosters the user keeps or oversees (JL-O1), active inspectors by id."""
    return (Inspector.objects.visible_to(user).filter(active=True)
            .select_related("user", "workplace", "division").order_by("division_id", "pk"))


def _results():
    return InspectionResult.objects.select_related("facility").prefetch_related("inspectors").order_by("facility_id")


def inspection_plan_list(*, user):
    return (InspectionPlan.objects.visible_to(user).select_related("division")
            .annotate(result_count=Count("results"),
                      pending_count=Count("results", filter=Q(results__state=InspectionResultState.PENDING)))
            .order_by("-period_start", "-pk"))


def inspection_plan_detail(*, user, pk: int) -> InspectionPlan:
    return (InspectionPlan.objects.visible_to(user).select_related("division", "drawn_by", "published_by")
            .prefetch_related(Prefetch("results", queryset=_results())).get(pk=pk))


def inspection_result_list(*, user, facility_id: str | int = "", state: str = ""):
    """Results the user may see: regulators' division, inspectors' own, the facility's own (newest first)."""
    queryset = (InspectionResult.objects.visible_to(user).select_related("plan", "facility")
                .prefetch_related("inspectors").order_by("-plan__period_start", "-plan_id", "facility_id"))
    if str(facility_id).isdigit():
        queryset = queryset.filter(facility_id=int(facility_id))
    if state in InspectionResultState.values:
        queryset = queryset.filter(state=state)
    return queryset


def inspection_result_detail(*, user, pk: int) -> InspectionResult:
    return (InspectionResult.objects.visible_to(user)
            .select_related("plan", "plan__division", "facility", "entered_by", "rectified_by")
            .prefetch_related("inspectors").get(pk=pk))


def public_plan_list():
    """JL-O6 一公开: published plans, newest publication first (index ``inspection_plan_published_idx``)."""
    return InspectionPlan.objects.published().select_related("division").annotate(
        result_count=Count("results")).order_by("-published_at", "-pk")


def public_plan_detail(*, pk: int) -> InspectionPlan:
    results = InspectionResult.objects.select_related("facility").order_by("facility_id")
    return (InspectionPlan.objects.published().select_related("division")
            .prefetch_related(Prefetch("results", queryset=results)).get(pk=pk))


def credit_facilities(*, user):
    """Facilities whose full credit record the user may read: regulators' division (JL-O1), and the
    facility's own administrators and coordinators."""
    scope = Scope.of(user)
    if scope.is_provincial_regulator:
        return Facility.objects.select_related("division").order_by("division_id", "name", "pk")
    condition = Q(pk__in=scope.facilities_with_role(*HANDLERS))
    for prefix in scope.prefixes:
        condition |= Q(division__code__startswith=prefix)
    return Facility.objects.filter(condition).select_related("division").order_by("division_id", "name", "pk")


def public_credit_facilities():
    """The facilities the public credit list shows: those accredited for telemedicine."""
    return Facility.objects.filter(accreditation_status=AccreditationStatus.APPROVED).select_related("division").order_by(
        "division_id", "name", "pk")
