from django.contrib import admin

from telemed.admin import ReadOnlyRecordAdmin, RecordAdmin

from . import services
from .models import (
    AccreditationApplication,
    AssessmentEntry,
    CooperationAgreement,
    Division,
    DutyShift,
    Facility,
    Physician,
    PracticeRegistration,
    RegulatorMembership,
    ServiceType,
    StaffMembership,
    Suspension,
)


@admin.register(Facility)
class FacilityAdmin(RecordAdmin):
    """Operators register facilities; the save goes through ``facilities.services.facility_save``."""

    list_display = ("name", "level", "grade", "kind", "division", "licence_expires_on", "accreditation_status")
    list_filter = ("level", "accreditation_status", "kind")
    search_fields = ("name", "licence_number")
    fields = services.FACILITY_FIELDS
    autocomplete_fields = ("division", "licence_issuer")

    def save_model(self, request, obj, form, change):
        services.facility_save(actor=request.user, facility=obj, changed=list(form.changed_data))


@admin.register(Division)
class DivisionAdmin(ReadOnlyRecordAdmin):
    list_display = ("code", "name", "level", "parent")
    search_fields = ("code", "name")


@admin.register(StaffMembership)
class StaffMembershipAdmin(RecordAdmin):
    list_display = ("user", "facility", "role", "active")
    list_filter = ("role", "active")
    search_fields = ("user__username", "facility__name")
    autocomplete_fields = ("facility",)
    raw_id_fields = ("user",)

    def has_change_permission(self, request, obj=None):
        return obj is None  # grant new roles here; revoke through the service

    def save_model(self, request, obj, form, change):
        services.membership_grant(actor=request.user, user=obj.user, facility=obj.facility, role=obj.role)


@admin.register(RegulatorMembership)
class RegulatorMembershipAdmin(RecordAdmin):
    list_display = ("user", "division", "active")
    autocomplete_fields = ("division",)
    raw_id_fields = ("user",)

    def has_change_permission(self, request, obj=None):
        return obj is None

    def save_model(self, request, obj, form, change):
        services.regulator_grant(actor=request.user, user=obj.user, division=obj.division)


for model, columns in (
    (ServiceType, ("code", "name", "category", "negotiated_split", "active")),
    (CooperationAgreement, ("number", "inviting", "invited", "valid_from", "valid_until", "status")),
    (Physician, ("name", "title", "certificate_number", "certificate_valid_until")),
    (PracticeRegistration, ("physician", "facility", "registered_on", "verified_at", "authorised_at")),
    (AccreditationApplication, ("facility", "status", "submitted_at", "decided_at")),
    (Suspension, ("facility", "cause", "reported_at", "lifted_at")),
    (DutyShift, ("facility", "physician", "scope", "starts_at", "ends_at")),
    (AssessmentEntry, ("physician", "facility", "rule", "occurred_at")),
):
    admin.site.register(model, type(f"{model.__name__}Admin", (ReadOnlyRecordAdmin,), {"list_display": columns}))
