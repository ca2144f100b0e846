from django.contrib import admin

from .models import NotificationDelivery


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(admin.ModelAdmin):
    """Operators look at failing channels here; the rows are written by the delivery task only."""

    list_display = ("notification", "channel", "status", "attempts", "error", "sent_at", "next_attempt_at")
    list_filter = ("channel", "status")
    list_select_related = ("notification",)
    readonly_fields = [f.name for f in NotificationDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
