"""Pages of the consultations app, under /consultations/ (namespace ``consultations``).

``list``, ``detail`` and ``obligation-list`` are also named in the services' notification links.
"""

from django.urls import path

from . import report_views, views
from .choices import TriggerKind

app_name = "consultations"

# The case page's writes: URL segment → (view action, URL name).
CASE_ACTIONS = {
    "consent": ("consent", "consent"),
    "participants": ("participant", "participant-add"),
    "documents": ("document", "document-upload"),
    "send": ("send", "send"),
    "accept": ("accept", "accept"),
    "decline": ("decline", "decline"),
    "return": ("return_material", "return-material"),
    "assign": ("assign", "assign-expert"),
    "schedule": ("schedule", "schedule"),
    "start": ("start_session", "start-session"),
    "sign": ("sign", "sign"),
    "correct": ("correct", "correct"),
    "close": ("close", "close"),
    "cancel": ("cancel", "cancel"),
    "rate": ("rate", "rate"),
    "referrals": ("referral_offer", "referral-offer"),
}
# JL-C10: the steps of a referral (rules.REFERRAL_EDGES), taken from the case page.
REFERRAL_STEPS = ("confirm", "decline", "transfer", "cancel")

urlpatterns = [
    path("", views.consultation_list, name="list"),
    path("assigned/", views.assigned_list, name="assigned"),
    path("search/", views.record_search, name="search"),
    path("new/", views.consultation_create, name="create"),
    path("new/<int:patient_pk>/", views.consultation_create_request, name="create-request"),
    path("<int:pk>/", views.consultation_detail, name="detail"),
    path("<int:pk>/documents/<int:document_pk>/download/", views.document_download, name="document-download"),
    path("<int:pk>/consent/signed-copy/", views.consent_download, name="consent-download"),
    path("<int:pk>/patient/reveal/", views.patient_reveal, name="patient-reveal"),
    path("<int:pk>/opinions/<int:opinion_pk>/print/", report_views.opinion_print, name="opinion-print"),
    *[
        path(f"<int:pk>/{segment}/", views.consultation_act, {"action": action}, name=name)
        for segment, (action, name) in CASE_ACTIONS.items()
    ],
    path("report-templates/<slug:code>/", report_views.report_template_edit, name="report-template"),
    path("referrals/", views.referral_list, name="referral-list"),
    *[
        path(f"referrals/<int:pk>/{step}/", views.referral_act, {"action": step}, name=f"referral-{step}")
        for step in REFERRAL_STEPS
    ],
    path("obligations/", views.obligation_list, name="obligation-list"),
    path(
        "obligations/patients/<int:patient_pk>/expert-consultation/",
        views.obligation_open,
        {"trigger": TriggerKind.EXPERT_CONSULT_FAILED.value},
        name="obligation-open-expert",
    ),
    path(
        "obligations/patients/<int:patient_pk>/patient-request/",
        views.obligation_open,
        {"trigger": TriggerKind.PATIENT_REQUEST.value},
        name="obligation-open-request",
    ),
    path(
        "obligations/patients/<int:patient_pk>/admissions/", views.admission_record, name="admission-record"
    ),
    path("obligations/admissions/<int:pk>/diagnosis/", views.admission_diagnosis, name="admission-diagnosis"),
    path("obligations/<int:pk>/withdraw/", views.obligation_withdraw, name="obligation-withdraw"),
    path("violations/", views.violation_list, name="violation-list"),
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/read/", views.notification_read, name="notification-read-all"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
]
