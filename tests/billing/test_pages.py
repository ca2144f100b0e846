"""The billing pages: scoping (404 outside scope, exports included), refusals shown on forms with
the input kept, yuan typed and fen stored exactly, both confirmations then payment, query counts."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from billing import selectors, services
from billing.choices import StatementState
from billing.models import (
    AllocationPolicy,
    Charge,
    FacilityPrice,
    PriceStandard,
    SettlementAccount,
    Statement,
)
from facilities.choices import StaffRole
from telemed.scope import Scope
from tests.billing import (
    IMAGING_FEN,
    complete,
    complete_from_another_county,
    draft,
    draft_month,
    priced,
    service,
    statement_with_lines,
    this_month,
)
from tests.factories import regulator, staff

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-12-10T10:00:00+08:00")]  # the dates typed below are in its past
CONFIRM_BUTTON = "确认结算单</button>"
PAY_BUTTON = "登记付款</button>"


def url(name, *args):
    return reverse(f"billing:{name}", args=args)


@pytest.fixture
def billing(world):
    return priced(world)


def html(response) -> str:
    return response.content.decode()


# --- Scoping: another pair's statement is a 404, exports too (STYLE 3) ------------------------


def test_jl_b4_finance_sees_only_their_facilitys_statements_and_gets_404_for_another_pair(client, billing):
    ours = statement_with_lines(billing, charges=1, paid=0, reversed_=0)
    other = complete_from_another_county(billing.world, name="德惠市人民医院")
    draft_month()
    theirs = Statement.objects.get(inviting=other.inviting, period_start=this_month())

    client.force_login(billing.inviting_finance)
    page = html(client.get(url("statement-list")))
    assert url("statement-detail", ours.pk) in page and url("statement-detail", theirs.pk) not in page
    assert client.get(url("statement-detail", ours.pk)).status_code == 200
    assert client.get(url("statement-detail", theirs.pk)).status_code == 404
    for fmt in ("csv", "xlsx", "pdf"):
        assert client.get(url("statement-export", theirs.pk, fmt)).status_code == 404
    assert client.get(url("statement-export", ours.pk, "docx")).status_code == 404
    response = client.get(url("statement-export", ours.pk, "csv"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf") and "attachment" in response["Content-Disposition"]
    assert client.get(url("statement-export", ours.pk, "pdf")).content.startswith(b"%PDF")

    charges = html(client.get(url("charge-list")))
    assert ours.charges.get().consultation.number in charges and theirs.charges.get().consultation.number not in charges

    # The invited hospital's finance officer is a party to both; its clinicians see no money at all.
    client.force_login(billing.invited_finance)
    assert client.get(url("statement-detail", theirs.pk)).status_code == 200
    client.force_login(billing.world.expert)
    assert client.get(url("statement-list")).status_code == 403
    assert client.get(url("statement-export", ours.pk, "csv")).status_code == 403


def test_jl_o1_city_regulator_reads_statements_of_its_division_only(client, billing):
    ours = statement_with_lines(billing, charges=1, paid=0, reversed_=0)  # 农安县 (长春市) → 吉大一院 (长春市)
    client.force_login(regulator("220200"))  # 吉林市
    assert client.get(url("statement-detail", ours.pk)).status_code == 404
    client.force_login(regulator("220100"))  # 长春市
    response = client.get(url("statement-detail", ours.pk))
    assert response.status_code == 200 and CONFIRM_BUTTON not in html(response)


# --- JL-B4: confirmed by both sides through the page, then paid ---------------------------------


def test_jl_b4_statement_confirmed_by_both_finance_officers_through_the_page_then_paid(client, billing):
    statement = statement_with_lines(billing, charges=2, paid=1, reversed_=0)
    detail = url("statement-detail", statement.pk)

    client.force_login(billing.inviting_finance)
    page = html(client.get(detail))
    assert CONFIRM_BUTTON in page and "JL-B4" in page and "结算单合计须与所含收费明细一致" in page
    # The paying facility's finance officer needs the whole payee account to transfer the money (JL-B4, issue 12).
    assert "2201 0000 1234 5678" in page
    response = client.post(url("statement-confirm", statement.pk))
    assert response.status_code == 302 and response["Location"] == detail
    statement.refresh_from_db()
    assert statement.state == StatementState.DRAFT and statement.inviting_confirmed_by == billing.inviting_finance
    page = html(client.get(detail))
    assert CONFIRM_BUTTON not in page and PAY_BUTTON not in page
    # The payer cannot record the payee's receipt.
    assert client.post(url("statement-payment", statement.pk), {"bank_reference": "X", "paid_at": "2026-12-05T10:00"}).status_code == 403

    client.force_login(billing.invited_finance)
    assert CONFIRM_BUTTON in html(client.get(detail))
    client.post(url("statement-confirm", statement.pk))
    statement.refresh_from_db()
    assert statement.state == StatementState.CONFIRMED and statement.invited_confirmed_by == billing.invited_finance
    assert PAY_BUTTON in html(client.get(detail))

    refused = client.post(url("statement-payment", statement.pk), {"bank_reference": "", "paid_at": "2026-12-05T10:00"})
    assert refused.status_code == 400 and "银行流水号" in html(refused)
    response = client.post(url("statement-payment", statement.pk), {"bank_reference": "BOC20261205001", "paid_at": "2026-12-05T10:00"})
    assert response.status_code == 302
    statement.refresh_from_db()
    assert statement.state == StatementState.PAID and statement.bank_reference == "BOC20261205001"
    assert timezone.localtime(statement.paid_at).strftime("%Y-%m-%d %H:%M") == "2026-12-05 10:00"  # typed in Beijing time
    page = html(client.get(detail))
    assert "已付款" in page and "BOC20261205001" in page
    assert AuditEvent.objects.filter(event_type="billing.statement.confirm", channel="web").count() == 2


def test_jl_b4_confirming_without_the_payees_account_shows_the_refusal(client, billing):
    complete(billing.world)
    statement = draft(billing)
    client.force_login(billing.inviting_finance)
    response = client.post(url("statement-confirm", statement.pk), follow=True)
    assert "JL-B4 第四十二条: 受邀方尚未登记远程医疗结算专户" in html(response)
    statement.refresh_from_db()
    assert statement.inviting_confirmed_at is None


def test_jl_b4_a_clinician_cannot_confirm(client, billing):
    statement = statement_with_lines(billing, charges=1, paid=0, reversed_=0)
    admin = staff(billing.inviting, StaffRole.FACILITY_ADMIN)
    client.force_login(admin)
    assert CONFIRM_BUTTON not in html(client.get(url("statement-detail", statement.pk)))  # admins view; finance confirms
    assert client.post(url("statement-confirm", statement.pk)).status_code == 403


# --- JL-B1: prices within the standard ---------------------------------------------------------


def test_jl_b1_price_above_the_standard_is_refused_on_the_form_keeping_the_input(client, billing):
    client.force_login(billing.invited_finance)
    before = FacilityPrice.objects.count()
    data = {"facility": billing.invited.pk, "service_type": "imaging", "price_yuan": "200.01", "valid_from": "2026-12-01"}
    response = client.post(url("price-create"), data)
    assert response.status_code == 200
    page = html(response)
    assert "JL-B1 第三十九条: 机构收费标准不得超出价格标准" in page and "¥200.00" in page
    assert 'value="200.01"' in page and 'value="2026-12-01"' in page
    assert FacilityPrice.objects.count() == before

    response = client.post(url("price-create"), {**data, "price_yuan": "200.00"})
    assert response.status_code == 302
    assert FacilityPrice.objects.get(valid_from="2026-12-01").price_fen == 20000


def test_jl_b1_only_the_provincial_regulator_publishes_a_standard(client, billing):
    client.force_login(regulator("220100"))
    assert client.get(url("standard-create")).status_code == 403
    client.force_login(billing.province)
    response = client.post(url("standard-create"), {
        "service_type": "pathology", "facility_level": "3", "max_price_yuan": "123.45", "valid_from": "2026-12-01",
        "valid_until": "", "document_number": "吉发改收费〔2026〕9号",
    })
    assert response.status_code == 302
    standard = PriceStandard.objects.get(service_type=service("pathology"))
    assert (standard.max_price_fen, standard.facility_level, standard.valid_until) == (12345, 3, None)
    client.force_login(billing.world.clinician)  # published standards are public to every logged-in user
    page = html(client.get(url("standard-list")))
    assert "¥123.45" in page and "吉发改收费〔2026〕9号" in page and "公布价格标准" not in page


# --- JL-B2: yuan typed, fen stored exactly ------------------------------------------------------


def test_jl_b2_yuan_with_three_decimals_is_refused_and_two_decimals_are_stored_as_whole_fen(client, billing):
    charge = complete(billing.world)
    client.force_login(billing.inviting_finance)
    data = {"fiscal_receipt_number": "吉财医 00012345", "insurance_yuan": "12.345", "self_pay_yuan": "137.67",
            "paid_at": "2026-11-20T09:30"}
    response = client.post(url("charge-payment", charge.pk), data)
    assert response.status_code == 200 and "最多保留两位小数" in html(response) and 'value="12.345"' in html(response)
    for bad in ("1e3", "-12.34", "12,34", "12.34.5", "abc"):
        assert client.post(url("charge-payment", charge.pk), {**data, "insurance_yuan": bad}).status_code == 200
    charge.refresh_from_db()
    assert charge.paid_at is None

    response = client.post(url("charge-payment", charge.pk), {**data, "insurance_yuan": "12.34"})
    assert response.status_code == 302
    charge.refresh_from_db()
    assert (charge.insurance_fen, charge.self_pay_fen) == (1234, 13767)  # 1234 + 13767 = 15001, the fee
    assert isinstance(charge.insurance_fen, int) and charge.fiscal_receipt_number == "吉财医 00012345"


def test_jl_b2_insurance_and_self_pay_not_adding_up_is_refused_with_the_rule(client, billing):
    charge = complete(billing.world)
    client.force_login(billing.inviting_finance)
    response = client.post(url("charge-payment", charge.pk), {
        "fiscal_receipt_number": "", "insurance_yuan": "100", "self_pay_yuan": "50", "paid_at": "2026-11-20T09:30",
    })
    page = html(response)
    assert response.status_code == 200 and "JL-B2 第四十一条" in page and "JL-B2 第五条" in page
    client.force_login(billing.invited_finance)  # the payee does not record the patient's payment
    assert client.post(url("charge-payment", charge.pk), {
        "fiscal_receipt_number": "R1", "insurance_yuan": "100", "self_pay_yuan": "50.01", "paid_at": "2026-11-20T09:30",
    }).status_code == 403


def test_jl_b2_a_refund_is_a_reversal_and_the_list_filters_by_status(client, billing):
    kept, refunded = complete(billing.world), complete(billing.world)
    client.force_login(billing.inviting_finance)
    assert client.post(url("charge-reverse", refunded.pk), {"reason": ""}).status_code == 200
    assert client.post(url("charge-reverse", refunded.pk), {"reason": "检查重复，退费"}).status_code == 302
    refunded.refresh_from_db()
    assert refunded.reversal.reason == "检查重复，退费" and refunded.fee_fen == IMAGING_FEN
    reversed_page = html(client.get(url("charge-list"), {"status": "reversed"}))
    assert refunded.consultation.number in reversed_page and kept.consultation.number not in reversed_page
    unsettled = html(client.get(url("charge-list"), {"status": "unsettled", "paid": "no", "period": f"{this_month():%Y-%m}"}))
    assert kept.consultation.number in unsettled and refunded.consultation.number not in unsettled
    assert "¥150.01" in unsettled and "¥120.01" in unsettled
    assert html(client.get(url("charge-list"), {"period": "2001-01"})).count("<td class=\"mono nowrap\">") == 0


# --- JL-B4 accounts, JL-B5 policies ---------------------------------------------------------


def test_jl_b4_personal_account_is_refused_on_the_form_and_audited(client, billing):
    client.force_login(billing.invited_finance)
    data = {"facility": billing.invited.pk, "account_name": billing.world.expert_physician.name, "bank_name": "中国银行",
            "account_number": "6217000011112222", "kind": "personal"}
    response = client.post(url("account-create"), data)
    page = html(response)
    assert response.status_code == 200 and "JL-B4 第四十二条: 须为单位对公账户，不得为个人账户" in page
    assert "户名须为机构名称，不得为会诊医师本人" in page and 'value="6217000011112222"' in page
    assert not SettlementAccount.objects.exists()
    assert AuditEvent.objects.filter(event_type="billing.account.register", outcome="failure").count() == 1

    client.post(url("account-create"), {**data, "account_name": billing.invited.name, "kind": "corporate"})
    page = html(client.get(url("account-list")))
    assert "************2222" in page and "6217000011112222" not in page


def test_jl_b5_allocation_below_60_percent_is_refused_and_a_percentage_is_stored_in_basis_points(client, billing):
    client.force_login(billing.invited_finance)
    data = {"facility": billing.invited.pk, "staff_share_percent": "59.99", "valid_from": "2026-12-01", "description": "按工作量分配"}
    response = client.post(url("allocation-create"), data)
    assert response.status_code == 200 and "JL-B5 第四十四条" in html(response) and "59.99%" in html(response)
    assert client.post(url("allocation-create"), {**data, "staff_share_percent": "62.555"}).status_code == 200
    assert client.post(url("allocation-create"), {**data, "staff_share_percent": "62.5"}).status_code == 302
    assert AllocationPolicy.objects.get().staff_share_basis_points == 6250
    assert "62.50%" in html(client.get(url("allocation-list")))


# --- Regulators: totals by division and month (JL-O1) ------------------------------------------


def test_jl_o1_regulator_totals_by_inviting_division_and_month_in_one_query(client, billing, django_assert_num_queries):
    complete(billing.world)
    complete(billing.world)  # 农安县 220122 (长春市)
    complete_from_another_county(billing.world, division_code="222401")  # 延吉市 (延边州)
    refunded = complete(billing.world)
    services.charge_reverse(actor=billing.inviting_finance, charge=refunded, reason="退费")

    province = regulator("220000")
    Scope.of(province)
    with django_assert_num_queries(1):
        rows = selectors.regulator_totals(user=province)
    by_division = {row.division_code: row for row in rows}
    assert set(by_division) == {"220122", "222401"}
    nongan = by_division["220122"]
    assert (nongan.count, nongan.fee_fen, nongan.inviting_share_fen, nongan.invited_share_fen) == (3, 45003, 9000, 36003)
    assert (nongan.reversed_count, nongan.reversed_fee_fen, nongan.net_fee_fen) == (1, IMAGING_FEN, 2 * IMAGING_FEN)
    assert nongan.month == this_month()

    changchun = regulator("220100")
    assert {row.division_code for row in selectors.regulator_totals(user=changchun)} == {"220122"}
    assert selectors.regulator_totals(user=billing.invited_finance) == []

    client.force_login(changchun)
    page = html(client.get(url("regulator-totals")))
    assert "农安县" in page and "延吉市" not in page and "¥450.03" in page
    client.force_login(billing.invited_finance)
    assert client.get(url("regulator-totals")).status_code == 403


# --- Query counts: lists do not grow with rows (STYLE 7) ---------------------------------------


def _queries(client, path, django_assert_max_num_queries) -> int:
    with django_assert_max_num_queries(20) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_charge_and_statement_list_queries_do_not_grow_with_rows(client, billing, django_assert_max_num_queries):
    client.force_login(billing.invited_finance)
    counts = {}
    for target in (3, 20):
        while Charge.objects.count() < target:
            complete_from_another_county(billing.world)  # a new pair each: one statement per charge
        draft_month()
        assert Statement.objects.count() == target
        counts[target] = (
            _queries(client, url("charge-list"), django_assert_max_num_queries),
            _queries(client, url("statement-list"), django_assert_max_num_queries),
        )
    assert counts[3] == counts[20], counts


def test_jl_b4_statement_page_shows_a_dash_when_the_confirming_user_is_unknown(client, billing):
    """Issue 8: a confirmation whose user is missing (e.g. a migrated statement) renders "—", not a 500."""
    statement = statement_with_lines(billing, charges=1, paid=0, reversed_=0)
    services.statement_confirm(actor=billing.inviting_finance, statement=statement)
    Statement.objects.filter(pk=statement.pk).update(inviting_confirmed_by=None)  # the state under test: no service makes it
    client.force_login(billing.invited_finance)
    response = client.get(url("statement-detail", statement.pk))
    assert response.status_code == 200
    assert "已确认" in html(response) and "· —" in html(response)


def test_jl_b4_the_paying_finance_officer_sees_the_whole_payee_account_everybody_else_its_last_digits(client, billing):
    statement = statement_with_lines(billing, charges=1, paid=0, reversed_=0)  # payee 2201 0000 1234 5678
    detail = url("statement-detail", statement.pk)
    client.force_login(billing.inviting_finance)  # the inviting facility pays the invited one
    page = html(client.get(detail))
    assert "账号 2201 0000 1234 5678" in page
    assert "2201 0000 1234 5678" in client.get(url("statement-export", statement.pk, "csv")).content.decode("utf-8-sig")
    client.force_login(billing.invited_finance)  # the payee itself: its own account, masked like elsewhere
    page = html(client.get(detail))
    assert "账号 ************5678" in page and "2201 0000 1234 5678" not in page
    assert "1234 5678" not in client.get(url("statement-export", statement.pk, "csv")).content.decode("utf-8-sig")
