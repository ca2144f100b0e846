"""STYLE 3 (NetBox ``restrict()``), JL-O1: every detail route answers 404 — not 403, not 200 — for an
object outside the user's scope, on the pages and over the API alike.

The walk over every URL pattern (``django.urls.get_resolver()``, includes followed, as in
tests/audit/test_access_log.py) finds each route that takes an object id (``pk``, ``id``, ``*_pk``,
``*_id``). Each must be either in ``OBJECT_ROUTES`` (how to build its object in ``world``, through
the services) or in ``NOT_OBJECT_SCOPED`` (with the reason it is not scoped to a facility or a
division). A new route is in neither, so this test fails until someone decides which it is.

Every ``OBJECT_ROUTES`` route is then requested — GET, or POST when it only takes a POST — by two
outsiders: a user holding every staff role at a hospital of another division (吉林市), and that
division's regulator. Both must get 404 for the first world's object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit import records
from audit.complaints import complaint_receive
from audit.inspections import inspection_draw, inspection_plan_create, inspector_add
from audit.models import AuditEvent
from audit.qc import qc_checklist_define, qc_draw, qc_plan_create
from billing import services as billing_services
from billing.models import Charge, FacilityPrice
from consultations import services as consultation_services
from consultations.choices import TriggerKind
from consultations.models import Notification
from facilities import services as facility_services
from facilities.choices import AccreditationCondition, StaffRole, SuspensionCause
from facilities.equipment import asset_register
from facilities.evaluation import evaluation_formula_publish, evaluation_start
from facilities.models import CooperationAgreement, RegulatorMembership, StaffMembership
from telemed.oauth.services import partner_client_register
from telemed.webhooks.services import webhook_subscription_create
from tests.api_cases import token_client
from tests.billing import complete, priced, register_account, statement_with_lines
from tests.consultations import offer, signed
from tests.facilities.evaluation_data import THRESHOLDS as EVALUATION_THRESHOLDS
from tests.facilities.evaluation_data import WEIGHTS as EVALUATION_WEIGHTS
from tests.factories import FacilityFactory, UserFactory, division, pdf, regulator, staff
from tests.routes import MISSING, id_like, keywords, walk

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-11-20T10:00:00+08:00")]

_id_like = id_like


# --- Routes that take an object id but are not scoped to a facility or a division --------------

NOT_OBJECT_SCOPED: dict[str, str] = {
    "admin:*": "Django admin: the three administrators (JL-A2 三员分立), each only the models of its role (facilities.admins.ROLE_PERMISSIONS)",
    "billing-api:price-standard-detail": "JL-B1 (art. 39): the provincial price standard is published to every caller",
    "facilities-api:service-type-detail": "JL-C1 (art. 3): the service types are the province's catalogue, the same for everyone",
    "facilities:service-type-standard": "JL-O4: the province's catalogue; only the provincial regulator may open it (403 before any lookup)",
    "facilities-api:service-type-report-template": "JL-C11: the province's catalogue; only the provincial regulator "
    "sets a report template (403 for everyone else, tests/consultations/test_structured_reports.py)",
    "audit:checkpoint-download": "JL-A1: the audit log's signed checkpoints are one for the whole province, the same for "
    "every operator and regulator (anyone else 403, tests/audit/test_checkpoints.py)",
    "audit-api:audit-checkpoint-detail": "JL-A1: as audit:checkpoint-download",
    "public:inspection-detail": "JL-O6 一公开: a published inspection plan is public to everyone; an unpublished one is "
    "a 404 to everyone here (tests/audit/test_inspections.py)",
    "public:credit-detail": "JL-O6: the public part of an accredited facility's credit record (grade, published entries) "
    "is public to everyone (tests/audit/test_inspections.py)",
}


# --- How to build each scoped route's object in the first world ---------------------------------
# Each builder takes the built ``Objects`` and returns the URL kwargs of that world's object.

OBJECT_ROUTES: dict[str, Callable] = {
    # Facilities (pages)
    "facilities:facility-detail": lambda o: {"pk": o.world.invited.pk},
    "facilities:metrics-facility": lambda o: {"pk": o.world.invited.pk},
    "facilities:metrics-facility-export": lambda o: {"pk": o.world.invited.pk},
    "facilities-api:metrics-facility": lambda o: {"pk": o.world.invited.pk},
    "facilities:agreement-detail": lambda o: {"pk": o.agreement.pk},
    "facilities:agreement-terminate": lambda o: {"pk": o.agreement.pk},
    "facilities:agreement-signed-copy": lambda o: {"pk": o.agreement.pk},
    "facilities:physician-detail": lambda o: {"pk": o.world.expert_physician.pk},
    "facilities:physician-platform-register": lambda o: {"pk": o.world.expert_physician.pk},
    "facilities:registration-verify": lambda o: {"pk": o.world.expert_physician.pk, "registration_pk": o.registration.pk},
    "facilities:registration-authorise": lambda o: {"pk": o.world.expert_physician.pk, "registration_pk": o.registration.pk},
    "facilities:registration-revoke": lambda o: {"pk": o.world.expert_physician.pk, "registration_pk": o.registration.pk},
    "facilities:application-detail": lambda o: {"pk": o.application.pk},
    "facilities:application-decide": lambda o: {"pk": o.application.pk},
    "facilities:application-evidence": lambda o: {"pk": o.application.pk, "item_pk": o.application.items.first().pk},
    "facilities:suspension-lift": lambda o: {"pk": o.suspension.pk},
    "facilities:suspension-detail": lambda o: {"pk": o.suspension.pk},
    "facilities:asset-detail": lambda o: {"pk": o.asset.pk},
    "facilities:staff-list": lambda o: {"pk": o.world.invited.pk},
    "facilities:staff-revoke": lambda o: {"pk": o.world.invited.pk, "membership_pk": o.membership.pk},
    "facilities:physician-qualifications": lambda o: {"pk": o.world.expert_physician.pk, "registration_pk": o.registration.pk},
    # Facilities (API)
    "facilities-api:facility-detail": lambda o: {"pk": o.world.invited.pk},
    "facilities-api:agreement-detail": lambda o: {"pk": o.agreement.pk},
    "facilities-api:agreement-terminate": lambda o: {"pk": o.agreement.pk},
    "facilities-api:physician-detail": lambda o: {"pk": o.world.expert_physician.pk},
    "facilities-api:physician-qualification": lambda o: {"pk": o.world.expert_physician.pk},
    "facilities-api:physician-assessment-entries": lambda o: {"pk": o.world.expert_physician.pk},
    "facilities-api:physician-platform-register": lambda o: {"pk": o.world.expert_physician.pk},
    "facilities-api:registration-detail": lambda o: {"pk": o.registration.pk},
    "facilities-api:registration-authorise": lambda o: {"pk": o.registration.pk},
    "facilities-api:registration-revoke": lambda o: {"pk": o.registration.pk},
    "facilities-api:registration-verify": lambda o: {"pk": o.registration.pk},
    "facilities-api:registration-qualifications": lambda o: {"pk": o.registration.pk},
    "facilities-api:membership-detail": lambda o: {"pk": o.membership.pk},
    "facilities-api:membership-revoke": lambda o: {"pk": o.membership.pk},
    "facilities-api:duty-detail": lambda o: {"pk": o.duty.pk},
    "facilities-api:suspension-detail": lambda o: {"pk": o.suspension.pk},
    "facilities-api:suspension-lift": lambda o: {"pk": o.suspension.pk},
    "facilities-api:suspension-follow-ups": lambda o: {"pk": o.suspension.pk},
    "facilities-api:asset-detail": lambda o: {"pk": o.asset.pk},
    "facilities-api:asset-maintenance": lambda o: {"pk": o.asset.pk},
    "facilities-api:asset-set-status": lambda o: {"pk": o.asset.pk},
    "facilities-api:application-detail": lambda o: {"pk": o.application.pk},
    "facilities-api:application-decide": lambda o: {"pk": o.application.pk},
    # Consultations (pages)
    "consultations:create-request": lambda o: {"patient_pk": o.patient.pk},
    "consultations:detail": lambda o: {"pk": o.consultation.pk},
    "consultations:document-download": lambda o: {"pk": o.consultation.pk, "document_pk": o.document.pk},
    "consultations:consent-download": lambda o: {"pk": o.consultation.pk},
    "consultations:patient-reveal": lambda o: {"pk": o.consultation.pk},
    "consultations:opinion-print": lambda o: {"pk": o.referral.consultation_id, "opinion_pk": o.referral.opinion_id},
    **{f"consultations:{name}": (lambda o: {"pk": o.open_case.pk}) for name in (
        "consent", "participant-add", "document-upload", "send", "accept", "decline", "return-material", "assign-expert",
        "schedule", "start-session", "sign", "correct", "close", "cancel", "rate", "referral-offer",
    )},
    **{f"consultations:referral-{step}": (lambda o: {"pk": o.referral.pk}) for step in ("confirm", "decline", "transfer", "cancel")},
    "consultations:obligation-open-expert": lambda o: {"patient_pk": o.patient.pk},
    "consultations:obligation-open-request": lambda o: {"patient_pk": o.patient.pk},
    "consultations:admission-record": lambda o: {"patient_pk": o.patient.pk},
    "consultations:admission-diagnosis": lambda o: {"pk": o.admission.pk},
    "consultations:obligation-withdraw": lambda o: {"pk": o.obligation.pk},
    "consultations:notification-read": lambda o: {"pk": o.notification.pk},
    # Consultations (API)
    "consultations-api:patient-detail": lambda o: {"pk": o.patient.pk},
    "consultations-api:admission-detail": lambda o: {"pk": o.admission.pk},
    "consultations-api:admission-diagnosis": lambda o: {"pk": o.admission.pk},
    "consultations-api:admission-discharge": lambda o: {"pk": o.admission.pk},
    "consultations-api:obligation-detail": lambda o: {"pk": o.obligation.pk},
    "consultations-api:obligation-withdraw": lambda o: {"pk": o.obligation.pk},
    "consultations-api:violation-detail": lambda o: {"pk": o.violation.pk},
    "consultations-api:consultation-detail": lambda o: {"pk": o.consultation.pk},
    "consultations-api:consultation-download": lambda o: {"pk": o.consultation.pk, "document_id": o.document.pk},
    **{f"consultations-api:consultation-{name}": (lambda o: {"pk": o.open_case.pk}) for name in (
        "accept", "assign", "cancel", "close", "consent", "correct", "decline", "documents", "participants", "rate",
        "return", "schedule", "send", "sign", "start", "experts",
    )},
    **{f"consultations-api:referral-{name}": (lambda o: {"pk": o.referral.pk}) for name in (
        "detail", "confirm", "decline", "transfer", "cancel",
    )},
    # Records under the law (audit)
    "audit:responsibility-detail": lambda o: {"pk": o.consultation.pk},
    "audit:seal-create": lambda o: {"pk": o.consultation.pk},
    "audit:sealed-access": lambda o: {"pk": o.sealed_case.pk},
    "audit:seal-detail": lambda o: {"pk": o.seal.pk},
    "audit:seal-release": lambda o: {"pk": o.seal.pk},
    "audit-api:seal-detail": lambda o: {"pk": o.seal.pk},
    "audit-api:seal-unseal": lambda o: {"pk": o.seal.pk},
    "audit-api:fhir-auditevent-read": lambda o: {"pk": o.event.pk},
    "audit:complaint-detail": lambda o: {"pk": o.complaint.pk},  # JL-O6
    "audit-api:complaint-detail": lambda o: {"pk": o.complaint.pk},
    "audit-api:complaint-steps": lambda o: {"pk": o.complaint.pk},
    "audit:inspection-plan": lambda o: {"pk": o.inspection_plan.pk},  # JL-O6 双随机一公开
    "audit:inspection-result": lambda o: {"pk": o.inspection_result.pk},
    "audit:credit-detail": lambda o: {"pk": o.world.invited.pk},
    **{f"audit-api:inspection-plan-{name}": (lambda o: {"pk": o.inspection_plan.pk}) for name in (
        "detail", "draw", "verify", "publish")},
    **{f"audit-api:inspection-result-{name}": (lambda o: {"pk": o.inspection_result.pk}) for name in (
        "detail", "findings", "rectify")},
    "audit-api:facility-credit-detail": lambda o: {"pk": o.world.invited.pk},
    "audit:qc-draw-detail": lambda o: {"pk": o.qc_draw.pk},  # JL-O2
    "audit:qc-review-detail": lambda o: {"pk": o.qc_review.pk},
    # JL-O3: the province's 2025 evaluation; the result of the world's invited facility
    "facilities:evaluation-round": lambda o: {"pk": o.evaluation_round.pk},
    "facilities:evaluation-publish": lambda o: {"pk": o.evaluation_round.pk},
    "facilities:evaluation-export": lambda o: {"pk": o.evaluation_round.pk, "fmt": "xlsx"},
    "facilities:evaluation-result": lambda o: {"pk": o.evaluation_result.pk},
    "facilities-api:evaluation-round-detail": lambda o: {"pk": o.evaluation_round.pk},
    "facilities-api:evaluation-round-publish": lambda o: {"pk": o.evaluation_round.pk},
    "facilities-api:evaluation-result-detail": lambda o: {"pk": o.evaluation_result.pk},
    "facilities-api:evaluation-result-adjust": lambda o: {"pk": o.evaluation_result.pk},
    # Billing (pages)
    "billing:charge-payment": lambda o: {"pk": o.charge.pk},
    "billing:charge-reverse": lambda o: {"pk": o.charge.pk},
    "billing:statement-detail": lambda o: {"pk": o.statement.pk},
    "billing:statement-confirm": lambda o: {"pk": o.statement.pk},
    "billing:statement-payment": lambda o: {"pk": o.statement.pk},
    "billing:statement-export": lambda o: {"pk": o.statement.pk, "fmt": "csv"},
    "billing:payout-detail": lambda o: {"pk": o.payout.pk},
    "billing:payout-confirm": lambda o: {"pk": o.payout.pk},
    "billing:payout-export": lambda o: {"pk": o.payout.pk, "fmt": "csv"},
    # Billing (API)
    "billing-api:price-detail": lambda o: {"pk": o.price.pk},
    "billing-api:charge-detail": lambda o: {"pk": o.charge.pk},
    "billing-api:charge-payment": lambda o: {"pk": o.charge.pk},
    "billing-api:charge-reverse": lambda o: {"pk": o.charge.pk},
    "billing-api:statement-detail": lambda o: {"pk": o.statement.pk},
    "billing-api:statement-confirm": lambda o: {"pk": o.statement.pk},
    "billing-api:statement-export": lambda o: {"pk": o.statement.pk},
    "billing-api:statement-payment": lambda o: {"pk": o.statement.pk},
    "billing-api:settlement-account-detail": lambda o: {"pk": o.account.pk},
    "billing-api:allocation-policy-detail": lambda o: {"pk": o.policy.pk},
    "billing-api:payout-report-detail": lambda o: {"pk": o.payout.pk},
    "billing-api:payout-report-confirm": lambda o: {"pk": o.payout.pk},
    "billing-api:payout-report-export": lambda o: {"pk": o.payout.pk},
    # Webhooks (issue 14)
    "webhooks:disable": lambda o: {"pk": o.subscription.pk},
    "webhooks:deliveries": lambda o: {"pk": o.subscription.pk},
    "webhooks:redeliver": lambda o: {"pk": o.delivery.pk},
    "webhooks-api:subscription-detail": lambda o: {"pk": o.subscription.pk},
    "webhooks-api:subscription-disable": lambda o: {"pk": o.subscription.pk},
    "webhooks-api:delivery-detail": lambda o: {"pk": o.delivery.pk},
    "webhooks-api:delivery-redeliver": lambda o: {"pk": o.delivery.pk},
    # Partner applications (issue 14)
    "partner-clients:rotate": lambda o: {"pk": o.partner_client.pk},
    "partner-clients:revoke": lambda o: {"pk": o.partner_client.pk},
    "oauth-api:client-detail": lambda o: {"pk": o.partner_client.pk},
    "oauth-api:client-rotate": lambda o: {"pk": o.partner_client.pk},
    "oauth-api:client-revoke": lambda o: {"pk": o.partner_client.pk},
    # The FHIR R4 facade (issue 14)
    "fhir-api:servicerequest-read": lambda o: {"pk": o.consultation.pk},
    "fhir-api:task-read": lambda o: {"pk": o.consultation.pk},
    "fhir-api:diagnosticreport-read": lambda o: {"pk": o.referral.consultation_id},
    "fhir-api:diagnosticreport-vread": lambda o: {"pk": o.referral.consultation_id, "version": 1},
    "fhir-api:documentreference-read": lambda o: {"pk": o.document.pk},
    "fhir-api:consent-read": lambda o: {"pk": o.consultation.consent.pk},
    "fhir-api:consent-vread": lambda o: {"pk": o.consultation.consent.pk, "version": 1},
    "fhir-api:patient-read": lambda o: {"pk": o.patient.pk},
    "fhir-api:organization-read": lambda o: {"pk": o.world.invited.pk},
    "fhir-api:practitioner-read": lambda o: {"pk": o.world.expert_physician.pk},
    "fhir-api:practitionerrole-read": lambda o: {"pk": o.registration.pk},
}


def detail_routes() -> set[str]:
    return {name for name, _namespace, entry in walk() if any(_id_like(g) for g in keywords(entry))}


def _exempt(name: str) -> bool:
    return name in NOT_OBJECT_SCOPED or any(name.startswith(key[:-1]) for key in NOT_OBJECT_SCOPED if key.endswith("*"))


def test_every_detail_route_is_object_scoped_or_exempt_with_a_reason():
    """A new route that takes an object id fails here until it is put on one of the two lists."""
    routes = detail_routes()
    unclassified = sorted(name for name in routes if name not in OBJECT_ROUTES and not _exempt(name))
    assert not unclassified, f"classify these routes in tests/telemed/test_detail_scope.py: {unclassified}"
    assert not sorted(set(OBJECT_ROUTES) - routes), "OBJECT_ROUTES names a route that no longer exists"
    assert not [name for name in OBJECT_ROUTES if _exempt(name)]
    assert all(reason.strip() for reason in NOT_OBJECT_SCOPED.values())


# --- The first world, with one object of every kind ---------------------------------------------


class Objects:
    def __init__(self, world):
        self.world = world
        billing = priced(world)
        self.agreement = CooperationAgreement.objects.get(inviting=world.inviting, invited=world.invited)
        self.registration = world.expert_physician.registrations.get(facility=world.invited)
        self.membership = StaffMembership.objects.get(user=world.invited_coordinator, facility=world.invited)
        self.application = facility_services.accreditation_apply(
            actor=staff(world.invited, StaffRole.FACILITY_ADMIN), facility=world.invited,
            items=[facility_services.AccreditationItemInput(condition=c, statement=f"{c.label} 情况说明", evidence=pdf(f"{c.value}.pdf"))
                   for c in AccreditationCondition],
        )
        now = timezone.now()
        self.duty = facility_services.duty_shift_add(
            actor=world.invited_coordinator, facility=world.invited, physician=world.expert_physician, scope="internal",
            starts_at=now, ends_at=now + dt.timedelta(hours=8),
        )
        self.patient = world.patient()
        self.admission = consultation_services.admission_record(
            actor=world.clinician, patient=self.patient, inpatient_number="ZY-SCOPE-1", admitted_at=now - dt.timedelta(days=1))
        self.obligation = consultation_services.obligation_open(
            actor=world.clinician, patient=self.patient, trigger=TriggerKind.PATIENT_REQUEST, event_at=now - dt.timedelta(hours=1))
        missed = consultation_services.obligation_open(  # JL-C2: past its deadline, recorded by the sweep
            actor=world.clinician, patient=self.patient, trigger=TriggerKind.PATIENT_REQUEST, event_at=now - dt.timedelta(hours=30))
        consultation_services.obligation_sweep()
        self.violation = missed.violation
        self.open_case = world.sent(patient=self.patient)
        self.referral = offer(world, signed(world, patient=self.patient))
        self.notification = Notification.objects.filter(user=world.invited_coordinator).first()
        self.statement = statement_with_lines(billing, charges=2, paid=1, reversed_=0)
        self.charge = Charge.objects.filter(statement=self.statement).first()
        self.consultation = self.charge.consultation
        self.document = self.consultation.documents.first()
        self.sealed_case = complete(world).consultation
        self.seal = records.seal_create(actor=world.coordinator, consultation=self.sealed_case, reason="医疗争议",
                                        inviting_party_name="王主任", inviting_party_role="医务科科长",
                                        invited_party_name="张某", invited_party_role="患者之子")
        self.price = FacilityPrice.objects.filter(facility=world.invited).first()
        self.account = self.statement.payee_account or register_account(billing)
        self.policy = billing_services.allocation_policy_adopt(
            actor=billing.invited_finance, facility=world.invited, staff_share_basis_points=6500, valid_from=timezone.localdate(),
            description="按工作量分配")
        # JL-B6: last month's (October's: no charges, so no policy needed) payout report.
        self.payout = billing_services.payout_report_draft(actor=billing.invited_finance, facility=world.invited,
                                                           month=dt.date(2026, 10, 1))
        self.event = AuditEvent.objects.filter(event_type="consultation.create").first()
        self.subscription, _secret = webhook_subscription_create(
            actor=staff(world.invited, StaffRole.PARTNER_SYSTEM), facility=world.invited,
            target_url="http://127.0.0.1:9/hook", event_types=["consultation.state_changed"])
        consultation_services.consultation_accept(actor=world.invited_coordinator, consultation=self.open_case)
        self.delivery = self.subscription.deliveries.get()
        self.asset = asset_register(  # JL-O7: an entry of the equipment register
            actor=world.invited_coordinator, facility=world.invited, kind="equipment", name="会诊终端",
            in_service_since=timezone.localdate(), maintenance_interval_days=180)
        # JL-O2: November's quality-control draw of 农安县 (the sealed case is finished there), drawn in December.
        qc_checklist_define(actor=billing.province, items=[{"code": "opinion", "text": "意见内容", "max_points": 30}])
        county = regulator("220122")
        plan = qc_plan_create(actor=county, division=division("220122"), name="农安县质控", share_per_mille=1000,
                              period="month", service_types=[self.sealed_case.service_type])
        with time_machine.travel("2026-12-02T09:00:00+08:00", tick=False):
            self.qc_draw = qc_draw(actor=county, plan=plan, period_start=dt.date(2026, 11, 1))
        self.qc_review = self.qc_draw.reviews.order_by("pk").first()
        # JL-O3: the province's evaluation of 2025 (the world's facilities are of county level and above).
        evaluation_formula_publish(actor=billing.province, weights=dict(EVALUATION_WEIGHTS), thresholds=dict(EVALUATION_THRESHOLDS))
        self.evaluation_round = evaluation_start(actor=billing.province, division=division("220000"), year=2025)
        self.evaluation_result = self.evaluation_round.results.get(facility=world.invited)
        # JL-O6: 长春市's random inspection of its general hospitals, drawn (two inspectors on the roster, one
        # of them working at the invited hospital and so never sent there).
        city = regulator("220100")
        inspector_add(actor=city, division=division("220100"), user=UserFactory(username="inspector_a"))
        inspector_add(actor=city, division=division("220100"), user=UserFactory(username="inspector_b"),
                      workplace=world.invited)
        self.inspection_plan = inspection_draw(actor=city, plan=inspection_plan_create(
            actor=city, division=division("220100"), title="长春市远程医疗随机抽查", facility_kinds=["general"],
            facility_levels=[2, 3], facility_count=2, inspectors_per_facility=1, period_start=timezone.localdate(),
            period_end=timezone.localdate() + dt.timedelta(days=30)))
        self.inspection_result = self.inspection_plan.results.get(facility=world.invited)
        self.partner_client, _secret = partner_client_register(
            actor=staff(world.invited, StaffRole.FACILITY_ADMIN), facility=world.invited, name="HIS",
            scopes=["consultations:read"])
        self.complaint = complaint_receive(  # JL-O6: a complaint about the invited facility, from the public form
            facility=world.invited, complainant_name="王女士", complainant_phone="13912345678", relation="family",
            text="报告迟迟未出")
        # Last: a suspension would block the consultations above.
        self.suspension = facility_services.suspension_report(
            actor=staff(world.inviting, StaffRole.FACILITY_ADMIN), facility=world.inviting, cause=SuspensionCause.QUALITY_RISK,
            description="CT 设备故障")
        assert all((self.notification, self.document, self.price, self.event))


# Actions that only the provincial regulator may attempt: the provincial regulator sees every
# facility (JL-O1), so no outsider can reach the lookup; any other user is refused (403) before it,
# with the same answer for an id that does not exist — nothing about the object is revealed.
PROVINCIAL_ONLY: dict[str, str] = {
    "facilities-api:application-decide": "JL-F1 (art. 10): only the provincial regulator decides an accreditation",
}



def _elsewhere():
    return FacilityFactory(name="吉林市中心医院", division=division("220202"), licence_issuer=division("220200"))


def outsider():
    """A user of another facility and another division: every staff role at a hospital of 吉林市
    (no agreement with the world) and 吉林市's regulator, so that every role check is passed and
    only the scope can refuse."""
    elsewhere = _elsewhere()
    for role in (StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR, StaffRole.CLINICIAN, StaffRole.FINANCE):
        user = staff(elsewhere, role, username="outsider")
    RegulatorMembership.objects.create(user=user, division=division("220200"))
    return user


def _answer(user, name: str, kwargs: dict):
    api = "-api:" in name
    if api:
        client = token_client(user)
    else:
        client = Client()
        client.force_login(user)
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {}, format="json") if api else client.post(url, {})
    return response.status_code


def _missing(kwargs: dict) -> dict:
    return {key: (MISSING if _id_like(key) else value) for key, value in kwargs.items()}


def test_jl_o1_every_detail_route_is_404_for_a_user_of_another_facility_and_division(world):
    objects = Objects(world)
    user = outsider()
    leaks = []
    for name, build in sorted(OBJECT_ROUTES.items()):
        kwargs = build(objects)
        status = _answer(user, name, kwargs)
        expected = 403 if name in PROVINCIAL_ONLY else 404
        if status != expected or (name in PROVINCIAL_ONLY and _answer(user, name, _missing(kwargs)) != status):
            leaks.append(f"{status} {name} {reverse(name, kwargs=kwargs)}")
    assert not leaks, "out-of-scope objects must be 404:\n" + "\n".join(leaks)


@pytest.mark.parametrize("who", ["staff", "regulator"])
def test_jl_o1_a_single_role_outsider_learns_nothing_about_the_object(world, who):
    """Staff only, or a regulator only: 404, or the role refusal (403) that any id would get."""
    objects = Objects(world)
    if who == "staff":
        user = staff(_elsewhere(), StaffRole.COORDINATOR, username="outsider_staff")
    else:
        user = regulator("220200", username="outsider_regulator")
    leaks = []
    for name, build in sorted(OBJECT_ROUTES.items()):
        kwargs = build(objects)
        status = _answer(user, name, kwargs)
        if status == 404 or (status == 403 and _answer(user, name, _missing(kwargs)) == 403):
            continue
        leaks.append(f"{status} {name} {reverse(name, kwargs=kwargs)}")
    assert not leaks, "out-of-scope objects must be 404:\n" + "\n".join(leaks)


# Objects of the invited hospital alone: its agreement counterpart sees the hospital (to address
# requests to it) but none of these.
INVITED_ONLY = sorted(
    name for name in OBJECT_ROUTES
    if any(part in name for part in ("physician", "registration", "application", "duty", "price-detail",
                                     "settlement-account", "allocation-policy", "payout"))
)


def test_jl_o1_the_agreement_counterpart_sees_the_hospital_but_not_its_staff_or_money(world):
    objects = Objects(world)
    user = world.clinician  # the inviting hospital, every staff role there
    for role in (StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR, StaffRole.FINANCE):
        staff(world.inviting, role, username=user.username)
    assert len(INVITED_ONLY) >= 15
    leaks = []
    for name in INVITED_ONLY:
        kwargs = OBJECT_ROUTES[name](objects)
        status = _answer(user, name, kwargs)
        if status == 404 or (status == 403 and _answer(user, name, _missing(kwargs)) == 403):
            continue
        leaks.append(f"{status} {name} {reverse(name, kwargs=kwargs)}")
    assert not leaks, "out-of-scope objects must be 404:\n" + "\n".join(leaks)


def test_jl_p6_a_registration_is_as_visible_as_its_physician_not_as_its_facility(world):
    """Issue 8: the inviting hospital sees its counterpart facility (to address requests), but not
    the counterpart's physicians — nor, therefore, their registrations (one scope: ``visible_to``)."""
    registration = world.expert_physician.registrations.get(facility=world.invited)
    counterpart = token_client(world.clinician)
    assert counterpart.get(f"/api/v1/facilities/{world.invited.pk}/").status_code == 200
    assert counterpart.get(f"/api/v1/physicians/{world.expert_physician.pk}/").status_code == 404
    assert counterpart.get(f"/api/v1/registrations/{registration.pk}/").status_code == 404
    own = token_client(world.invited_coordinator)
    assert own.get(f"/api/v1/registrations/{registration.pk}/").status_code == 200
    assert own.get(f"/api/v1/physicians/{world.expert_physician.pk}/").status_code == 200
    assert token_client(regulator("220100")).get(f"/api/v1/registrations/{registration.pk}/").status_code == 200
