"""JL-C8 (art. 35 "管控和追溯合一"), JL-C9 (art. 36): every route of the portal that returns patient
data writes its access (调阅) — and no route is forgotten.

The walk over every URL pattern (``django.urls.get_resolver()``, includes followed) puts each route
in exactly one of two reviewed lists: ``PATIENT_DATA`` (must log) or ``NOT_PATIENT_DATA`` (with the
reason it shows none). A new route is in neither, so this test fails until someone classifies it.
Every ``PATIENT_DATA`` route is then requested for real, by an authorised user (a session for
pages, a partner system's token for the API), and must write exactly the access events expected —
``record.view``, ``record.list``, ``record.download`` or ``record.reveal`` — naming the viewer, the
patient and the object, and must show no full identity or phone number.

Beside the walk: a sealed record is read only after a purpose is stated, and every access to it
carries that purpose (JL-C8, art. 37); the full numbers are revealed only to the patient's own
hospital and each reveal is logged; a search by the full identity number still finds the patient,
and the access log keeps the number masked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import time_machine
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit import records as audit_records
from audit.models import AuditEvent
from consultations import services
from consultations.choices import TriggerKind
from consultations.models import Violation
from facilities.choices import StaffRole
from tests.api_cases import assert_error, token_client
from tests.consultations import offer, signed
from tests.factories import UserFactory, regulator, staff
from tests.routes import walk

pytestmark = pytest.mark.django_db

PARTIES = dict(inviting_party_name="王主任", inviting_party_role="邀请方医务科科长", invited_party_name="张某", invited_party_role="患者之子")
WRITE = "write only (POST): the service writes its own audit event; a refused write re-renders a page that logs its access"


# --- The two reviewed lists ----------------------------------------------------------------------

PATIENT_DATA: dict[str, str] = {
    # Pages
    "home": "start page: open JL-C2 obligations by patient (staff), latest violations (regulators)",
    "consultations:list": "work lists and inbox: patient names per request; the obligations tab",
    "consultations:create": "new request step 1: patient search (name or full number)",
    "consultations:create-request": "new request step 2: the chosen patient",
    "consultations:detail": "the case page",
    "consultations:document-download": "a document of the case",
    "consultations:consent-download": "the signed consent form",
    "consultations:patient-reveal": "the case page with the full identity and phone numbers (JL-C9)",
    "consultations:opinion-print": "the printable opinion/report (JL-C11): patient name, masked number, findings",
    "consultations:obligation-list": "open obligations, admissions awaiting a diagnosis, patient search",
    "consultations:violation-list": "JL-C2 violations name the patient",
    "consultations:notification-list": "JL-C2 reminders and violation notices name the patient",
    "consultations:referral-list": "JL-C10 referrals: request number and patient name per row",
    "consultations:assigned": "the expert's cases to answer: request number and patient name per row",
    "consultations:search": "the search over patients and cases (masked numbers)",
    "audit:responsibility-list": "responsibility records per request",
    "audit:responsibility-detail": "one request's responsibility and the acts done under it",
    "audit:seal-detail": "a seal and its comparison with the live record",
    # Partner API
    "consultations-api:patient-list": "patients (masked numbers); POST registers one",
    "consultations-api:patient-detail": "one patient; ?reveal=1 for the full numbers",
    "consultations-api:admission-list": "admissions with patient names; POST records one",
    "consultations-api:admission-detail": "one admission",
    "consultations-api:obligation-list": "obligations with patient names; POST opens one",
    "consultations-api:obligation-detail": "one obligation",
    "consultations-api:consultation-list": "requests with their patient; POST creates one",
    "consultations-api:consultation-detail": "one request with everything in it",
    "consultations-api:consultation-download": "a document of a request",
    "consultations-api:referral-list": "JL-C10 referrals with their patient's name; POST offers one",
    "consultations-api:referral-detail": "one referral with its patient's name",
    "consultations-api:violation-list": "JL-C2 violations with their patient's name (issue 14)",
    "consultations-api:violation-detail": "one JL-C2 violation with its patient's name (issue 14)",
    "audit-api:responsibility-list": "responsibility records per request (?consultation= for one)",
    "audit-api:seal-detail": "a seal and its comparison with the live record",
    # The FHIR R4 facade (issue 14)
    "fhir-api:servicerequest-search": "FHIR ServiceRequest search: requests with their patient's name",
    "fhir-api:servicerequest-read": "FHIR ServiceRequest: one request (reason, purpose, case summary)",
    "fhir-api:task-search": "FHIR Task search: workflow states with their patient's name",
    "fhir-api:task-read": "FHIR Task: one request's workflow state, its patient",
    "fhir-api:diagnosticreport-search": "FHIR DiagnosticReport search: signed opinions and reports",
    "fhir-api:diagnosticreport-read": "FHIR DiagnosticReport: the latest signed version",
    "fhir-api:diagnosticreport-vread": "FHIR DiagnosticReport: one signed version (JL-C6)",
    "fhir-api:documentreference-search": "FHIR DocumentReference search: a case's documents",
    "fhir-api:documentreference-read": "FHIR DocumentReference: one document's metadata (its download is the REST route)",
    "fhir-api:consent-search": "FHIR Consent search: JL-C3 consents and their signers",
    "fhir-api:consent-read": "FHIR Consent: one JL-C3 consent",
    "fhir-api:consent-vread": "FHIR Consent: one recorded version of a JL-C3 consent",
    "fhir-api:patient-search": "FHIR Patient search (masked numbers)",
    "fhir-api:patient-read": "FHIR Patient: masked, or revealed to the own hospital (record.reveal)",
}

NOT_PATIENT_DATA: dict[str, str] = {
    # Sign-in and plumbing
    "login": "sign-in form",
    "session-keepalive": "an empty 204 that refreshes the session (JL-A2)",
    "session-resume": "shows back only what this user typed into a form when their session timed out",
    "logout": "sign-out",
    "password_change": "the user's own password",
    "password_change_done": "confirmation page",
    "otp-verify": "the second sign-in step: the user's own TOTP or recovery code (JL-A2)",
    "otp-enrol": "the user's own authenticator enrolment: QR code, key, recovery codes (JL-A2)",
    "two-factor": "whether the user has two-factor sign-in (JL-A2)",
    "facilities-api:auth-token": "sign-in for partner systems: username and password in, the user's API token out (JL-A2)",
    "facilities:lockout-list": "locked accounts and addresses (usernames, IP addresses), no patient (JL-A2)",
    "facilities:lockout-release": WRITE,
    "set_language": "language switch (redirect)",
    "healthz": "liveness probe: database answers",
    "api-schema": "OpenAPI schema, no data",
    "api-docs": "API documentation page, no data",
    "api-docs-script": "the API documentation's script, no data",
    "facilities-api:api-root": "links to the API's lists, no data",
    "fhir-api:metadata": "the FHIR CapabilityStatement: resource types and search parameters, no data",
    "fhir-api:organization-search": "FHIR Organization search: facilities",
    "fhir-api:organization-read": "FHIR Organization: one facility",
    "fhir-api:practitioner-search": "FHIR Practitioner search: physicians (staff, not patients)",
    "fhir-api:practitioner-read": "FHIR Practitioner: one physician",
    "fhir-api:practitionerrole-search": "FHIR PractitionerRole search: practice registrations",
    "fhir-api:practitionerrole-read": "FHIR PractitionerRole: one practice registration",
    # Facilities and physicians: hospitals, agreements, physicians — no patient
    "facilities:facility-list": "facilities",
    "facilities:facility-detail": "one facility",
    "facilities:agreement-list": "cooperation agreements between facilities",
    "facilities:agreement-create": "form: a new agreement",
    "facilities:agreement-detail": "one agreement",
    "facilities:agreement-terminate": "form: end an agreement",
    "facilities:agreement-signed-copy": "the agreement's signed copy (a facility document)",
    "facilities:physician-list": "physicians (staff, not patients)",
    "facilities:physician-create": "form: a new physician",
    "facilities:physician-detail": "one physician and their registrations",
    "facilities:physician-platform-register": "write: platform registration of a physician",
    "facilities:registration-verify": "write: verify a physician's registration",
    "facilities:registration-authorise": "write: authorise a physician",
    "facilities:registration-revoke": "write: revoke an authorisation",
    "facilities:physician-qualifications": "form: a physician's certificate, title and scopes",
    "facilities:service-type-list": "the JL-C1 service catalogue",
    "facilities:service-type-create": "form: the provincial regulator adds a service type",
    "facilities:staff-list": "a facility's staff roles (users, not patients)",
    "facilities:staff-revoke": "form: end a staff role",
    "facilities:duty-list": "duty roster of physicians",
    "facilities:duty-create": "form: a duty shift",
    "facilities:application-list": "accreditation applications of facilities",
    "facilities:application-create": "form: an accreditation application",
    "facilities:application-detail": "one accreditation application",
    "facilities:application-decide": "write: the regulator's decision",
    "facilities:application-evidence": "an application's evidence file (facility document)",
    "facilities:suspension-list": "facility suspensions",
    "facilities:suspension-create": "form: report or order a suspension",
    "facilities:suspension-lift": "form: lift a suspension",
    "facilities:suspension-detail": "a stop-and-report and its follow-up (JL-O7), no patient data",
    "facilities:service-type-standard": "form: a diagnosis type's standard time per report (JL-O4)",
    "facilities:assistance": "credited assistance time per physician (JL-O4), no patient data; exports on record",
    "facilities:asset-list": "the equipment register (JL-O7), no patient data",
    "facilities:asset-create": "form: register equipment or software",
    "facilities:asset-detail": "one register entry and its maintenance, no patient data",
    "facilities-api:facility-list": "facilities",
    "facilities-api:facility-detail": "one facility",
    "facilities-api:agreement-list": "agreements; POST creates one",
    "facilities-api:agreement-detail": "one agreement",
    "facilities-api:agreement-terminate": "write: end an agreement",
    "facilities-api:physician-list": "physicians; POST registers one",
    "facilities-api:physician-detail": "one physician",
    "facilities-api:physician-qualification": "a physician's JL-P checks",
    "facilities-api:physician-platform-register": WRITE,
    "facilities-api:physician-assessment-entries": "a physician's JL-P6 assessment file (no patient), as the physician page",
    "facilities-api:registration-detail": "a physician's registration",
    "facilities-api:registration-authorise": "write: authorise a physician",
    "facilities-api:registration-revoke": "write: revoke an authorisation",
    "facilities-api:registration-verify": "write: verify a registration",
    "facilities-api:registration-qualifications": "write: a physician's certificate, title and scopes",
    "facilities-api:service-type-list": "the JL-C1 service catalogue; POST adds one (provincial regulator)",
    "facilities-api:service-type-detail": "one service type",
    "facilities-api:service-type-report-template": WRITE,
    "consultations:report-template": "form: the provincial regulator sets a service type's report template (JL-C11), no patient",
    "facilities-api:membership-list": "staff roles at the user's facilities",
    "facilities-api:membership-detail": "one staff role",
    "facilities-api:membership-revoke": "write: end a staff role",
    "facilities-api:duty-list": "duty roster; POST adds a shift",
    "facilities-api:duty-detail": "one duty shift",
    "facilities-api:suspension-list": "suspensions; POST reports one",
    "facilities-api:suspension-detail": "one suspension",
    "facilities-api:suspension-lift": "write: lift a suspension",
    "facilities-api:suspension-follow-ups": "a stop-and-report's follow-up (JL-O7); POST adds to it",
    "facilities-api:assistance-credit": "credited assistance time per physician (JL-O4), no patient data",
    "facilities-api:asset-list": "the equipment register (JL-O7); POST registers an entry",
    "facilities-api:asset-detail": "one register entry",
    "facilities-api:asset-maintenance": "write: record a maintenance",
    "facilities-api:asset-set-status": "write: change an entry's status",
    "facilities-api:application-list": "accreditation applications; POST files one",
    "facilities-api:application-detail": "one application",
    "facilities-api:application-decide": "write: the regulator's decision",
    "consultations-api:consultation-experts": "physicians eligible as the case's expert (JL-P); no patient data",
    # Consultations: writes (each service audits itself; a refusal re-renders a logged page)
    "consultations:consent": WRITE,
    "consultations:participant-add": WRITE,
    "consultations:document-upload": WRITE,
    "consultations:send": WRITE,
    "consultations:accept": WRITE,
    "consultations:decline": WRITE,
    "consultations:return-material": WRITE,
    "consultations:assign-expert": WRITE,
    "consultations:schedule": WRITE,
    "consultations:start-session": WRITE,
    "consultations:sign": WRITE,
    "consultations:correct": WRITE,
    "consultations:close": WRITE,
    "consultations:cancel": WRITE,
    "consultations:rate": WRITE,
    "consultations:obligation-open-expert": WRITE,
    "consultations:obligation-open-request": WRITE,
    "consultations:admission-record": WRITE,
    "consultations:admission-diagnosis": WRITE,
    "consultations:obligation-withdraw": WRITE,
    "consultations:notification-read-all": WRITE,
    "consultations:notification-read": WRITE,
    "consultations:referral-offer": WRITE,
    "consultations:referral-confirm": WRITE,
    "consultations:referral-decline": WRITE,
    "consultations:referral-transfer": WRITE,
    "consultations:referral-cancel": WRITE,
    "consultations-api:referral-confirm": WRITE,
    "consultations-api:referral-decline": WRITE,
    "consultations-api:referral-transfer": WRITE,
    "consultations-api:referral-cancel": WRITE,
    "consultations-api:admission-diagnosis": WRITE,
    "consultations-api:admission-discharge": WRITE,
    "consultations-api:obligation-withdraw": WRITE,
    "consultations-api:consultation-accept": WRITE,
    "consultations-api:consultation-assign": WRITE,
    "consultations-api:consultation-cancel": WRITE,
    "consultations-api:consultation-close": WRITE,
    "consultations-api:consultation-consent": WRITE,
    "consultations-api:consultation-correct": WRITE,
    "consultations-api:consultation-decline": WRITE,
    "consultations-api:consultation-documents": WRITE,
    "consultations-api:consultation-participants": WRITE,
    "consultations-api:consultation-rate": WRITE,
    "consultations-api:consultation-return": WRITE,
    "consultations-api:consultation-schedule": WRITE,
    "consultations-api:consultation-send": WRITE,
    "consultations-api:consultation-sign": WRITE,
    "consultations-api:consultation-start": WRITE,
    # Records under the law
    "audit:seal-create": "form: request number and the two facilities only",
    "audit:sealed-access": "asks the purpose (facilities, seal time); its POST writes record.view with the purpose",
    "audit:seal-list": "seals: request numbers, facilities, who sealed",
    "audit:seal-release": "form: request number and the parties of the seal",
    "audit:chain": "audit chain verification status",
    "audit:checkpoint-list": "signed audit-log checkpoints: sizes, hashes, public key; no patient",
    "audit:checkpoint-download": "one signed checkpoint (size, head hash, signature); no patient; audited",
    # Quality control (JL-O2): request numbers, facilities, scores and feedback; never a patient's name
    # or number. A reviewer reads the case itself on the case page, which logs it (tests/audit/test_qc.py).
    "audit:qc-plan-list": "JL-O2 plans, draws (seeds, case ids) and the checklist; no patient",
    "audit:qc-draw-detail": "JL-O2 one draw: seed, population query, sampled request numbers; no patient",
    "audit:qc-review-list": "JL-O2 reviews: request numbers, scores, feedback, answers; no patient",
    "audit:qc-review-detail": "JL-O2 one review: request number, scores, feedback, answer; no patient",
    "audit-api:qc-plan-list": "JL-O2 quality-control plans; no patient",
    "audit-api:qc-draw-list": "JL-O2 draws: seeds and consultation ids; no patient",
    "audit-api:qc-review-list": "JL-O2 reviews: consultation ids and numbers, scores, feedback; no patient",
    "audit-api:seal-list": "seals: request numbers, reasons, parties; POST seals",
    "audit-api:seal-unseal": WRITE,
    "audit-api:audit-checkpoint-list": "signed audit-log checkpoints; no patient",
    "audit-api:audit-checkpoint-detail": "one signed checkpoint as its document; no patient; audited",
    "audit-api:fhir-auditevent-search": "the audit log for auditors: Patient/<id> references only, no name or "
    "number; each read is itself logged as audit.log.read",
    "audit-api:fhir-auditevent-read": "one audit event for auditors, logged as audit.log.read",
    # Complaints (JL-O6): the complainant's name, masked phone (JL-C9) and their own words, a request
    # number at most — no medical record is read; every step is an audit event of its own.
    "audit:complaint-list": "complaints: tracking numbers, facilities, states and deadlines",
    "audit:complaint-create": "form: a complaint received by phone or in person",
    "audit:complaint-detail": "one complaint and its steps: complainant's name, masked phone, text, request number",
    "audit-api:complaint-list": "complaints as on the list page (masked phones)",
    "audit-api:complaint-detail": "one complaint as on its page (masked phone)",
    "audit-api:complaint-steps": "a complaint's steps; POST takes one (its own audit event)",
    "public:complaint-new": "public intake form, no login: accredited facilities by name; shows back only the tracking number",
    "public:complaint-status": "public status, no login: a complaint's state and answer for its number and phone tail",
    # Random inspections, 双随机一公开, and credit records (JL-O6): facilities, inspectors (staff, not
    # patients), findings and rectification; a credit entry names its source object, never a patient.
    "audit:inspection-list": "JL-O6 plans and results: facilities, states, deadlines; no patient",
    "audit:inspection-roster": "JL-O6 the inspectors' roster: staff names and workplaces; no patient",
    "audit:inspection-plan": "JL-O6 one plan: seed, candidate ids, drawn facilities and inspectors; no patient",
    "audit:inspection-result": "JL-O6 one facility's result: findings, rectification; no patient",
    "audit:credit-list": "JL-O6 credit grades per facility; no patient",
    "audit:credit-detail": "JL-O6 a facility's credit entries: kind, day, source link (a violation without its patient)",
    "audit-api:inspector-list": "JL-O6 the roster (staff); POST names a person (audited)",
    "audit-api:inspection-plan-list": "JL-O6 plans and draws; POST creates one (audited)",
    "audit-api:inspection-plan-detail": "JL-O6 one plan and its draw",
    "audit-api:inspection-plan-draw": WRITE,
    "audit-api:inspection-plan-verify": "JL-O6 the draw recomputed from its seed: facility and roster ids",
    "audit-api:inspection-plan-publish": WRITE,
    "audit-api:inspection-result-list": "JL-O6 results per drawn facility; no patient",
    "audit-api:inspection-result-detail": "JL-O6 one result; no patient",
    "audit-api:inspection-result-findings": WRITE,
    "audit-api:inspection-result-rectify": WRITE,
    "audit-api:facility-credit-list": "JL-O6 credit grades per facility; no patient",
    "audit-api:facility-credit-detail": "JL-O6 a facility's credit entries (kind, day, source id); no patient",
    "public:inspection-list": "JL-O6 public, no login: published inspection plans",
    "public:inspection-detail": "JL-O6 public, no login: a published plan, its draw, public summaries and rectification status",
    "public:credit-list": "JL-O6 public, no login: accredited facilities' credit grades",
    "public:credit-detail": "JL-O6 public, no login: a facility's grade and public entries (no violation)",
    # Billing: charges and statements carry request numbers and money, no patient identity
    "billing:index": "billing start page",
    "billing:charge-list": "charges: request numbers and amounts",
    "billing:charge-payment": "form: the patient's payment of a charge (receipt number, amounts)",
    "billing:charge-reverse": "form: reverse a charge",
    "billing:statement-list": "statements between facilities",
    "billing:statement-detail": "one statement",
    "billing:statement-confirm": "write: confirm a statement",
    "billing:statement-payment": "write: record a statement's payment",
    "billing:statement-export": "a statement's export (facilities, amounts)",
    "billing:standard-list": "price standards",
    "billing:standard-create": "form: a price standard",
    "billing:price-list": "facility prices",
    "billing:price-create": "form: a facility price",
    "billing:account-list": "settlement accounts (masked)",
    "billing:account-create": "form: a settlement account",
    "billing:allocation-list": "allocation policies",
    "billing:allocation-create": "form: an allocation policy",
    "billing:regulator-totals": "totals per facility",
    "billing:payout-list": "JL-B6 payout reports: facilities, months, totals",
    "billing:payout-draft": "write: draft a payout report",
    "billing:payout-detail": "one payout report: staff names, request numbers, amounts",
    "billing:payout-confirm": "write: confirm a payout report",
    "billing:payout-export": "a payout report's export (staff names, request numbers, amounts); audited",
    "billing:my-payouts": "the user's own payout lines (request numbers, amounts)",
    "facilities:metrics": "redirect to the regulator's own dashboard",
    "facilities:metrics-division": "dashboard: aggregate figures per division, facility and service type, no patient",
    "facilities:metrics-facility": "a facility's scorecard: aggregate figures, no patient",
    "facilities:metrics-division-export": "one dashboard table as Excel, no patient (the export is audited: metrics.export)",
    "facilities:metrics-facility-export": "one scorecard table as Excel, no patient (the export is audited: metrics.export)",
    "facilities-api:metrics-division": "dashboard figures of a division over the API, no patient",
    "facilities-api:metrics-facility": "a facility's scorecard over the API, no patient",
    # JL-O3 (art. 45-47): the yearly evaluation — facilities' aggregate figures and grades, no patient
    "facilities:evaluation-list": "JL-O3 the years' evaluations (division, formula version, state), no patient",
    "facilities:evaluation-formulas": "JL-O3 the formula's versions (weights, thresholds), no patient",
    "facilities:evaluation-round": "JL-O3 one year's results: facilities' aggregate figures and grades, no patient",
    "facilities:evaluation-publish": WRITE,
    "facilities:evaluation-export": "JL-O3 the results as Excel or PDF: aggregate figures, no patient (audited: evaluation.export)",
    "facilities:evaluation-result": "JL-O3 one facility's year: aggregate figures, grade, adjustment; no patient",
    "facilities-api:evaluation-formula-list": "JL-O3 the formula's versions, no patient",
    "facilities-api:evaluation-round-list": "JL-O3 the years' evaluations, no patient",
    "facilities-api:evaluation-round-detail": "JL-O3 one year's results: aggregate figures and grades, no patient",
    "facilities-api:evaluation-round-publish": WRITE,
    "facilities-api:evaluation-result-list": "JL-O3 facilities' yearly results: aggregate figures and grades, no patient",
    "facilities-api:evaluation-result-detail": "JL-O3 one facility's year, no patient",
    "facilities-api:evaluation-result-adjust": WRITE,
    "billing-api:price-standard-list": "price standards",
    "billing-api:price-standard-detail": "one price standard",
    "billing-api:price-list": "facility prices",
    "billing-api:price-detail": "one facility price",
    "billing-api:charge-list": "charges: request numbers and amounts",
    "billing-api:charge-detail": "one charge",
    "billing-api:charge-payment": "write: record a patient's payment",
    "billing-api:charge-reverse": "write: reverse a charge",
    "billing-api:statement-list": "statements",
    "billing-api:statement-detail": "one statement",
    "billing-api:statement-confirm": "write: confirm a statement",
    "billing-api:statement-export": "a statement's export",
    "billing-api:statement-payment": "write: record a statement's payment",
    "billing-api:settlement-account-list": "settlement accounts (masked)",
    "billing-api:settlement-account-detail": "one settlement account",
    "billing-api:allocation-policy-list": "allocation policies",
    "billing-api:allocation-policy-detail": "one allocation policy",
    "billing-api:payout-report-list": "JL-B6 payout reports; POST drafts one",
    "billing-api:payout-report-detail": "one payout report with the lines the caller may see",
    "billing-api:payout-report-confirm": "write: confirm a payout report",
    "billing-api:payout-report-export": "a payout report's export; audited",
    "billing-api:my-payout-list": "the caller's own payout lines",
    # Webhooks (issue 14): subscriptions and deliveries; payloads carry ids, request numbers and
    # states, never a patient's name or numbers (JL-C9, tests/telemed/test_webhooks.py)
    "webhooks:list": "a facility's webhook subscriptions (target URLs, event types, states)",
    "webhooks:create": "form: a new subscription; its answer shows the secret once",
    "webhooks:disable": WRITE,
    "webhooks:deliveries": "one subscription's delivery log: event types, resource ids, receivers' answers",
    "webhooks:redeliver": WRITE,
    "webhooks-api:subscription-list": "a facility's webhook subscriptions (target URLs, event types); POST subscribes",
    "webhooks-api:subscription-detail": "one webhook subscription, without its secret",
    "webhooks-api:subscription-disable": WRITE,
    "webhooks-api:delivery-list": "webhook delivery log: states, receivers' answers, payload summaries without patient identity",
    "webhooks-api:delivery-detail": "one webhook delivery, as in the log",
    "webhooks-api:delivery-redeliver": WRITE,
    # Partner applications (issue 14): names, client ids, scopes and dates; never a patient
    "partner-clients:list": "a facility's (or division's) partner applications: names, client ids, scopes, last use",
    "partner-clients:create": "form: register a partner application; its answer shows the new secret once",
    "partner-clients:rotate": WRITE,
    "partner-clients:revoke": WRITE,
    "oauth-api:token": "OAuth2 token endpoint: a client id and secret in, an access token out (JL-A2)",
    "oauth-api:client-list": "partner applications (client ids, scopes, dates); POST registers one",
    "oauth-api:client-detail": "one partner application, without its secret",
    "oauth-api:client-rotate": WRITE,
    "oauth-api:client-revoke": WRITE,
    # Issue 12: a user's own notification settings (channels per kind, their own SMS number)
    "notifications:preferences": "the user's own notification settings and SMS number; changes are audited",
    "notifications-api:notification-preferences": "the caller's own notification settings, the number masked; changes are audited",
}

# Whole namespaces, reviewed as one.
NOT_PATIENT_DATA_NAMESPACES: dict[str, str] = {
    "admin": "the three administrators' Django admin (JL-A2 三员分立; read-only for records; clinical rows only for a break-glass account); its clinical change lists "
    "and change pages log record.list / record.view themselves (consultations.admin.PatientDataAdmin, tested below)",
}


ROUTES = list(walk())


def test_jl_c8_every_route_is_classified_as_patient_data_or_not():
    """A new route fails here until it is put on one of the two lists (with a reason)."""
    unclassified = sorted(
        {key for key, namespace, _pattern in ROUTES
         if key not in PATIENT_DATA and key not in NOT_PATIENT_DATA and namespace.split(":")[0] not in NOT_PATIENT_DATA_NAMESPACES}
    )
    assert unclassified == [], f"classify these routes in tests/audit/test_access_log.py: {unclassified}"


def test_jl_c8_the_lists_are_disjoint_current_and_reasoned():
    keys = {key for key, _namespace, _pattern in ROUTES}
    assert not set(PATIENT_DATA) & set(NOT_PATIENT_DATA)
    assert sorted(set(PATIENT_DATA) - keys) == [] and sorted(set(NOT_PATIENT_DATA) - keys) == [], "stale entries"
    assert all(reason.strip() for reason in [*PATIENT_DATA.values(), *NOT_PATIENT_DATA.values()])
    assert set(SCENARIOS) == set(PATIENT_DATA), "every PATIENT_DATA route needs its scenario below"


@pytest.mark.parametrize("key", sorted(k for k, reason in NOT_PATIENT_DATA.items() if reason == WRITE))
def test_jl_c8_a_write_only_route_returns_nothing_to_read(key, world):
    """A route listed as write-only answers GET with 405 and logs nothing."""
    pattern = next(p for k, _namespace, p in ROUTES if k == key)
    url = reverse(key, kwargs={name: 1 for name in pattern.pattern.regex.groupindex})
    client = APIClient()
    client.force_login(world.coordinator)
    before = _last_sequence()
    assert client.get(url).status_code == 405
    assert not AuditEvent.objects.filter(sequence__gt=before, event_type__startswith="record.").exists()


# --- The records every scenario reads ------------------------------------------------------------


@dataclass
class Records:
    """One of everything: a sent and accepted request with documents and a signed consent; a
    second patient with an admission, an open obligation and a missed one (a violation)."""

    world: object
    consultation: object
    document: object
    patient: object
    other: object
    admission: object
    obligation: object
    violation: object
    partner: object
    regulator: object

    @property
    def full_numbers(self) -> list[str]:
        return [n for p in (self.patient, self.other) for n in (p.id_number, p.phone) if n]


@pytest.fixture
def rec(world) -> Records:
    consultation = services.consultation_accept(actor=world.invited_coordinator, consultation=world.sent())
    other = world.patient(name="王桂芝", sex="2", id_number="220122197103091236", phone="13904310000",
                          medical_record_number="MZ-2024-77")
    now = timezone.now()
    admission = services.admission_record(actor=world.clinician, patient=other, inpatient_number="ZY-001",
                                          admitted_at=now - dt.timedelta(hours=1), ward="内科")
    missed = services.obligation_open(actor=world.clinician, patient=other, trigger=TriggerKind.PATIENT_REQUEST,
                                      event_at=now - dt.timedelta(hours=1))
    with time_machine.travel(missed.due_at + dt.timedelta(minutes=5), tick=False):
        assert services.obligation_sweep().violated == 1  # also notifies: "JL-C2 超时：患者 王桂芝 …"
    obligation = services.obligation_open(actor=world.clinician, patient=other, trigger=TriggerKind.PATIENT_REQUEST,
                                          event_at=timezone.now())
    return Records(
        world=world,
        consultation=consultation,
        document=consultation.documents.get(kind="test_report"),
        patient=consultation.patient,
        other=other,
        admission=admission,
        obligation=obligation,
        violation=Violation.objects.get(obligation=missed),
        partner=staff(world.inviting, StaffRole.PARTNER_SYSTEM, username="his_nongan"),
        regulator=regulator("220100", username="reg_changchun"),
    )


# --- What a request must log ---------------------------------------------------------------------


@dataclass
class Access:
    """One expected access event: its type, the object (or the listed type) and the patients."""

    event_type: str
    object_type: str
    object_id: int | None = None
    patient_ids: set = field(default_factory=set)
    listed: set = field(default_factory=set)  # for record.list: ids that must be among details.object_ids


@dataclass
class Case:
    viewer: object
    send: Callable[[], object]  # performs the request, returns the response
    expected: list[Access]
    channel: str = "web"
    status: int = 200
    full_numbers_shown: bool = False
    revealed_patient: object = None  # whose full numbers a reveal shows (default: the record's patient)


def _last_sequence() -> int:
    return AuditEvent.objects.aggregate(m=Max("sequence"))["m"] or 0


def _accesses(send):
    """Perform a request; return its response and the access events (record.*) it wrote."""
    before = _last_sequence()
    response = send()
    events = list(AuditEvent.objects.filter(sequence__gt=before, event_type__startswith="record.").order_by("sequence"))
    return response, events


def _body(response) -> str:
    if getattr(response, "streaming", False):
        # Consuming the test client's streaming content closes the response itself (with the
        # connection-closing signal held off); a second close() would end the test's connection.
        b"".join(response.streaming_content)
        return ""
    return response.content.decode()


def _patients_named(event) -> set:
    details = event.details or {}
    return {details.get("patient_id")} | set(details.get("patient_ids") or []) - {None}


def assert_logged(events, expected: list[Access], viewer, *, channel: str) -> None:
    """Exactly the expected events, each by ``viewer``, naming the patient and the object."""
    assert sorted((e.event_type, e.object_type) for e in events) == sorted(
        (a.event_type, a.object_type) for a in expected
    ), [(e.event_type, e.object_type) for e in events]
    for access in expected:
        event = next(e for e in events if (e.event_type, e.object_type) == (access.event_type, access.object_type))
        assert event.actor_id == viewer.pk and event.outcome == "success" and event.channel == channel
        assert access.patient_ids and access.patient_ids <= _patients_named(event), (event.details, access)
        if access.event_type == "record.list":
            assert access.listed <= set(event.details["object_ids"]), (event.details, access)
            assert event.details["count"] == len(event.details["object_ids"])
        else:
            assert event.object_id == str(access.object_id), (event.object_type, event.object_id, access)


def _page(user, url: str, method: str = "get", data=None):
    client = APIClient()
    client.force_login(user)
    return lambda: getattr(client, method)(url, data or {})


def _api(user, url: str, params=None):
    client = token_client(user)
    return lambda: client.get(url, params or {})


SCENARIOS: dict[str, Callable[[Records], Case]] = {}


def scenario(key: str):
    def register(build):
        SCENARIOS[key] = build
        return build
    return register


def view(obj, patient, object_type: str | None = None, event_type: str = "record.view") -> Access:
    return Access(event_type, object_type or obj._meta.label_lower, obj.pk, {patient.pk})


def listed(what: str, rows, *patients) -> Access:
    return Access("record.list", what, None, {p.pk for p in patients}, {r.pk for r in rows})


# Pages ---------------------------------------------------------------------------------------------


@scenario("home")
def _(r):
    return Case(r.world.clinician, _page(r.world.clinician, reverse("home")),
                [listed("consultations.obligation", [r.obligation], r.other)])


@scenario("consultations:list")
def _(r):
    url = reverse("consultations:list") + "?side=inviting&tab=all"
    return Case(r.world.clinician, _page(r.world.clinician, url),
                [listed("consultations.consultation", [r.consultation], r.patient)])


@scenario("consultations:create")
def _(r):
    url = reverse("consultations:create") + "?q=王桂芝"
    return Case(r.world.clinician, _page(r.world.clinician, url), [listed("consultations.patient", [r.other], r.other)])


@scenario("consultations:create-request")
def _(r):
    url = reverse("consultations:create-request", args=[r.other.pk])
    return Case(r.world.clinician, _page(r.world.clinician, url), [view(r.other, r.other)])


@scenario("consultations:detail")
def _(r):
    user = r.world.invited_coordinator
    return Case(user, _page(user, reverse("consultations:detail", args=[r.consultation.pk])),
                [view(r.consultation, r.patient)])


@scenario("consultations:document-download")
def _(r):
    user = r.world.invited_coordinator
    url = reverse("consultations:document-download", args=[r.consultation.pk, r.document.pk])
    return Case(user, _page(user, url), [Access("record.download", "consultations.document", r.document.pk, {r.patient.pk})])


@scenario("consultations:consent-download")
def _(r):
    user = r.world.invited_coordinator
    consent = r.consultation.consent
    return Case(user, _page(user, reverse("consultations:consent-download", args=[r.consultation.pk])),
                [Access("record.download", "consultations.consent", consent.pk, {r.patient.pk})])


@scenario("consultations:patient-reveal")
def _(r):
    user = r.world.clinician
    return Case(user, _page(user, reverse("consultations:patient-reveal", args=[r.consultation.pk]), "post"),
                [view(r.consultation, r.patient, event_type="record.reveal")], full_numbers_shown=True)


@scenario("consultations:opinion-print")
def _(r):
    consultation = signed(r.world)
    opinion = consultation.opinions.get()
    user = r.world.coordinator
    return Case(user, _page(user, reverse("consultations:opinion-print", args=[consultation.pk, opinion.pk])),
                [view(opinion, consultation.patient)])


@scenario("consultations:obligation-list")
def _(r):
    user = r.world.coordinator
    return Case(user, _page(user, reverse("consultations:obligation-list")), [
        listed("consultations.obligation", [r.obligation], r.other),
        listed("consultations.admission", [r.admission], r.other),
    ])


@scenario("consultations:assigned")
def _(r):
    services.expert_assign(actor=r.world.invited_coordinator, consultation=r.consultation, physician=r.world.expert_physician)
    user = r.world.expert
    return Case(user, _page(user, reverse("consultations:assigned")),
                [listed("consultations.consultation", [r.consultation], r.patient)])


@scenario("consultations:search")
def _(r):
    user = r.world.clinician
    return Case(user, _page(user, reverse("consultations:search") + "?q=张三"), [
        listed("consultations.patient", [r.patient], r.patient),
        listed("consultations.consultation", [r.consultation], r.patient),
    ])


@scenario("consultations:violation-list")
def _(r):
    return Case(r.regulator, _page(r.regulator, reverse("consultations:violation-list")),
                [listed("consultations.violation", [r.violation], r.other)])


@scenario("consultations:notification-list")
def _(r):
    user = r.world.coordinator  # the violation notice went to the inviting coordinators
    notice = user.notifications.get(message_key="obligation.violated", params__name="王桂芝")
    return Case(user, _page(user, reverse("consultations:notification-list")),
                [listed("consultations.notification", [notice], r.other)])


@scenario("audit:responsibility-list")
def _(r):
    user = r.world.invited_coordinator
    return Case(user, _page(user, reverse("audit:responsibility-list")),
                [listed("consultations.responsibilityrecord", [r.consultation], r.patient)])


@scenario("audit:responsibility-detail")
def _(r):
    user = r.world.invited_coordinator
    return Case(user, _page(user, reverse("audit:responsibility-detail", args=[r.consultation.pk])),
                [view(r.consultation, r.patient)])


@scenario("audit:seal-detail")
def _(r):
    seal = audit_records.seal_create(actor=r.world.coordinator, consultation=r.consultation, reason="医疗争议", **PARTIES)
    user = r.world.invited_coordinator
    return Case(user, _page(user, reverse("audit:seal-detail", args=[seal.pk])), [view(seal, r.patient, "audit.seal")])


# Partner API ---------------------------------------------------------------------------------------

API = "/api/v1"


@scenario("consultations-api:patient-list")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/patients/"),
                [listed("consultations.patient", [r.patient, r.other], r.patient, r.other)], channel="api")


@scenario("consultations-api:patient-detail")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/patients/{r.other.pk}/"), [view(r.other, r.other)], channel="api")


@scenario("consultations-api:admission-list")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/admissions/"),
                [listed("consultations.admission", [r.admission], r.other)], channel="api")


@scenario("consultations-api:admission-detail")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/admissions/{r.admission.pk}/"), [view(r.admission, r.other)],
                channel="api")


@scenario("consultations-api:obligation-list")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/obligations/"),
                [listed("consultations.obligation", [r.obligation], r.other)], channel="api")


@scenario("consultations-api:violation-list")
def _(r):
    return Case(r.regulator, _api(r.regulator, f"{API}/violations/"),
                [listed("consultations.violation", [r.violation], r.other)], channel="api")


@scenario("consultations-api:violation-detail")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/violations/{r.violation.pk}/"), [view(r.violation, r.other)],
                channel="api")


@scenario("consultations-api:obligation-detail")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/obligations/{r.obligation.pk}/"), [view(r.obligation, r.other)],
                channel="api")


@scenario("consultations-api:consultation-list")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/consultations/"),
                [listed("consultations.consultation", [r.consultation], r.patient)], channel="api")


@scenario("consultations-api:consultation-detail")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/consultations/{r.consultation.pk}/"),
                [view(r.consultation, r.patient)], channel="api")


@scenario("consultations:referral-list")
def _(r):
    referral = offer(r.world, signed(r.world))
    user = r.regulator
    return Case(user, _page(user, reverse("consultations:referral-list")),
                [listed("consultations.referral", [referral], referral.consultation.patient)])


@scenario("consultations-api:referral-list")
def _(r):
    referral = offer(r.world, signed(r.world))
    return Case(r.partner, _api(r.partner, f"{API}/referrals/"),
                [listed("consultations.referral", [referral], referral.consultation.patient)], channel="api")


@scenario("consultations-api:referral-detail")
def _(r):
    referral = offer(r.world, signed(r.world))
    return Case(r.partner, _api(r.partner, f"{API}/referrals/{referral.pk}/"),
                [view(referral, referral.consultation.patient)], channel="api")


# The FHIR R4 facade (issue 14) ----------------------------------------------------------------------

FHIR = "/api/v1/fhir"


@scenario("fhir-api:servicerequest-search")
def _(r):
    return Case(r.partner, _api(r.partner, f"{FHIR}/ServiceRequest"),
                [listed("consultations.consultation", [r.consultation], r.patient)], channel="api")


@scenario("fhir-api:servicerequest-read")
def _(r):
    return Case(r.partner, _api(r.partner, f"{FHIR}/ServiceRequest/{r.consultation.pk}"),
                [view(r.consultation, r.patient)], channel="api")


@scenario("fhir-api:task-search")
def _(r):
    return Case(r.partner, _api(r.partner, f"{FHIR}/Task", {"focus": r.consultation.pk}),
                [listed("consultations.consultation", [r.consultation], r.patient)], channel="api")


@scenario("fhir-api:task-read")
def _(r):
    return Case(r.partner, _api(r.partner, f"{FHIR}/Task/{r.consultation.pk}"), [view(r.consultation, r.patient)], channel="api")


@scenario("fhir-api:diagnosticreport-search")
def _(r):
    case = signed(r.world)
    return Case(r.partner, _api(r.partner, f"{FHIR}/DiagnosticReport"),
                [listed("consultations.opinion", [case.opinions.get()], case.patient)], channel="api")


@scenario("fhir-api:diagnosticreport-read")
def _(r):
    case = signed(r.world)
    return Case(r.partner, _api(r.partner, f"{FHIR}/DiagnosticReport/{case.pk}"), [view(case.opinions.get(), case.patient)],
                channel="api")


@scenario("fhir-api:diagnosticreport-vread")
def _(r):
    case = signed(r.world)
    return Case(r.partner, _api(r.partner, f"{FHIR}/DiagnosticReport/{case.pk}/_history/1"),
                [view(case.opinions.get(), case.patient)], channel="api")


@scenario("fhir-api:documentreference-search")
def _(r):
    return Case(r.partner, _api(r.partner, f"{FHIR}/DocumentReference", {"related": r.consultation.pk}),
                [listed("consultations.document", list(r.consultation.documents.all()), r.patient)], channel="api")


@scenario("fhir-api:documentreference-read")
def _(r):
    return Case(r.partner, _api(r.partner, f"{FHIR}/DocumentReference/{r.document.pk}"), [view(r.document, r.patient)], channel="api")


@scenario("fhir-api:consent-search")
def _(r):
    return Case(r.partner, _api(r.partner, f"{FHIR}/Consent"),
                [listed("consultations.consent", [r.consultation.consent], r.patient)], channel="api")


@scenario("fhir-api:consent-read")
def _(r):
    consent = r.consultation.consent
    return Case(r.partner, _api(r.partner, f"{FHIR}/Consent/{consent.pk}"), [view(consent, r.patient)], channel="api")


@scenario("fhir-api:consent-vread")
def _(r):
    consent = r.consultation.consent
    return Case(r.partner, _api(r.partner, f"{FHIR}/Consent/{consent.pk}/_history/{consent.version}"), [view(consent, r.patient)],
                channel="api")


@scenario("fhir-api:patient-search")
def _(r):
    return Case(r.partner, _api(r.partner, f"{FHIR}/Patient"),
                [listed("consultations.patient", [r.patient, r.other], r.patient, r.other)], channel="api")


@scenario("fhir-api:patient-read")
def _(r):
    # The partner system of the patient's own hospital reads the full numbers (JL-C9, issue 14): a reveal.
    return Case(r.partner, _api(r.partner, f"{FHIR}/Patient/{r.other.pk}"),
                [view(r.other, r.other, event_type="record.reveal")], channel="api", full_numbers_shown=True,
                revealed_patient=r.other)


@scenario("consultations-api:consultation-download")
def _(r):
    url = f"{API}/consultations/{r.consultation.pk}/documents/{r.document.pk}/download/"
    return Case(r.partner, _api(r.partner, url),
                [Access("record.download", "consultations.document", r.document.pk, {r.patient.pk})], channel="api")


@scenario("audit-api:responsibility-list")
def _(r):
    return Case(r.partner, _api(r.partner, f"{API}/responsibility/"),
                [listed("consultations.responsibilityrecord", [r.consultation], r.patient)], channel="api")


@scenario("audit-api:seal-detail")
def _(r):
    seal = audit_records.seal_create(actor=r.world.coordinator, consultation=r.consultation, reason="医疗争议", **PARTIES)
    return Case(r.partner, _api(r.partner, f"{API}/seals/{seal.pk}/"), [view(seal, r.patient, "audit.seal")], channel="api")


@pytest.mark.parametrize("key", sorted(PATIENT_DATA))
def test_jl_c8_every_patient_data_route_logs_exactly_its_access(key, rec):
    case = SCENARIOS[key](rec)
    response, events = _accesses(case.send)
    assert response.status_code == case.status, (key, response.status_code)
    body = _body(response)
    assert_logged(events, case.expected, case.viewer, channel=case.channel)
    # JL-C9: no full identity or phone number anywhere, unless this is the reveal itself.
    shown = [number for number in rec.full_numbers if number in body]
    if case.full_numbers_shown:
        patient = case.revealed_patient or rec.patient
        assert patient.id_number in body and patient.phone in body
        assert set(shown) <= {patient.id_number, patient.phone}, (key, shown)
    else:
        assert shown == [], (key, shown)


# --- The start page for a regulator ---------------------------------------------------------------


def test_jl_c8_the_start_page_of_a_regulator_logs_the_violations_it_lists(rec):
    response, events = _accesses(_page(rec.regulator, reverse("home")))
    assert response.status_code == 200 and "王桂芝" in _body(response)
    assert_logged(events, [listed("consultations.violation", [rec.violation], rec.other)], rec.regulator, channel="web")
    assert events[0].acting_division_code == "220100"


def test_jl_c8_an_empty_list_is_no_access_but_a_search_always_is(rec):
    stranger = staff(rec.world.invited, StaffRole.CLINICIAN, username="invited_clinician")
    response, events = _accesses(_page(stranger, reverse("consultations:violation-list")))
    assert response.status_code == 200 and events == []
    response, events = _accesses(_page(rec.world.clinician, reverse("consultations:create") + "?q=无此人"))
    assert response.status_code == 200 and [e.event_type for e in events] == ["record.list"]
    assert events[0].details["count"] == 0 and events[0].details["filters"]["q"] == "无此人"


# --- JL-C8: sealed records ----------------------------------------------------------------------


@pytest.fixture
def sealed(rec):
    audit_records.seal_create(actor=rec.world.coordinator, consultation=rec.consultation, reason="患方对意见有异议", **PARTIES)
    return rec


def _state_purpose(client, consultation, purpose: str, next_url: str):
    response = client.post(reverse("audit:sealed-access", args=[consultation.pk]), {"purpose": purpose, "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url


def test_jl_c8_a_sealed_case_asks_the_purpose_first_and_logs_it_with_every_access(sealed):
    rec = sealed
    user = rec.world.invited_coordinator
    client = APIClient()
    client.force_login(user)
    case_url = reverse("consultations:detail", args=[rec.consultation.pk])
    downloads = [
        reverse("consultations:document-download", args=[rec.consultation.pk, rec.document.pk]),
        reverse("consultations:consent-download", args=[rec.consultation.pk]),
    ]
    # Nothing is shown or served before the purpose: a redirect to audit:sealed-access with next.
    for url in [case_url, *downloads]:
        response, events = _accesses(lambda url=url: client.get(url))
        assert response.status_code == 302 and events == []
        target = reverse("audit:sealed-access", args=[rec.consultation.pk])
        assert response["Location"].startswith(target) and "next=" in response["Location"]
    _state_purpose(client, rec.consultation, "医疗纠纷调解准备", case_url)

    response, events = _accesses(lambda: client.get(case_url))
    page = _body(response)
    assert response.status_code == 200 and "已封存 · 只读" in page and "病历管理" in page
    assert response.context["offered"] == [] and 'class="form action-form"' not in page
    assert [e.event_type for e in events] == ["record.view"]
    assert events[0].details["purpose"] == "医疗纠纷调解准备" and events[0].details["sealed"] is True
    for url in downloads:
        response, events = _accesses(lambda url=url: client.get(url))
        assert response.status_code == 200 and [e.event_type for e in events] == ["record.download"]
        assert events[0].details["purpose"] == "医疗纠纷调解准备" and events[0].details["sealed"] is True
        _body(response)


def test_jl_c8_a_purpose_stated_for_an_earlier_seal_does_not_open_a_new_one(sealed):
    rec = sealed
    client = APIClient()
    client.force_login(rec.world.invited_coordinator)
    case_url = reverse("consultations:detail", args=[rec.consultation.pk])
    _state_purpose(client, rec.consultation, "第一次争议", case_url)
    assert client.get(case_url).status_code == 200
    audit_records.seal_release(actor=rec.world.coordinator, seal=audit_records.open_seal(rec.consultation.pk),
                               reason="调解完毕", **PARTIES)
    audit_records.seal_create(actor=rec.world.coordinator, consultation=rec.consultation, reason="第二次争议", **PARTIES)
    response = client.get(case_url)  # this session remembers the case, but not a purpose for this seal
    assert response.status_code == 302 and reverse("audit:sealed-access", args=[rec.consultation.pk]) in response["Location"]


def test_jl_c8_api_reads_of_a_sealed_consultation_need_a_purpose_which_is_logged(sealed):
    rec = sealed
    client = token_client(rec.partner)
    detail = f"{API}/consultations/{rec.consultation.pk}/"
    download = f"{detail}documents/{rec.document.pk}/download/"
    for url in (detail, download):
        response, events = _accesses(lambda url=url: client.get(url))
        body = assert_error(response, 400, "JL-C8")
        assert "封存" in body["message"] and "purpose" in body["message"]
        # JL-A1: the refused read is on record, as a failure (no access was granted)
        assert [(e.event_type, e.outcome) for e in events] == [("record.access.refuse", "failure")]
    response, events = _accesses(lambda: client.get(detail, {"purpose": "省卫健委调查"}))
    assert response.status_code == 200 and [e.event_type for e in events] == ["record.view"]
    assert events[0].details["purpose"] == "省卫健委调查" and events[0].details["sealed"] is True
    response, events = _accesses(lambda: client.get(download, {"purpose": "省卫健委调查"}))
    assert response.status_code == 200 and [e.event_type for e in events] == ["record.download"]
    assert events[0].details["purpose"] == "省卫健委调查"
    _body(response)


# --- JL-C9: reveal, masking, search by the full number ------------------------------------------------


def test_jl_c9_the_patients_own_hospital_reveals_the_full_numbers_once_and_it_is_logged(rec):
    client = APIClient()
    client.force_login(rec.world.clinician)
    case_url = reverse("consultations:detail", args=[rec.consultation.pk])
    page = _body(client.get(case_url))
    assert "显示完整号码" in page and rec.patient.id_number not in page and "220***********1234" in page
    response, events = _accesses(lambda: client.post(reverse("consultations:patient-reveal", args=[rec.consultation.pk])))
    page = _body(response)
    assert response.status_code == 200 and rec.patient.id_number in page and rec.patient.phone in page
    assert "no-store" in response["Cache-Control"]
    assert [e.event_type for e in events] == ["record.reveal"]
    assert events[0].details["fields"] == ["id_number", "phone"] and events[0].acting_facility_id == rec.world.inviting.pk
    # Not remembered: the next view is masked again.
    assert rec.patient.id_number not in _body(client.get(case_url))
    assert rec.patient.id_number not in str(dict(client.session))


def test_jl_c9_nobody_else_is_offered_or_given_the_full_numbers(rec):
    reveal_url = reverse("consultations:patient-reveal", args=[rec.consultation.pk])
    for user in (rec.world.invited_coordinator, rec.world.expert, rec.regulator, rec.partner):
        client = APIClient()
        client.force_login(user)
        page = _body(client.get(reverse("consultations:detail", args=[rec.consultation.pk])))
        assert "显示完整号码" not in page and rec.patient.id_number not in page
        response, events = _accesses(lambda client=client: client.post(reveal_url))
        assert response.status_code == 403 and events == []


def test_jl_c9_api_reveal_for_the_same_roles_only(rec):
    url = f"{API}/patients/{rec.other.pk}/"
    response, events = _accesses(_api(rec.world.coordinator, url, {"reveal": "1", "purpose": "电话随访"}))
    assert response.status_code == 200 and response.json()["id_number"] == rec.other.id_number
    assert response.json()["phone"] == rec.other.phone and "no-store" in response["Cache-Control"]
    assert [e.event_type for e in events] == ["record.reveal"] and events[0].details["purpose"] == "电话随访"
    assert events[0].details["patient_id"] == rec.other.pk and events[0].object_id == str(rec.other.pk)
    # The hospital's partner system reads the patient masked, and is refused the full numbers.
    response, events = _accesses(_api(rec.partner, url, {"reveal": "1"}))
    body = assert_error(response, 403, "permission_denied")
    assert "JL-C9" in body["message"] and events == []
    assert _api(rec.partner, url)().json()["id_number"] == "220***********1236"
    # The invited side does not see the inviting hospital's patient index at all.
    assert_error(_api(rec.world.invited_coordinator, url, {"reveal": "1"})(), 404, "not_found")


def _beyond_the_search_box(page: str, number: str) -> bool:
    """Whether ``number`` appears on the page other than where the user typed it (the search
    box and the page's own address, e.g. in the language switch)."""
    return number in page.replace(f'value="{number}"', "").replace(f"q={number}", "")


def test_jl_c9_search_by_the_full_identity_number_finds_the_patient_and_the_log_keeps_it_masked(rec):
    number = rec.other.id_number
    response, events = _accesses(_page(rec.world.clinician, reverse("consultations:create") + f"?q={number}"))
    page = _body(response)
    assert "王桂芝" in page and "220***********1236" in page and not _beyond_the_search_box(page, number)
    assert events[0].details["patient_ids"] == [rec.other.pk] and events[0].details["filters"]["q"] == "220***********1236"
    response, events = _accesses(_page(rec.world.coordinator, reverse("consultations:obligation-list") + f"?q={number}"))
    page = _body(response)
    assert "王桂芝" in page and not _beyond_the_search_box(page, number)
    search = next(e for e in events if e.object_type == "consultations.patient")
    assert search.details["object_ids"] == [rec.other.pk] and search.details["filters"]["q"] == "220***********1236"
    response, events = _accesses(_api(rec.partner, f"{API}/patients/", {"search": number}))
    assert [p["id"] for p in response.json()["results"]] == [rec.other.pk]
    assert number not in response.content.decode() and events[0].details["filters"]["search"] == "220***********1236"
    assert all(number not in str(e.details) for e in AuditEvent.objects.filter(event_type__startswith="record."))



@pytest.mark.django_db
def test_jl_c8_a_break_glass_account_reading_clinical_rows_in_the_admin_is_logged(client, world):
    """None of the three administrators (JL-A2) may read clinical rows in the admin; a break-glass
    superuser (Django's own, created at the console) can, and is logged like everyone else."""
    from django.urls import reverse

    from audit.models import AuditEvent

    consultation = world.sent()
    operator = UserFactory(username="break_glass", is_superuser=True, is_staff=True)
    client.force_login(operator)
    assert client.get(reverse("admin:consultations_consultation_changelist")).status_code == 200
    assert client.get(reverse("admin:consultations_consultation_change", args=[consultation.pk])).status_code == 200
    events = list(
        AuditEvent.objects.filter(actor=operator, event_type__startswith="record.").order_by("sequence").values_list("event_type", "object_id")
    )
    assert events == [("record.list", ""), ("record.view", str(consultation.pk))]
