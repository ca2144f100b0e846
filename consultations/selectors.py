"""Reads of the consultations app: scoped to the user (STYLE 3), joined, constant query counts."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch

from facilities.models import Suspension
from telemed.scope import Scope

from .choices import OPEN_STATES, ObligationState
from .models import (
    Consultation,
    Document,
    Notification,
    Obligation,
    Opinion,
    Participant,
    ResponsibilityRecord,
    Violation,
)


def _with_suspension_flags(queryset):
    return queryset.annotate(
        inviting_suspended=Exists(Suspension.objects.filter(facility=OuterRef("inviting_id"), lifted_at__isnull=True)),
        invited_suspended=Exists(Suspension.objects.filter(facility=OuterRef("invited_id"), lifted_at__isnull=True)),
    )


def consultation_list(*, user, side: str = "", state: str = "", search: str = "", open_only: bool = False):
    """Requests the user may see; ``side`` = "inviting" (sent by my facilities) or "invited" (my inbox)."""
    scope = Scope.of(user)
    queryset = _with_suspension_flags(
        Consultation.objects.visible_to(user).select_related("inviting", "invited", "service_type", "patient")
    )
    if side == "inviting":
        queryset = queryset.filter(inviting_id__in=scope.facility_ids)
    elif side == "invited":
        queryset = queryset.filter(invited_id__in=scope.facility_ids)
    if state:
        queryset = queryset.filter(state=state)
    if open_only:
        queryset = queryset.filter(state__in=OPEN_STATES)
    if search:
        term = search.strip()
        queryset = queryset.filter(number__icontains=term) | queryset.filter(patient__name__icontains=term)
    return queryset.order_by("-created_at")


def consultation_detail(*, user, pk: int) -> Consultation:
    return (
        _with_suspension_flags(Consultation.objects.visible_to(user))
        .select_related("inviting__division", "invited__division", "service_type", "patient", "admission", "agreement", "created_by")
        .prefetch_related(
            Prefetch("participants", queryset=Participant.objects.select_related("physician")),
            Prefetch("documents", queryset=Document.objects.select_related("uploaded_by")),
            Prefetch("opinions", queryset=Opinion.objects.select_related("signed_by").order_by("version")),
            Prefetch("responsibilities", queryset=ResponsibilityRecord.objects.select_related("acted_by", "inviting_facility", "invited_facility")),
            "ratings",
        )
        .get(pk=pk)
    )


def consent_for(consultation: Consultation):
    return getattr(consultation, "consent", None) if hasattr(consultation, "consent") else None


def obligation_list(*, user, state: str = ObligationState.OPEN):
    queryset = Obligation.objects.visible_to(user).select_related("patient", "facility", "consultation")
    if state:
        queryset = queryset.filter(state=state)
    return queryset.order_by("due_at")


def violation_list(*, user):
    return Violation.objects.visible_to(user).select_related("facility__division", "obligation__patient").order_by("-due_at")


def notification_list(*, user, unread_only: bool = False):
    queryset = Notification.objects.filter(user=user)
    if unread_only:
        queryset = queryset.filter(read_at__isnull=True)
    return queryset.order_by("-created_at")
