"""Services of the register of telemedicine equipment and software and of stop-and-report follow-up
(JL-O7, art. 33, 34).

A sub-domain module beside ``services.py`` (already past the size STYLE 11 splits at): every write of
the register goes through here, with its audit event in the same transaction; refusals are on record.
"""

from __future__ import annotations

from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType
from audit.services import audit_event_append, audit_refusal
from telemed.checks import failing
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from . import rules
from .choices import AssetStatus, StaffRole, SuspensionCause
from .models import (
    AssetMaintenance,
    Facility,
    RegulatorMembership,
    Suspension,
    SuspensionFollowUp,
    TelemedicineAsset,
)

KEEPERS = (StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR)


def _refuse(error: ApplicationError, *, actor, obj=None, facility_id: int, details: dict | None = None) -> ApplicationError:
    return audit_refusal(
        error, actor=actor, event_type=EventType.FACILITY_ASSET_REFUSE, obj=obj,
        object_type="" if obj is not None else "facilities.telemedicineasset",
        acting_facility_id=facility_id, facility_ids=[facility_id], details=details,
    )


def _require_keeper(actor, facility_id: int) -> None:
    """The register is the facility's own: its administrators and telemedicine coordinators keep it."""
    if not Scope.of(actor).has_role(facility_id, *KEEPERS):
        raise _refuse(
            ApplicationError("permission_denied", _("JL-O7 第三十三条: 只有本机构管理员或远程医疗专职管理人员可以维护设备登记。"), status=403),
            actor=actor, facility_id=facility_id,
        )


def _checked(checks, *, actor, facility_id: int, obj=None) -> None:
    bad = failing(checks)
    if bad:
        raise _refuse(ApplicationError.from_reasons(bad), actor=actor, obj=obj, facility_id=facility_id)


@service_transaction()
def asset_register(
    *, actor, facility: Facility, kind: str, name: str, in_service_since: date | None, model_number: str = "",
    serial_number: str = "", vendor: str = "", essential: bool = False, maintenance_interval_days: int | None = None,
) -> TelemedicineAsset:
    """JL-O7 (art. 33): add an entry to the facility's register."""
    _require_keeper(actor, facility.pk)
    name = clean_text(name).strip()
    _checked(
        rules.asset_checks(
            name=name, in_service_since=in_service_since, today=timezone.localdate(),
            maintenance_interval_days=maintenance_interval_days,
        ),
        actor=actor, facility_id=facility.pk,
    )
    asset = TelemedicineAsset.objects.create(
        facility=facility, kind=kind, name=name, model_number=clean_text(model_number).strip(),
        serial_number=clean_text(serial_number).strip(), vendor=clean_text(vendor).strip(), essential=essential,
        in_service_since=in_service_since, maintenance_interval_days=maintenance_interval_days,
        next_maintenance_due=rules.next_maintenance_due(since=in_service_since, interval_days=maintenance_interval_days),
        registered_at=timezone.now(),
    )
    audit_event_append(
        actor=actor, event_type=EventType.FACILITY_ASSET_REGISTER, obj=asset, acting_facility_id=facility.pk,
        facility_ids=[facility.pk], details={"kind": kind, "name": asset.name, "essential": essential},
    )
    return asset


@service_transaction()
def asset_maintenance_record(
    *, actor, asset: TelemedicineAsset, kind: str, performed_on: date | None, performed_by: str, description: str
) -> AssetMaintenance:
    """JL-O7 (art. 33): record a maintenance; the next one falls due a period after it."""
    _require_keeper(actor, asset.facility_id)
    asset = TelemedicineAsset.objects.select_for_update().get(pk=asset.pk)
    description = clean_text(description).strip()
    _checked(
        rules.maintenance_checks(
            performed_on=performed_on, today=timezone.localdate(), in_service_since=asset.in_service_since,
            status=asset.status, description=description,
        ),
        actor=actor, facility_id=asset.facility_id, obj=asset,
    )
    record = AssetMaintenance.objects.create(
        asset=asset, kind=kind, performed_on=performed_on, performed_by=clean_text(performed_by).strip()[:100],
        description=description, recorded_by=actor, recorded_at=timezone.now(),
    )
    if asset.last_maintained_on is None or performed_on >= asset.last_maintained_on:
        asset.last_maintained_on = performed_on
        asset.next_maintenance_due = rules.next_maintenance_due(
            since=performed_on, interval_days=asset.maintenance_interval_days
        )
        asset.save(update_fields=["last_maintained_on", "next_maintenance_due"])
    audit_event_append(
        actor=actor, event_type=EventType.FACILITY_ASSET_MAINTENANCE, obj=asset, acting_facility_id=asset.facility_id,
        facility_ids=[asset.facility_id],
        details={"maintenance": record.pk, "kind": kind, "performed_on": performed_on.isoformat()},
    )
    return record


@service_transaction()
def asset_status_change(*, actor, asset: TelemedicineAsset, status: str, report: str = "") -> TelemedicineAsset:
    """JL-O7 (art. 33, 34): put an entry out of (or back into) service.

    An essential entry going out of service is the art. 34 case "必要的医疗设备发生变更": the facility
    stops its telemedicine at once and reports to its licensing regulator — in this same transaction,
    through the JL-F5 suspension (or, when the facility is already suspended, as a follow-up of it).
    """
    from .services import suspension_report  # the JL-F5 service; imported here to keep the modules apart

    _require_keeper(actor, asset.facility_id)
    asset = TelemedicineAsset.objects.select_for_update().get(pk=asset.pk)
    report = clean_text(report).strip()
    _checked(
        rules.asset_status_checks(essential=asset.essential, current=asset.status, new=status, report=report),
        actor=actor, facility_id=asset.facility_id, obj=asset,
    )
    stops = asset.essential and asset.status == AssetStatus.IN_SERVICE and status != AssetStatus.IN_SERVICE
    before = asset.status
    asset.status = status
    asset.status_changed_at = timezone.now()
    asset.save(update_fields=["status", "status_changed_at"])
    suspension = None
    if stops:
        text = _("必要设备“%(asset)s”%(status)s：%(report)s") % {
            "asset": asset.name, "status": AssetStatus(status).label, "report": report,
        }
        suspension = Suspension.objects.filter(facility_id=asset.facility_id, lifted_at__isnull=True).first()
        if suspension is None:
            suspension = suspension_report(
                actor=actor, facility=asset.facility, cause=SuspensionCause.EQUIPMENT_CHANGE, description=text
            )
        else:
            suspension_follow_up(actor=actor, suspension=suspension, text=text)
    audit_event_append(
        actor=actor, event_type=EventType.FACILITY_ASSET_STATUS, obj=asset, acting_facility_id=asset.facility_id,
        facility_ids=[asset.facility_id],
        details={"from": before, "to": status, "suspension": suspension.pk if suspension else None},
    )
    return asset


@service_transaction()
def suspension_follow_up(*, actor, suspension: Suspension, text: str) -> SuspensionFollowUp:
    """JL-O7 (art. 34): the facility and its regulators follow a stop-and-report up until it is lifted."""
    scope = Scope.of(actor)
    by_staff = scope.has_role(suspension.facility_id, *KEEPERS)
    by_regulator = not by_staff and scope.regulates(suspension.facility.division_id)
    if not (by_staff or by_regulator):
        raise audit_refusal(
            ApplicationError("permission_denied", _("JL-O7 第三十四条: 只有本机构管理人员或辖区卫生健康行政部门可以填写跟进情况。"), status=403),
            actor=actor, event_type=EventType.FACILITY_SUSPENSION_FOLLOW_UP, obj=suspension,
            facility_ids=[suspension.facility_id],
        )
    text = clean_text(text).strip()
    suspension = Suspension.objects.select_for_update().get(pk=suspension.pk)
    if suspension.lifted_at is not None:
        raise audit_refusal(
            ApplicationError("JL-O7", _("JL-O7 第三十四条: 暂停已解除，报告已办结，不再填写跟进情况。"), status=409),
            actor=actor, event_type=EventType.FACILITY_SUSPENSION_FOLLOW_UP, obj=suspension,
            facility_ids=[suspension.facility_id],
        )
    if not text:
        raise ApplicationError("JL-O7", _("JL-O7 第三十四条: 请写明跟进情况。"))
    entry = SuspensionFollowUp.objects.create(
        suspension=suspension, written_by=actor, written_at=timezone.now(), by_regulator=by_regulator, text=text
    )
    audit_event_append(
        actor=actor, event_type=EventType.FACILITY_SUSPENSION_FOLLOW_UP, obj=suspension,
        acting_facility_id=suspension.facility_id if by_staff else None,
        acting_division_code=scope.regulated[0][0] if by_regulator and scope.regulated else "",
        facility_ids=[suspension.facility_id], details={"follow_up": entry.pk},
    )
    return entry


def regulators_to_tell(facility: Facility) -> list[int]:
    """JL-O7: the regulators a stop-and-report reaches — the licensing regulator's and those over the
    facility's division (county, city, province), each of their users."""
    codes = {facility.licence_issuer_id}
    division = facility.division
    while division is not None:
        codes.add(division.code)
        division = division.parent
    return list(
        RegulatorMembership.objects.filter(division_id__in=codes, active=True).values_list("user_id", flat=True).distinct()
    )
