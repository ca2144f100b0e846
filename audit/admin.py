from django.contrib import admin

from telemed.admin import ReadOnlyRecordAdmin

from .models import AuditEvent, Seal, VerificationRun


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Operators read the log; nobody adds, changes or deletes through the admin (JL-A1)."""

    list_display = ("sequence", "occurred_at", "event_type", "outcome", "actor_label", "object_type", "object_id")
    list_filter = ("outcome", "event_type")
    search_fields = ("request_id", "object_id", "actor_label", "event_type")
    ordering = ("-sequence",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(Seal, type("SealAdmin", (ReadOnlyRecordAdmin,), {"list_display": ("consultation", "sealed_at", "unsealed_at")}))
admin.site.register(
    VerificationRun, type("VerificationRunAdmin", (ReadOnlyRecordAdmin,), {"list_display": ("requested_at", "state", "checked", "intact")})
)
