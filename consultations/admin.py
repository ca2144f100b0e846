"""Clinical records in the admin site: readable, never changed or deleted there (JL-C8). None of the
three administrators (JL-A2 三员分立) holds their view permissions; only a break-glass account reads them."""

from django.contrib import admin

from audit.choices import EventType
from telemed.admin import ReadOnlyRecordAdmin

from .models import (
    Admission,
    Consent,
    Consultation,
    Document,
    Notification,
    Obligation,
    Opinion,
    Participant,
    Patient,
    Rating,
    ResponsibilityRecord,
    Violation,
)


class PatientDataAdmin(ReadOnlyRecordAdmin):
    """Anyone reading clinical rows in the admin is logged like everyone else (JL-C8, 调阅)."""

    def changelist_view(self, request, extra_context=None):
        from audit.services import audit_event_append

        audit_event_append(
            actor=request.user, event_type=EventType.RECORD_LIST, object_type=self.model._meta.label_lower,
            details={"via": "admin", "filters": {k: v for k, v in request.GET.items() if k != "p"}},
        )
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from audit.services import audit_event_append

        audit_event_append(
            actor=request.user, event_type=EventType.RECORD_VIEW, object_type=self.model._meta.label_lower, object_id=object_id,
            details={"via": "admin"},
        )
        return super().change_view(request, object_id, form_url, extra_context)


for model, columns in (
    (Consultation, ("number", "inviting", "invited", "service_type", "state", "created_at")),
    (Patient, ("name", "facility", "sex", "birth_date")),
    (Admission, ("inpatient_number", "facility", "admitted_at", "diagnosis_confirmed_at")),
    (Obligation, ("patient", "facility", "trigger", "due_at", "state")),
    (Violation, ("facility", "rule", "due_at", "recorded_at")),
    (Consent, ("consultation", "signer_name", "relation", "signed_at")),
    (Participant, ("consultation", "physician", "side")),
    (Document, ("consultation", "kind", "title", "sha256", "uploaded_at")),
    (Opinion, ("consultation", "kind", "version", "signed_by", "signed_at")),
    (ResponsibilityRecord, ("consultation", "occasion", "article", "recorded_at")),
    (Rating, ("consultation", "rater_kind", "score")),
    (Notification, ("user", "__str__", "kind", "created_at", "read_at")),
):
    admin.site.register(model, type(f"{model.__name__}Admin", (PatientDataAdmin,), {"list_display": columns}))
