"""Admin-site plumbing (the three administrators, JL-A2 三员分立): records are read there; writes go through services; nothing is deleted.

Clinical, financial and audit records are never deleted (JL-C8: outpatient ≥ 15 years, inpatient
≥ 30 years; JL-A1), so every admin in the project starts from ``RecordAdmin``, which switches off
the delete permission (and with it the bulk "delete selected" action).
"""

from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyRecordAdmin(RecordAdmin):
    """Administrators may look (as their role allows); every change happens through the portal's own pages and services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
