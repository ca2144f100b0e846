"""Reads of complaints (JL-O6): scoped to the user (STYLE 3), joined, constant query counts."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Prefetch
from django.db.models.functions import ExtractYear

from facilities.choices import AccreditationStatus
from facilities.models import Facility

from . import complaint_rules as rules
from .choices import ComplaintState
from .complaint_models import Complaint, ComplaintStep

ORDERINGS = {
    "received": ("received_at", "pk"),
    "-received": ("-received_at", "-pk"),
    "answer_due": ("answer_due_at", "pk"),
}


def complaint_list(*, user, facility_id: str | int = "", state: str = "", order: str = ""):
    """The complaints the user may see, filtered by facility and state (indexes in ``Complaint.Meta``)."""
    queryset = Complaint.objects.visible_to(user).select_related("facility")
    if str(facility_id).isdigit():
        queryset = queryset.filter(facility_id=int(facility_id))
    if state in ComplaintState.values:
        queryset = queryset.filter(state=state)
    return queryset.order_by(*ORDERINGS.get(order, ORDERINGS["-received"]))


def complaint_detail(*, user, pk: int) -> Complaint:
    steps = ComplaintStep.objects.select_related("by").order_by("at", "pk")
    return (
        Complaint.objects.visible_to(user)
        .select_related("facility", "facility__division", "consultation", "received_by")
        .prefetch_related(Prefetch("steps", queryset=steps))
        .get(pk=pk)
    )


def public_facilities():
    """The facilities a member of the public may complain about: those accredited for telemedicine
    (their names are public registry facts)."""
    return Facility.objects.filter(accreditation_status=AccreditationStatus.APPROVED).order_by("name", "pk")


def complaint_for_complainant(*, tracking_number: str, phone_tail: str) -> Complaint | None:
    """JL-O6: the complainant's lookup — the tracking number AND the last four digits of the phone
    given. A wrong number and wrong digits give the same None."""
    number = rules.normalise_tracking(tracking_number)
    if not rules.TRACKING_PATTERN.match(number):
        return None
    complaint = Complaint.objects.filter(tracking_number=number).only(
        "tracking_number", "complainant_phone", "state", "received_at", "answered_at", "answer"
    ).first()
    if complaint is None or not rules.phone_tail_matches(phone=complaint.complainant_phone, tail=phone_tail):
        return None
    return complaint


def substantiated_by_year(*, facility_id: int) -> dict[int, int]:
    """JL-O6: substantiated complaints against a facility per Beijing year of receipt — the figure a
    facility's credit record counts against it. The finding is the latest one (a regulator's
    override included)."""
    rows = (
        Complaint.objects.filter(facility_id=facility_id, substantiated=True)
        .annotate(year=ExtractYear("received_at", tzinfo=ZoneInfo(settings.TIME_ZONE)))
        .values("year").annotate(n=Count("pk")).order_by("year")
    )
    return {row["year"]: row["n"] for row in rows}
