"""The FHIR R4 facade's routes under ``/api/v1/fhir/`` (namespace ``fhir-api``; issue 14).

``metadata`` (the CapabilityStatement) and, per resource type, ``<Type>`` (search), ``<Type>/<id>``
(read) and, for versioned types, ``<Type>/<id>/_history/<version>`` (vread). The AuditEvent routes
keep their names in ``audit.api.urls`` (``audit-api:fhir-auditevent-*``).
"""

from django.urls import path

from consultations.api import fhir as consultations_fhir
from facilities.api import fhir as facilities_fhir

from .capability import CapabilityStatementView
from .views import routes

app_name = "fhir-api"

RESOURCES = (*consultations_fhir.RESOURCES, *facilities_fhir.RESOURCES)

urlpatterns = [
    path("fhir/metadata", CapabilityStatementView.as_view(), name="metadata"),
    *routes(RESOURCES),
]
