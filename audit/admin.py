from django.contrib import admin
from django.db.models import F

from telemed.admin import ReadOnlyRecordAdmin

from .models import AuditEvent, Seal, VerificationRun


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit administrator reads the log (JL-A2 三员分立); nobody adds, changes or deletes through
    the admin (JL-A1). Reading it is itself on record (``audit.log.read``, as over the FHIR API)."""

    list_display = ("sequence", "occurred_at", "event_type", "outcome", "actor_label", "object_type", "object_id")
    list_filter = ("outcome", "event_type")
    search_fields = ("request_id", "object_id", "actor_label", "event_type")
    ordering = (F("sequence").desc(nulls_first=True), "-id")  # issue 11: not yet chained first

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if response.status_code == 200:
            self._log_read(request, details={"via": "admin", "filters": {k: v for k, v in request.GET.items() if k != "p"}})
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200 and request.method == "GET":
            self._log_read(request, details={"via": "admin"}, object_id=object_id)
        return response

    @staticmethod
    def _log_read(request, *, details: dict, object_id: str = "") -> None:
        from audit.choices import EventType
        from audit.services import audit_event_append

        audit_event_append(
            actor=request.user, event_type=EventType.AUDIT_LOG_READ, object_type="audit.auditevent",
            object_id=object_id, details=details,
        )

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
