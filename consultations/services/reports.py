"""Report templates per service type (JL-C11): the provincial regulator sets the sections."""

from __future__ import annotations

from django.utils.translation import gettext as _

from audit.choices import EventType
from audit.services import audit_event_append
from facilities.choices import ImagingModality
from facilities.models import ServiceType
from facilities.rules import JILIN_PREFIX
from telemed.checks import failing
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.transactions import service_transaction

from .. import report_rules
from ._common import deny


def service_type_report_template_set(*, actor, service_type: ServiceType, template: dict) -> ServiceType:
    """JL-C11 (and JL-C1, art. 3: the catalogue is the province's): only the provincial health
    commission sets a service type's report template. Signed opinions keep the structure they were
    signed with; the new sections apply to what is signed from now on."""
    scope = Scope.of(actor)
    if not scope.is_provincial_regulator:
        raise deny(_("JL-C11: 只有省卫生健康委可以设置意见/报告模板。"))
    bad = failing(report_rules.report_template_checks(template, modalities=list(ImagingModality.values)))
    if bad:
        raise ApplicationError.from_reasons(bad)
    template = {key: value for key, value in template.items() if value}
    with service_transaction():
        service_type = ServiceType.objects.select_for_update().get(pk=service_type.pk)
        before = service_type.report_template
        service_type.report_template = template
        service_type.save(update_fields=["report_template"])
        audit_event_append(
            actor=actor,
            event_type=EventType.FACILITY_SERVICE_TYPE_REPORT_TEMPLATE,
            obj=service_type,
            acting_division_code=next(code for code, prefix in scope.regulated if prefix == JILIN_PREFIX),
            details={"code": service_type.code, "before": before, "after": template},
        )
    return service_type
