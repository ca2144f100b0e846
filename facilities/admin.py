from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from telemed.admin import ReadOnlyRecordAdmin, RecordAdmin
from telemed.errors import ApplicationError

from . import admins, services
from .models import (
    AccreditationApplication,
    AdminAssignment,
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
    """The system administrator registers facilities (JL-A2 三员分立); the save goes through ``facilities.services.facility_save``."""

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


# --- 三员分立 (JL-A2): accounts for the system administrator, administrator roles for the security one ---


class PortalUserAdmin(UserAdmin):
    """Accounts (the system administrator): name, e-mail, active, password — never a permission, a
    group or the staff or superuser flag (roles are the security administrator's, through services).
    The three administrators' and break-glass accounts are out of the system administrator's reach:
    otherwise it could reset their passwords and act as them."""

    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("个人信息"), {"fields": ("first_name", "last_name", "email")}),
        (_("状态"), {"fields": ("is_active", "last_login", "date_joined")}),
    )
    readonly_fields = ("last_login", "date_joined")
    list_display = ("username", "first_name", "email", "is_active", "last_login")
    list_filter = ("is_active",)
    filter_horizontal = ()

    def has_change_permission(self, request, obj=None):
        if obj is not None and (obj.admin_roles.filter(active=True).exists() or admins.is_break_glass(obj)):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # accounts are deactivated, never deleted: the audit log names them (JL-A1)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), PortalUserAdmin)


class AdminAssignmentForm(forms.ModelForm):
    """Shows the JL-A2 checks as form errors before the service runs them again (and records them)."""

    actor = None  # set by the admin for the request

    class Meta:
        model = AdminAssignment
        fields = ("user", "role", "reason")

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and data.get("user") and data.get("role"):
            admins.admin_role_form_errors(self, actor=self.actor, user=data["user"], role=data["role"])
        elif self.instance.pk is not None and data.get("active") is False and not (data.get("end_reason") or "").strip():
            self.add_error("end_reason", _("JL-A2 三员分立: 撤销管理员角色须说明理由。"))
        return data


@admin.register(AdminAssignment)
class AdminAssignmentAdmin(RecordAdmin):
    """The three roles (the security administrator grants here; the audit administrator reads).
    A grant goes through ``admins.admin_role_grant`` with its checks and audit event; a role is
    ended by ticking it off with a reason (``admin_role_revoke``)."""

    form = AdminAssignmentForm
    list_display = ("user", "role", "active", "granted_at", "granted_by", "ended_at", "ended_by")
    list_filter = ("role", "active")
    raw_id_fields = ("user",)
    actions = None

    def get_fields(self, request, obj=None):
        return ("user", "role", "reason") if obj is None else ("user", "role", "granted_at", "granted_by", "reason", "active", "end_reason")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("user", "role", "granted_at", "granted_by", "reason")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form

    def has_change_permission(self, request, obj=None):
        # From the table: a form being validated has already ticked ``active`` off on ``obj``.
        return super().has_change_permission(request, obj) and (
            obj is None or AdminAssignment.objects.filter(pk=obj.pk, active=True).exists()
        )

    def save_model(self, request, obj, form, change):
        try:
            if change:
                if not obj.active:
                    admins.admin_role_revoke(actor=request.user, assignment=obj, reason=obj.end_reason)
            else:
                saved = admins.admin_role_grant(actor=request.user, user=obj.user, role=obj.role, reason=obj.reason)
                obj.pk = saved.pk
        except ApplicationError as error:
            raise PermissionDenied(error.message) from error
