"""FHIR R4 read and search of the facilities app (issue 14): Organization, Practitioner,
PractitionerRole. Mounted by ``telemed.fhir.urls`` under ``/api/v1/fhir/``.

Scoping as the REST API (STYLE 3, JL-O1): ``Facility.objects.visible_to`` (staff also see the
facilities they hold an agreement with; regulators their division and below),
``PracticeRegistration.objects.visible_to`` and the physicians registered at a facility the user
sees. No patient data: nothing is logged, as on the REST routes. ``meta.lastUpdated`` and
``_lastUpdated`` are the rows' ``updated_at`` (``telemed.changes``; index ``(updated_at, id)``).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from telemed.fhir.views import FhirResourceView, reference_param, token_param

from .. import fhir
from ..models import Facility, Physician, PracticeRegistration


class OrganizationView(FhirResourceView):
    """医疗机构 as FHIR R4 Organization：执业许可证、级别与等次（JL-F2）、验收（JL-F1）、暂停（JL-F5，active=false）。"""

    resource_type = "Organization"
    capability_note = _("meta.lastUpdated：机构信息、验收或暂停（JL-F5）的最后变更时间")
    last_updated = "updated_at"
    search_params = (
        token_param("identifier", "licence_number", _("执业许可证登记号"), example="PDY0000000122010211A1001"),
        token_param("type", "level", _("机构级别（1、2、3）"), lambda code: [int(code)] if code in ("1", "2", "3") else [], example="2",
                    values=("1", "2", "3")),
        token_param("address-district", "division__code", _("所在区划代码（GB/T 2260，6 位）"), example="220102"),
    )

    def queryset(self, request):
        return Facility.objects.visible_to(request.user).select_related("division").with_suspension()

    def resource(self, row, request) -> dict:
        return fhir.organization(row, suspended=row.is_suspended)


class PractitionerView(FhirResourceView):
    """医师 as FHIR R4 Practitioner：医师资格与执业证书（JL-P1）、职称（GB/T 8561，JL-P4）、平台注册（JL-P3）。"""

    resource_type = "Practitioner"
    capability_note = _("meta.lastUpdated：资质、职称、执业范围或平台注册的最后变更时间")
    last_updated = "updated_at"
    search_params = (
        token_param("identifier", "certificate_number", _("医师执业证书编码"), example="110220000000001"),
    )

    def queryset(self, request):
        registrations = PracticeRegistration.objects.visible_to(request.user).values("physician_id")
        return Physician.objects.filter(pk__in=registrations)

    def resource(self, row, request) -> dict:
        return fhir.practitioner(row)


class PractitionerRoleView(FhirResourceView):
    """执业注册 as FHIR R4 PractitionerRole：执业机构（JL-P2）、核验（JL-P3）、远程医疗授权（JL-P6，active）、执业范围（JL-P5）。"""

    resource_type = "PractitionerRole"
    capability_note = _("active 表示远程医疗授权有效（JL-P6）；meta.lastUpdated：注册、核验、授权或所示医师执业范围、机构名称的最后变更时间")
    last_updated = "updated_at"
    search_params = (
        reference_param("practitioner", "Practitioner", "physician_id", _("医师（Practitioner/id）")),
        reference_param("organization", "Organization", "facility_id", _("执业机构（Organization/id）")),
    )

    def queryset(self, request):
        return PracticeRegistration.objects.visible_to(request.user).select_related("physician", "facility")

    def resource(self, row, request) -> dict:
        return fhir.practitioner_role(row)


RESOURCES = (OrganizationView, PractitionerView, PractitionerRoleView)
