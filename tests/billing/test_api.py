"""The billing partner API (/api/v1/): scoping with partner tokens, roles, rule refusals with their
rule ID as ``code``, money in integer fen, exports, audit events and query counts."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from audit.models import AuditEvent
from billing import services
from billing.choices import StatementState
from billing.models import AllocationPolicy, Charge, Statement
from facilities.choices import StaffRole
from tests.api_cases import (
    Access,
    Call,
    EndpointAccessCases,
    assert_error,
    assert_list_queries_constant,
    partner,
    rows,
    token_client,
)
from tests.billing import (
    IMAGING_FEN,
    complete,
    complete_from_another_county,
    draft_month,
    priced,
    statement_with_lines,
    this_month,
)
from tests.factories import FacilityFactory, UserFactory, regulator, staff

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-12-10T10:00:00+08:00")]  # the dates typed below are in its past
API = "/api/v1"


@pytest.fixture
def billing(world):
    return priced(world)


def other_pairs_statement(billing) -> Statement:
    charge = complete_from_another_county(billing.world, name="德惠市人民医院")
    draft_month()
    return Statement.objects.get(inviting=charge.inviting, period_start=this_month())


# --- Scoping: a partner token sees its own facility's money only (STYLE 3) ---------------------


def test_scope_partner_token_sees_its_own_statements_and_charges_and_gets_404_for_another_pair(billing):
    ours = statement_with_lines(billing, charges=2, paid=1, reversed_=0)
    theirs = other_pairs_statement(billing)
    their_charge = theirs.charges.get()
    client = partner(billing.inviting)

    assert [s["id"] for s in rows(client.get(f"{API}/statements/"))] == [ours.pk]
    assert {c["id"] for c in rows(client.get(f"{API}/charges/"))} == set(ours.charges.values_list("pk", flat=True))
    for path in (
        f"statements/{theirs.pk}/", f"statements/{theirs.pk}/export/?format=csv", f"charges/{their_charge.pk}/",
    ):
        assert_error(client.get(f"{API}/{path}"), 404, "not_found")
    for path in (f"statements/{theirs.pk}/confirm/", f"charges/{their_charge.pk}/reverse/"):
        assert_error(token_client(billing.inviting_finance).post(f"{API}/{path}", {"reason": "x"}, format="json"), 404, "not_found")

    body = client.get(f"{API}/statements/{ours.pk}/").json()
    assert body["payee_account"]["account_number_masked"] == "************5678"
    assert "2201" not in str(body["payee_account"])
    assert [line["fee_fen"] for line in body["charges"]] == [IMAGING_FEN, IMAGING_FEN]
    assert body["fee_total_fen"] == 2 * IMAGING_FEN and body["invited_share_total_fen"] == 2 * 12001
    assert body["reconciliation"]["passed"] is True and body["reconciliation"]["rule"] == "JL-B4"

    # Both pairs belong to the invited hospital; the clinicians of a party see no money at all.
    assert {s["id"] for s in rows(partner(billing.invited).get(f"{API}/statements/"))} == {ours.pk, theirs.pk}
    assert rows(token_client(billing.world.clinician).get(f"{API}/statements/")) == []
    assert_error(token_client(billing.world.clinician).get(f"{API}/statements/{ours.pk}/"), 404, "not_found")


def test_jl_o1_regulators_read_statements_of_their_division_only(billing):
    ours = statement_with_lines(billing, charges=1, paid=0, reversed_=0)
    assert rows(token_client(regulator("220200")).get(f"{API}/statements/")) == []
    assert [s["id"] for s in rows(token_client(regulator("220100")).get(f"{API}/statements/"))] == [ours.pk]


def test_anonymous_gets_401_and_price_standards_are_public_to_any_token(billing):
    assert_error(token_client().get(f"{API}/price-standards/"), 401, "not_authenticated")
    assert_error(token_client().get(f"{API}/statements/"), 401, "not_authenticated")
    standards = rows(token_client(billing.world.clinician).get(f"{API}/price-standards/"))
    imaging = next(s for s in standards if s["service_type"] == "imaging")
    assert imaging["max_price_fen"] == 20000 and imaging["facility_level"] is None


# --- JL-B4: confirm by both sides, then the payee records payment -------------------------------


def test_jl_b4_statement_confirmed_by_both_finance_systems_then_paid(billing):
    statement = statement_with_lines(billing, charges=2, paid=2, reversed_=0)
    confirm, pay = f"{API}/statements/{statement.pk}/confirm/", f"{API}/statements/{statement.pk}/payment/"
    inviting, invited = token_client(billing.inviting_finance), token_client(billing.invited_finance)

    assert_error(partner(billing.inviting).post(confirm), 403, "permission_denied")  # a read-only partner token
    response = inviting.post(confirm)
    assert response.status_code == 200 and response.json()["state"] == StatementState.DRAFT
    assert response.json()["inviting_confirmed_at"] and response.json()["invited_confirmed_at"] is None
    assert_error(invited.post(pay, {"bank_reference": "X", "paid_at": timezone.now().isoformat()}, format="json"), 400, "invalid_state")
    assert invited.post(confirm).json()["state"] == StatementState.CONFIRMED
    assert_error(inviting.post(confirm), 400, "invalid_state")

    assert_error(inviting.post(pay, {"bank_reference": "X", "paid_at": "2026-12-05T10:00:00+08:00"}, format="json"), 403, "permission_denied")
    assert_error(invited.post(pay, {"bank_reference": "BOC1"}, format="json"), 400, "invalid")
    refused = assert_error(invited.post(pay, {"bank_reference": " ", "paid_at": "2026-12-05T10:00:00+08:00"}, format="json"), 400, "JL-B4")
    assert "银行流水号" in refused["message"]
    response = invited.post(pay, {"bank_reference": "BOC20261205001", "paid_at": "2026-12-05T10:00:00+08:00"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == StatementState.PAID and body["bank_reference"] == "BOC20261205001"
    events = AuditEvent.objects.filter(event_type__in=["billing.statement.confirm", "billing.statement.paid"]).order_by("sequence")
    assert [(e.event_type, e.actor_id, e.channel) for e in events] == [
        ("billing.statement.confirm", billing.inviting_finance.pk, "api"),
        ("billing.statement.confirm", billing.invited_finance.pk, "api"),
        ("billing.statement.paid", billing.invited_finance.pk, "api"),
    ]


def _inviting_side_confirmed(response) -> None:
    body = response.json()
    assert body["inviting_confirmed_at"] and body["invited_confirmed_at"] is None and body["state"] == "draft"


class _BillingCases(EndpointAccessCases):
    @pytest.fixture(autouse=True)
    def _billing(self, world):
        self.billing = priced(world)

    def stranger(self, role=StaffRole.FINANCE):
        """The right role at a facility that is no party to the object."""
        return staff(FacilityFactory(), role)


class TestStatementConfirmAccess(_BillingCases):
    """POST statements/{id}/confirm/ (JL-B4): only a party's finance officer confirms."""

    event_type = "billing.statement.confirm"

    def arrange(self) -> Access:
        statement = statement_with_lines(self.billing, charges=1, paid=0, reversed_=0)
        return Access(
            call=Call("POST", f"{API}/statements/{statement.pk}/confirm/"),
            right=self.billing.inviting_finance,
            wrong_facility=self.stranger(),
            wrong_role=staff(self.billing.inviting, StaffRole.FACILITY_ADMIN),  # sees it, may not confirm
            check=_inviting_side_confirmed,
        )


class TestChargePaymentAccess(_BillingCases):
    """POST charges/{id}/payment/ (JL-B2): the inviting side records what the patient paid."""

    event_type = "billing.charge.payment"

    def arrange(self) -> Access:
        charge = complete(self.billing.world)
        data = {"fiscal_receipt_number": "吉财医 00000009", "insurance_fen": 0, "self_pay_fen": IMAGING_FEN,
                "paid_at": "2026-11-20T09:30:00+08:00"}
        return Access(
            call=Call("POST", f"{API}/charges/{charge.pk}/payment/", data),
            right=self.billing.inviting_finance,
            wrong_facility=self.stranger(),
            wrong_role=self.billing.invited_finance,  # the payee sees the charge but does not take the patient's money
        )


class TestSettlementAccountRegisterAccess(_BillingCases):
    """POST settlement-accounts/ (JL-B4): a facility the caller cannot see is an invalid reference."""

    event_type = "billing.account.register"
    success_status = 201
    wrong_facility_status = 404
    wrong_facility_code = "not_found"

    def arrange(self) -> Access:
        data = {"facility": self.billing.invited.pk, "account_name": self.billing.invited.name, "bank_name": "中国银行",
                "account_number": "2201000012345678"}
        return Access(
            call=Call("POST", f"{API}/settlement-accounts/", data),
            right=self.billing.invited_finance,
            wrong_facility=self.stranger(),
            wrong_role=self.billing.world.expert,  # a clinician of the facility
        )


# --- JL-B4: accounts --------------------------------------------------------------------------


def test_jl_b4_personal_account_is_refused_with_code_jl_b4_and_a_failure_audit_event(billing):
    client = token_client(billing.invited_finance)
    before = AuditEvent.objects.filter(event_type="billing.account.register", outcome="failure").count()
    data = {"facility": billing.invited.pk, "account_name": billing.invited.name, "bank_name": "中国银行",
            "account_number": "6217000011112222", "kind": "personal"}
    body = assert_error(client.post(f"{API}/settlement-accounts/", data, format="json"), 400, "JL-B4")
    assert {r["rule"] for r in body["extra"]["reasons"]} == {"JL-B4"}
    assert any("个人账户" in r["text"] for r in body["extra"]["reasons"])
    failures = AuditEvent.objects.filter(event_type="billing.account.register", outcome="failure")
    assert failures.count() == before + 1
    event = failures.order_by("-sequence").first()
    assert event.actor_id == billing.invited_finance.pk and event.channel == "api" and event.details["rule"] == "JL-B4"

    body = assert_error(client.post(f"{API}/settlement-accounts/", {**data, "kind": "corporate",
                                    "account_name": billing.world.expert_physician.name}, format="json"), 400, "JL-B4")
    assert "会诊医师本人" in body["message"]

    response = client.post(f"{API}/settlement-accounts/", {**data, "kind": "corporate"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["account_number_masked"] == "************2222" and "account_number" not in response.json()
    assert_error(token_client(billing.inviting_finance).post(f"{API}/settlement-accounts/", data, format="json"), 403, "permission_denied")


# --- JL-B1, JL-B2, JL-B5 -----------------------------------------------------------------------


def test_jl_b1_price_above_the_standard_is_refused_with_code_jl_b1(billing):
    client = token_client(billing.invited_finance)
    data = {"facility": billing.invited.pk, "service_type": "imaging", "price_fen": 20001, "valid_from": "2026-12-01"}
    body = assert_error(client.post(f"{API}/prices/", data, format="json"), 400, "JL-B1")
    assert "¥200.00" in body["message"]
    assert_error(client.post(f"{API}/prices/", {**data, "price_fen": 150.5}, format="json"), 400, "invalid")
    response = client.post(f"{API}/prices/", {**data, "price_fen": 20000}, format="json")
    assert response.status_code == 201 and response.json()["price_fen"] == 20000
    assert response.json()["standard_max_price_fen"] == 20000
    assert_error(token_client(billing.world.clinician).post(f"{API}/prices/", data, format="json"), 403, "permission_denied")


def test_jl_b2_patient_payment_in_fen_must_add_up_and_a_refund_is_a_reversal(billing):
    charge = complete(billing.world)
    client = token_client(billing.inviting_finance)
    payment = f"{API}/charges/{charge.pk}/payment/"
    data = {"fiscal_receipt_number": "吉财医 00000001", "insurance_fen": 10000, "self_pay_fen": 5000,
            "paid_at": "2026-11-20T09:30:00+08:00"}
    body = assert_error(client.post(payment, data, format="json"), 400, "JL-B2")
    assert "第五条" in body["message"]
    assert_error(client.post(payment, {**data, "self_pay_fen": "50.01"}, format="json"), 400, "invalid")
    assert_error(token_client(billing.invited_finance).post(payment, {**data, "self_pay_fen": 5001}, format="json"), 403, "permission_denied")
    response = client.post(payment, {**data, "self_pay_fen": 5001}, format="json")
    assert response.status_code == 200
    assert (response.json()["insurance_fen"], response.json()["self_pay_fen"], response.json()["status"]) == (10000, 5001, "unsettled")

    response = client.post(f"{API}/charges/{charge.pk}/reverse/", {"reason": "患者投诉后退费"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "reversed" and response.json()["reversal"]["reason"] == "患者投诉后退费"
    assert response.json()["fee_fen"] == IMAGING_FEN  # never edited
    assert_error(client.post(f"{API}/charges/{charge.pk}/reverse/", {"reason": "again"}, format="json"), 400, "duplicate")


def test_jl_b5_allocation_policy_below_60_percent_is_refused_with_code_jl_b5(billing):
    client = token_client(billing.invited_finance)
    data = {"facility": billing.invited.pk, "staff_share_basis_points": 5999, "valid_from": "2026-12-01", "description": "按工作量"}
    assert_error(client.post(f"{API}/allocation-policies/", data, format="json"), 400, "JL-B5")
    response = client.post(f"{API}/allocation-policies/", {**data, "staff_share_basis_points": 6000}, format="json")
    assert response.status_code == 201 and response.json()["staff_share_basis_points"] == 6000
    assert AllocationPolicy.objects.get().staff_share_basis_points == 6000


# --- Filters and exports ------------------------------------------------------------------------


def test_charges_filter_like_the_page(billing):
    paid, unpaid, refunded = (complete(billing.world) for _ in range(3))
    services.charge_record_payment(actor=billing.inviting_finance, charge=paid, fiscal_receipt_number="R1",
                                   insurance_fen=0, self_pay_fen=IMAGING_FEN, paid_at=timezone.now())
    services.charge_reverse(actor=billing.inviting_finance, charge=refunded, reason="退费")
    client = partner(billing.inviting)

    def ids(**query):
        return {c["id"] for c in rows(client.get(f"{API}/charges/", query))}

    assert ids(status="reversed") == {refunded.pk}
    assert ids(paid="true") == {paid.pk}
    assert ids(paid="false", status="unsettled") == {unpaid.pk}
    assert ids(period=f"{this_month():%Y-%m}", service_type="imaging") == {paid.pk, unpaid.pk, refunded.pk}
    assert ids(period="2001-01") == set()
    assert ids(counterpart=billing.invited.pk) == {paid.pk, unpaid.pk, refunded.pk}
    assert_error(client.get(f"{API}/charges/", {"period": "2026-13"}), 400, "invalid")


def test_jl_b4_statement_export_in_three_formats_and_an_unknown_format_is_invalid(billing):
    statement = statement_with_lines(billing, charges=2, paid=1, reversed_=1)
    client = partner(billing.invited)
    export = f"{API}/statements/{statement.pk}/export/"

    csv_response = client.get(export, {"format": "csv"})
    assert csv_response.status_code == 200 and csv_response["Content-Type"] == "text/csv; charset=utf-8"
    text = csv_response.content.decode("utf-8-sig")
    assert csv_response.content.startswith(b"\xef\xbb\xbf") and "应付受邀方合计（元）,120.01" in text and "-150.01" in text
    assert "attachment" in csv_response["Content-Disposition"] and "filename*=utf-8''" in csv_response["Content-Disposition"]

    xlsx = client.get(export, {"format": "xlsx"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    assert load_workbook(io.BytesIO(xlsx.content)).sheetnames == ["结算单"]
    pdf = client.get(export, {"format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")

    assert_error(client.get(export, {"format": "docx"}), 400, "invalid")
    assert_error(client.get(export), 400, "invalid")


# --- Query counts: lists do not grow with rows (STYLE 7) --------------------------------------
# Every list: token (1), Scope.of (2: staff roles, regulator divisions), page count (1), rows (1).


def test_charge_list_queries_do_not_grow(billing, django_assert_max_num_queries):
    client = partner(billing.inviting)

    def add(n):
        for charge in [complete(billing.world) for _ in range(n)][:1]:
            services.charge_reverse(actor=billing.inviting_finance, charge=charge, reason="退费")

    assert_list_queries_constant(client, f"{API}/charges/", add_rows=add, assert_max_num_queries=django_assert_max_num_queries, max_queries=5)


def test_statement_list_queries_do_not_grow(billing, django_assert_max_num_queries):
    client = partner(billing.invited)

    def add(n):
        for _ in range(n):
            complete_from_another_county(billing.world)
        draft_month()

    assert_list_queries_constant(client, f"{API}/statements/", add_rows=add, assert_max_num_queries=django_assert_max_num_queries, max_queries=5)


def test_account_and_policy_lists_are_scoped(billing):
    statement_with_lines(billing, charges=1, paid=0, reversed_=0)  # registers the invited account
    assert len(rows(partner(billing.invited).get(f"{API}/settlement-accounts/"))) == 1
    assert rows(partner(billing.inviting).get(f"{API}/settlement-accounts/")) == []
    assert rows(token_client(UserFactory()).get(f"{API}/allocation-policies/")) == []
    assert Charge.objects.count() == 1


def test_openapi_schema_has_the_billing_routes(db):
    response = token_client(UserFactory()).get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/v1/price-standards/", "/api/v1/prices/", "/api/v1/charges/{id}/payment/",
                 "/api/v1/charges/{id}/reverse/", "/api/v1/statements/{id}/confirm/", "/api/v1/statements/{id}/payment/",
                 "/api/v1/statements/{id}/export/", "/api/v1/settlement-accounts/", "/api/v1/allocation-policies/"):
        assert path in text
    assert "insurance_fen" in text and "invited_share_total_fen" in text


def test_jl_b4_payee_account_number_only_for_the_paying_finance_officer(billing):
    statement = statement_with_lines(billing, charges=1, paid=0, reversed_=0)
    paying = token_client(billing.inviting_finance).get(f"{API}/statements/{statement.pk}/").json()
    assert paying["payee_account_number"] == "2201 0000 1234 5678"
    assert paying["payee_account"]["account_number_masked"] == "************5678"
    payee = token_client(billing.invited_finance).get(f"{API}/statements/{statement.pk}/").json()
    assert payee["payee_account_number"] is None
