"""``manage.py seed_demo``: a believable, idempotent Jilin telemedicine network for demonstrations.

The plain data is in ``facilities/demo_data.py``. Every write that has a service goes through it
(accreditation, agreements, physicians and their registrations, duty shifts, the suspension), so
the audit log reads as it would after real use, with channel ``command``. Facilities, logins and
their memberships are created directly: there is no service for them yet.

Idempotent: each object is looked up by its natural key (facility name, agreement number,
certificate number, username, and facility + scope + start for a duty shift) and skipped when it
exists; a second run on the same day writes nothing, not even an audit event.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from audit.services import audit_chain_sequence, audit_chain_verify
from billing import demo as billing_demo
from consultations import demo as consultations_demo
from facilities import demo_data as data
from facilities.admins import admin_role_grant
from facilities.choices import (
    AccreditationCondition,
    AccreditationStatus,
    AdminRole,
    AgreementStatus,
    FacilityKind,
    StaffRole,
)
from facilities.equipment import asset_maintenance_record, asset_register
from facilities.metrics.facts import earliest_day, facts_rebuild
from facilities.models import (
    AccreditationApplication,
    AdminAssignment,
    CooperationAgreement,
    Division,
    DutyShift,
    Facility,
    Physician,
    PracticeRegistration,
    RegulatorMembership,
    ServiceType,
    StaffMembership,
    Suspension,
    TelemedicineAsset,
)
from facilities.services import (
    AccreditationItemInput,
    accreditation_apply,
    accreditation_decide,
    agreement_register,
    agreement_terminate,
    duty_shift_add,
    physician_platform_register,
    physician_register,
    registration_authorise,
    registration_revoke_authorisation,
    registration_verify,
    service_type_standard_set,
    suspension_report,
)
from telemed.context import use_context
from telemed.models import PartnerClient
from telemed.oauth.rules import SCOPES as OAUTH_SCOPES
from telemed.oauth.services import acting_user_allowed, partner_client_register

SHANGHAI = ZoneInfo("Asia/Shanghai")
STAND_IN_PREFIX = "seed_admin_"  # JL-A2: facilities without a demo administrator login


def demo_pdf(*lines: str) -> bytes:
    """A small, well-formed one-page PDF (ASCII text, Helvetica) standing in for a signed scan."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    stream = "BT /F1 11 Tf 56 780 Td 16 TL " + " ".join(f"({line}) '" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("ascii")
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode("ascii")
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode("ascii")
    return out


def _years(today: date, offset: int, *, end: bool) -> date:
    return date(today.year + offset, 12, 31) if end else date(today.year + offset, 1, 1)


class DemoSeeder:
    """Creates what is missing, in dependency order, and counts what it created."""

    def __init__(self, *, today: date):
        self.today = today
        self.created: Counter[str] = Counter()
        self.facilities: dict[str, Facility] = {}
        self.users: dict = {}

    def run(self) -> None:
        self.check_reference_data()
        self.seed_facilities()
        self.seed_logins()
        self.load_actors()
        self.seed_partner_client()
        self.seed_accreditation()
        self.seed_physicians()
        self.seed_agreements()
        self.seed_duty()
        self.seed_suspension()
        self.seed_equipment()
        self.seed_report_standards()
        self.seed_complaints()
        self.seed_inspections()

    def seed_partner_client(self) -> None:
        """Issue 14: the demo partner applications, through the service so that each registration is
        audited like a real one — the HIS of 农安 acting as the existing partner account (the migration
        path from its DRF token), every scope; and the invited 吉林大学第一医院's coordination system and
        expert's signing workstation (examples/partner_client.py runs a whole case with the three).
        A client already there (by id) is left as it is."""
        existing = set(PartnerClient.objects.filter(application__client_id__in=[c.client_id for c in data.DEMO_CLIENTS])
                       .values_list("application__client_id", flat=True))
        for spec in data.DEMO_CLIENTS:
            if spec.client_id in existing:
                continue
            acting = get_user_model().objects.get(username=spec.acting_login)  # a fresh Scope
            if not acting_user_allowed(acting, facility=self.facilities[spec.facility]):
                continue  # e.g. TELEMED_2FA_REQUIRED_ROLES covers the role: no client may act as it (JL-A2)
            partner_client_register(
                actor=self.admin_for(spec.facility), facility=self.facilities[spec.facility], name=spec.name,
                scopes=sorted(spec.scopes or OAUTH_SCOPES), acting_user=acting,
                client_id=spec.client_id, secret=spec.secret,
            )
            self.created["partner applications"] += 1

    # --- who acts ---------------------------------------------------------------------------

    def _login_for(self, facility_key: str, *roles: str):
        for spec in data.LOGINS:
            if spec.facility == facility_key and spec.role in roles:
                return self.users[spec.username]
        return None

    def admin_for(self, facility_key: str):
        """The facility's demo administrator; a facility without a demo login gets a stand-in that
        cannot sign in (no usable password), so that its records are made by its own administrator
        — nobody passes every role check any more (JL-A2 三员分立)."""
        return self._login_for(facility_key, StaffRole.FACILITY_ADMIN) or self.stand_in_admin(facility_key)

    def stand_in_admin(self, facility_key: str):
        user_model = get_user_model()
        facility = self.facilities[facility_key]
        user, created = user_model.objects.get_or_create(
            username=f"{STAND_IN_PREFIX}{facility_key}",
            defaults={"first_name": f"{facility.name}管理员（演示数据录入，不能登录）", "email": ""},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            self.created["stand-in administrators"] += 1
        _, made = StaffMembership.objects.get_or_create(user=user, facility=facility, role=StaffRole.FACILITY_ADMIN)
        self.created["staff memberships"] += made
        return user_model.objects.get(pk=user.pk)  # a fresh Scope

    def coordinator_for(self, facility_key: str):
        return self._login_for(facility_key, StaffRole.COORDINATOR) or self.admin_for(facility_key)

    def load_actors(self) -> None:
        """Fresh user objects, so that each one's cached Scope sees the memberships just created."""
        user_model = get_user_model()
        usernames = [spec.username for spec in data.LOGINS]
        self.users = {u.username: u for u in user_model.objects.filter(username__in=usernames)}

    # --- facilities and logins (no service yet: created directly) ---------------------------

    def check_reference_data(self) -> None:
        """Divisions and the six service types come from migration 0002; say so if they are missing."""
        codes = {s.division for s in data.FACILITIES} | {s.licence_issuer for s in data.FACILITIES}
        codes |= {s.division for s in data.LOGINS if s.division}
        missing = codes - set(Division.objects.filter(code__in=codes).values_list("code", flat=True))
        services = {code for spec in data.AGREEMENTS for code in spec.services}
        missing |= services - set(ServiceType.objects.filter(code__in=services).values_list("code", flat=True))
        if missing:
            raise CommandError(f"缺少基础数据 / missing reference data {sorted(missing)}: run `manage.py migrate` first.")

    def seed_facilities(self) -> None:
        for spec in data.FACILITIES:
            facility, created = Facility.objects.get_or_create(
                name=spec.name,
                defaults={
                    "licence_number": spec.licence_number,
                    "licence_expires_on": _years(self.today, spec.licence_valid_years, end=True),
                    "licence_issuer_id": spec.licence_issuer,
                    "level": spec.level,
                    "grade": spec.grade,
                    "kind": spec.kind,
                    "division_id": spec.division,
                    "address": spec.address,
                    # Accreditation goes through accreditation_apply / accreditation_decide below.
                    "accreditation_status": AccreditationStatus.NONE,
                },
            )
            self.facilities[spec.key] = facility
            self.created["facilities"] += created

    def seed_logins(self) -> None:
        user_model = get_user_model()
        for spec in data.LOGINS:
            is_admin = spec.role in data.ADMIN_ROLES
            user, created = user_model.objects.get_or_create(
                username=spec.username,
                defaults={"first_name": spec.display_name, "email": f"{spec.username}@demo.invalid"},
            )
            if created:
                # Only on creation: a second run must not rewrite the hash (it changes the salt).
                user.set_password(data.DEMO_PASSWORD)
                user.save(update_fields=["password"])
                self.created["logins"] += 1
            if spec.role == data.REGULATOR:
                _, made = RegulatorMembership.objects.get_or_create(user=user, division_id=spec.division)
                self.created["regulator memberships"] += made
            elif is_admin:  # JL-A2 三员分立: granted through the service, on record (JL-A1)
                if not AdminAssignment.objects.filter(user=user, role=spec.role, active=True).exists():
                    admin_role_grant(actor=None, user=user, role=spec.role, reason="演示数据")
                    self.created["administrator roles"] += 1
            else:
                _, made = StaffMembership.objects.get_or_create(
                    user=user, facility=self.facilities[spec.facility], role=spec.role
                )
                self.created["staff memberships"] += made
            if spec.username == data.PARTNER_LOGIN:
                _, made = Token.objects.get_or_create(user=user)
                self.created["api tokens"] += made
            if is_admin or spec.role in settings.TELEMED_2FA_REQUIRED_ROLES:
                self.created["TOTP devices"] += self.enrol_totp(user)

    @staticmethod
    def enrol_totp(user) -> bool:
        """JL-A2: the privileged demo logins have a confirmed TOTP device, its key made here by
        django-otp (random, per database); ``manage.py demo_totp USER`` shows its current code."""
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            return False
        TOTPDevice.objects.create(user=user, name=data.DEMO_TOTP_DEVICE_NAME, confirmed=True)
        return True

    # --- accreditation (JL-F1) ----------------------------------------------------------------

    def seed_accreditation(self) -> None:
        regulator = self.users[data.PROVINCIAL_REGULATOR_LOGIN]
        for spec in data.FACILITIES:
            facility = self.facilities[spec.key]
            application = AccreditationApplication.objects.filter(facility=facility).order_by("-submitted_at").first()
            if application is None:
                items = [
                    AccreditationItemInput(
                        condition=condition.value,
                        statement=f"（演示）{facility.name}：{condition.label}。材料齐全，详见附件。",
                        evidence=ContentFile(
                            demo_pdf("Accreditation evidence (DEMO)", facility.licence_number, condition.value),
                            name=f"{spec.key}-{condition.value}.pdf",
                        ),
                    )
                    for condition in AccreditationCondition
                ]
                application = accreditation_apply(actor=self.admin_for(spec.key), facility=facility, items=items)
                self.created["accreditation applications"] += 1
            if spec.accreditation == AccreditationStatus.APPROVED and application.status == AccreditationStatus.PENDING:
                accreditation_decide(
                    actor=regulator,
                    application=application,
                    approve=True,
                    reason="（演示）经现场评估，第十三条七项条件均符合。",
                )
            facility.refresh_from_db()

    # --- physicians (JL-P1..P6) -----------------------------------------------------------------

    def seed_physicians(self) -> None:
        for spec in data.PHYSICIANS:
            registrations = []
            for reg_spec in spec.registrations:
                facility = self.facilities[reg_spec.facility]
                registration = PracticeRegistration.objects.filter(
                    physician__certificate_number=spec.certificate_number, facility=facility
                ).first()
                if registration is None:
                    registration = physician_register(
                        actor=self.admin_for(reg_spec.facility),
                        facility=facility,
                        name=spec.name,
                        qualification_number=spec.qualification_number,
                        qualification_obtained_on=date(spec.qualification_year, 7, 1),
                        certificate_number=spec.certificate_number,
                        certificate_valid_until=date(self.today.year - 1, 6, 30) if spec.certificate_expired else None,
                        title=spec.title,
                        scopes=list(spec.scopes),
                        registered_on=date.fromisoformat(reg_spec.registered_on),
                        registration_valid_until=_years(self.today, -1, end=True) if reg_spec.lapsed else None,
                        is_primary=reg_spec.primary,
                        user=self.users.get(spec.user) if spec.user else None,
                    )
                    self.created["practice registrations"] += 1
                registrations.append((reg_spec, registration))

            physician = Physician.objects.get(certificate_number=spec.certificate_number)
            if spec.platform_registered and physician.platform_registered_at is None:
                # The physician registers themself when they have a login, else their facility does.
                actor = self.users[spec.user] if spec.user else self.admin_for(spec.registrations[0].facility)
                physician_platform_register(actor=actor, physician=physician)

            for reg_spec, registration in registrations:
                actor = self.admin_for(reg_spec.facility)
                if reg_spec.verify and registration.verified_at is None:
                    registration = registration_verify(actor=actor, registration=registration)
                if reg_spec.authorise and registration.authorised_at is None:
                    registration = registration_authorise(actor=actor, registration=registration)
                if reg_spec.revoke and registration.authorisation_revoked_at is None:
                    registration_revoke_authorisation(actor=actor, registration=registration)

    # --- cooperation agreements (JL-F3) ---------------------------------------------------------

    def seed_agreements(self) -> None:
        for spec in data.AGREEMENTS:
            inviting, invited = self.facilities[spec.inviting], self.facilities[spec.invited]
            actor = (
                self._login_for(spec.inviting, StaffRole.FACILITY_ADMIN)
                or self._login_for(spec.invited, StaffRole.FACILITY_ADMIN)
                or self.admin_for(spec.inviting)
            )
            agreement = CooperationAgreement.objects.filter(number=spec.number).first()
            if agreement is None:
                valid_from = _years(self.today, spec.from_years, end=False)
                valid_until = _years(self.today, spec.until_years, end=True)
                ratio = f"{spec.inviting_share}:{spec.invited_share}"
                signed_copy = ContentFile(
                    demo_pdf(
                        "Jilin telemedicine cooperation agreement (DEMO - not a real contract)",
                        f"No. {spec.number}",
                        f"Inviting: {inviting.licence_number}   Invited: {invited.licence_number}",
                        f"Services: {', '.join(spec.services)}",
                        f"Valid {valid_from.isoformat()} to {valid_until.isoformat()}",
                        f"Consultation items 2:8 (art. 44); negotiated items {ratio}",
                    ),
                    name=f"{spec.number}.pdf",
                )
                agreement = agreement_register(
                    actor=actor,
                    number=spec.number,
                    inviting=inviting,
                    invited=invited,
                    service_types=ServiceType.objects.filter(code__in=spec.services),
                    valid_from=valid_from,
                    valid_until=valid_until,
                    purpose=f"（演示）{invited.name}通过远程医疗支持{inviting.name}，提升基层疑难病例诊疗能力。",
                    conditions="双方持有有效《医疗机构执业许可证》，申请或通过省卫生健康委远程医疗服务专业技术能力"
                    "评估验收，并经专线或VPN接入吉林省远程医疗会诊管理平台。",
                    process="邀请方取得患者知情同意后提交申请并上传病历资料；受邀方受理后安排具备资质的专家，"
                    "按约定时限出具会诊意见或诊断报告。",
                    rights_obligations="邀请方负责病历资料真实完整并告知患者；受邀方负责按时安排专家并保证意见、报告质量；"
                    f"双方共同保护患者隐私。会诊类项目费用按 2:8 分配，协商项目按 {ratio} 分配（第四十四条）。",
                    liability_sharing="会诊、门诊、病例讨论由邀请方承担诊疗责任，受邀方意见供参考；远程诊断由邀请方对上传"
                    "资料负责、受邀方对诊断报告负责（第二十八条、第二十九条）。",
                    inviting_fee_share=spec.inviting_share,
                    invited_fee_share=spec.invited_share,
                    signed_copy=signed_copy,
                )
                self.created["agreements"] += 1
            if spec.terminate_reason and agreement.status == AgreementStatus.ACTIVE:
                agreement_terminate(actor=actor, agreement=agreement, reason=spec.terminate_reason)

    # --- duty rosters (JL-F4) -------------------------------------------------------------------

    def seed_duty(self) -> None:
        for duty in data.DUTY:
            facility = self.facilities[duty.facility]
            roster_key = f"{duty.facility}:{duty.scope}"
            certificates = [spec.certificate_number for spec in data.PHYSICIANS if spec.duty == roster_key]
            by_certificate = {p.certificate_number: p for p in Physician.objects.filter(certificate_number__in=certificates)}
            roster = [by_certificate[c] for c in certificates]
            shortened = {(day, hour): hours for day, hour, hours in duty.gaps}
            actor = self.coordinator_for(duty.facility)
            for day in range(data.DUTY_DAYS):
                on = self.today + timedelta(days=day)
                for slot, hour in enumerate(data.SHIFT_START_HOURS):
                    starts_at = datetime.combine(on, time(hour), tzinfo=SHANGHAI)
                    if DutyShift.objects.filter(facility=facility, scope=duty.scope, starts_at=starts_at).exists():
                        continue
                    duty_shift_add(
                        actor=actor,
                        facility=facility,
                        physician=roster[(day + slot) % len(roster)],
                        scope=duty.scope,
                        starts_at=starts_at,
                        ends_at=starts_at + timedelta(hours=shortened.get((day, hour), 8)),
                    )
                    self.created["duty shifts"] += 1

    # --- suspension (JL-F5) ---------------------------------------------------------------------

    def seed_suspension(self) -> None:
        spec = data.SUSPENDED
        facility = self.facilities[spec.facility]
        # Any suspension row, open or lifted, means it was seeded: a lifted one is not re-imposed.
        if Suspension.objects.filter(facility=facility).exists():
            return
        # No demo administrator at this facility: its stand-in administrator files the report.
        suspension_report(
            actor=self.admin_for(spec.facility), facility=facility, cause=spec.cause, description=spec.description
        )
        self.created["suspensions"] += 1


    # --- standard time per diagnosis report (JL-O4) ---------------------------------------------

    def seed_report_standards(self) -> None:
        province = next(
            (self.users[spec.username] for spec in data.LOGINS if spec.division == "220000"), None
        )
        for code, minutes in data.REPORT_STANDARD_MINUTES.items():
            service_type = ServiceType.objects.get(code=code)
            if province is None or service_type.report_standard_minutes is not None:
                continue
            service_type_standard_set(actor=province, service_type=service_type, minutes=minutes)
            self.created["report standards"] += 1

    # --- the equipment register (JL-O7) ---------------------------------------------------------

    def seed_equipment(self) -> None:
        """A few register entries per hospital with a demo coordinator; one overdue for maintenance."""
        for spec in data.ASSETS:
            facility = self.facilities[spec.facility]
            actor = self._login_for(spec.facility, StaffRole.COORDINATOR, StaffRole.FACILITY_ADMIN)
            if actor is None or TelemedicineAsset.objects.filter(facility=facility, name=spec.name).exists():
                continue
            asset = asset_register(
                actor=actor, facility=facility, kind=spec.kind, name=spec.name, model_number=spec.model_number,
                vendor=spec.vendor, essential=spec.essential, maintenance_interval_days=spec.interval_days,
                in_service_since=self.today - timedelta(days=30 * spec.months_in_service),
            )
            if spec.maintained_days_ago is not None:
                asset_maintenance_record(
                    actor=actor, asset=asset, kind="routine", performed_on=self.today - timedelta(days=spec.maintained_days_ago),
                    performed_by="（演示）设备科", description="（演示）例行维护：清洁、固件与网络检查",
                )
            self.created["equipment"] += 1


    # --- complaints (JL-O6) -------------------------------------------------------------------------

    def seed_complaints(self) -> None:
        """Two complaints entered by a demo coordinator: one answered, one past its deadlines."""
        from audit.complaint_models import Complaint
        from audit.complaints import complaint_acknowledge, complaint_answer, complaint_receive

        for spec in data.COMPLAINTS:
            facility = self.facilities[spec.facility]
            actor = self._login_for(spec.facility, StaffRole.COORDINATOR, StaffRole.FACILITY_ADMIN)
            if actor is None or Complaint.objects.filter(facility=facility, text=spec.text).exists():
                continue
            complaint = complaint_receive(
                actor=actor, facility=facility, complainant_name=spec.complainant_name, complainant_phone=spec.phone,
                relation=spec.relation, text=spec.text, received_at=timezone.now() - timedelta(days=spec.days_ago),
            )
            if spec.answer:
                complaint_acknowledge(actor=actor, complaint=complaint)
                complaint_answer(actor=actor, complaint=complaint, text=spec.answer, substantiated=spec.substantiated)
            self.created["complaints"] += 1


    # --- the yearly evaluation (JL-O3) ------------------------------------------------------------

    def seed_evaluation(self) -> None:
        """Principals, a formula and the province's published evaluations of the two years before
        this one (one batch each), with the demo's adjustments; each step skipped when done."""
        from facilities.evaluation import (
            evaluation_adjust,
            evaluation_formula_publish,
            evaluation_publish,
            evaluation_start,
        )
        from facilities.models import EvaluationFormula, EvaluationRound

        for key, name in data.PRINCIPALS.items():
            facility = self.facilities[key]
            if not facility.principal_name:
                facility.principal_name = name
                facility.save(update_fields=["principal_name"])
        province = self.users[data.PROVINCIAL_REGULATOR_LOGIN]
        if not EvaluationFormula.objects.exists():
            evaluation_formula_publish(actor=province, weights=data.EVALUATION_WEIGHTS, thresholds=data.EVALUATION_THRESHOLDS,
                                       document_number=data.EVALUATION_DOCUMENT)
            self.created["evaluation formulas"] += 1
        for years_ago in (2, 1):
            year = self.today.year - years_ago
            if EvaluationRound.objects.filter(year=year, division_id="220000").exists():
                continue
            round_ = evaluation_start(actor=province, division=Division.objects.get(code="220000"), year=year)
            for key, (grade, reason) in data.EVALUATION_ADJUSTMENTS[years_ago].items():
                evaluation_adjust(actor=province, result=round_.results.get(facility=self.facilities[key]), grade=grade, reason=reason)
            evaluation_publish(actor=province, round_=round_)
            self.created["evaluations"] += 1

    # --- random inspections, 双随机一公开 (JL-O6) ----------------------------------------------------

    def seed_inspections(self) -> None:
        """长春市's roster of three inspectors (two work at facilities of the city), one plan drawn with a
        recorded seed, its results entered and published: the public pages and the credit records show
        something at once. Through the services, so every step is on the audit record."""
        from audit import inspections
        from audit.inspection_models import InspectionPlan, Inspector

        if InspectionPlan.objects.filter(title=data.INSPECTION_PLAN_TITLE).exists():
            return
        regulator = self.users["reg_changchun"]
        city = Division.objects.get(code="220100")
        for username, facility_key in data.INSPECTORS:
            user = self.users[username]
            if not Inspector.objects.filter(division=city, user=user, active=True).exists():
                inspections.inspector_add(actor=regulator, division=city, user=user,
                                          workplace=self.facilities[facility_key] if facility_key else None)
                self.created["inspectors"] += 1
        plan = inspections.inspection_plan_create(
            actor=regulator, division=city, title=data.INSPECTION_PLAN_TITLE, facility_kinds=[FacilityKind.GENERAL_HOSPITAL],
            facility_levels=[2, 3], facility_count=2, inspectors_per_facility=2,
            period_start=self.today - timedelta(days=20), period_end=self.today + timedelta(days=10))
        plan = inspections.inspection_draw(actor=regulator, plan=plan)
        for index, result in enumerate(plan.results.order_by("facility_id")):
            summary, rectification = data.INSPECTION_FINDINGS[min(index, len(data.INSPECTION_FINDINGS) - 1)]
            inspections.inspection_findings_enter(
                actor=regulator, result=result, severity="minor" if rectification else "none", summary=summary,
                rectification=rectification, deadline=self.today + timedelta(days=30) if rectification else None,
                inspected_on=self.today - timedelta(days=3))
        inspections.inspection_publish(actor=regulator, plan=plan)
        self.created["inspection plans"] += 1

# --- the summary --------------------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _role_label(spec: data.LoginSpec) -> str:
    if spec.role == data.REGULATOR:
        return "regulator 卫生健康行政部门"
    if spec.role in data.ADMIN_ROLES:
        return f"{spec.role} {AdminRole(spec.role).label}"
    return f"{spec.role} {StaffRole(spec.role).label}"


class Command(BaseCommand):
    help = "Load an idempotent demonstration network of Jilin facilities, physicians, agreements and logins."

    def handle(self, *args, **options):
        # One command, one request id on every event it writes (JL-A1), across its two transactions.
        with use_context(channel="command"):
            with transaction.atomic():
                seeder = DemoSeeder(today=timezone.localdate())
                seeder.run()
                # Prices before the cases (a closed case is charged at the price in force), statements after.
                seeder.created.update(billing_demo.seed_billing(facilities=seeder.facilities))
                seeder.created.update(consultations_demo.seed_consultations(facilities=seeder.facilities))
                seeder.created.update(billing_demo.seed_statements(facilities=seeder.facilities))
            # The regulators' dashboard reads daily facts that beat brings up to date every few minutes;
            # the demo's regulators see their figures at once (idempotent, docs/metrics.md).
            facts_rebuild(earliest_day(), timezone.localdate(), all_stats=True)
            with transaction.atomic():
                seeder.seed_evaluation()  # JL-O3: reads the dashboard's figures, so after the facts
        self.print_summary(seeder)

    def print_summary(self, seeder: DemoSeeder) -> None:
        write = self.stdout.write
        created = sum(seeder.created.values())
        write(self.style.SUCCESS(f"演示数据已就绪 / Demo data ready — 本次新建 created this run: {created}"))
        counts = [
            ("医疗机构 Facilities", Facility.objects.count()),
            ("评估验收申请 Accreditation applications", AccreditationApplication.objects.count()),
            ("合作协议 Cooperation agreements", CooperationAgreement.objects.count()),
            ("医务人员 Physicians", Physician.objects.count()),
            ("执业注册 Practice registrations", PracticeRegistration.objects.count()),
            ("值班 Duty shifts", DutyShift.objects.count()),
            ("暂停中 Open suspensions", Suspension.objects.filter(lifted_at__isnull=True).count()),
            ("审计事件 Audit events", AuditEvent.objects.count()),
        ]
        for label, count in counts:
            write(f"  {_pad(label, 42)}{count:>6}")
        audit_chain_sequence()  # issue 11: chain what the demonstration appended, whatever the sequencer mode
        write(f"  {audit_chain_verify().text}")
        write("")
        for line in (*consultations_demo.summary_lines(), *billing_demo.summary_lines()):
            write(line)
        write("")
        write("演示账号 Demo logins")
        header = (_pad("用户名 username", 22), _pad("角色 role", 40), "机构/区划 facility/division")
        write("  " + "".join(header))
        names = {spec.key: spec.name for spec in data.FACILITIES}
        division_names = {
            code: name
            for code, name in Division.objects.filter(
                code__in=[s.division for s in data.LOGINS if s.division]
            ).values_list("code", "name")
        }
        for spec in data.LOGINS:
            where = names.get(spec.facility) or (
                f"{division_names.get(spec.division, '')}（{spec.division}）" if spec.division else "—"
            )
            line = _pad(spec.username, 22) + _pad(_role_label(spec), 40) + where
            write("  " + (f"{line}  {spec.note}" if spec.note else line))
        write(f"  密码 Password (all demo logins): {data.DEMO_PASSWORD}")
        write("  双重认证 Two-factor (三员、监管、机构管理员 the three administrators, regulators, facility admins): "
              "python manage.py demo_totp <username>  prints the current 6-digit code")
        write("  对接应用 Partner applications (OAuth2 client credentials; examples/partner_client.py uses all three):")
        for spec in data.DEMO_CLIENTS:
            write(f"    {_pad(spec.client_id, 24)} secret {_pad(spec.secret, 38)} acting as {spec.acting_login}  {spec.note}")
        write("    用法 Usage: POST /api/v1/oauth/token/ grant_type=client_credentials (HTTP Basic client_id:client_secret),")
        write("    then Authorization: Bearer <access_token>")
        if settings.TELEMED_API_LEGACY_TOKENS:
            token = Token.objects.filter(user__username=data.PARTNER_LOGIN).values_list("key", flat=True).first()
            write(f"  旧式令牌 Legacy API token (deprecated, TELEMED_API_LEGACY_TOKENS) ({data.PARTNER_LOGIN}): {token}")
            write("    用法 Usage: Authorization: Token <key>")
