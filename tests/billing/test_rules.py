"""The billing rulebook on integer fen: the split's invariants for any fee and ratio, prices, periods."""

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import rules

SHANGHAI = ZoneInfo("Asia/Shanghai")


@given(fee=st.integers(min_value=0, max_value=10**12), a=st.integers(min_value=0, max_value=1000), b=st.integers(min_value=0, max_value=1000))
def test_jl_b3_split_property_shares_add_up_to_the_fen_and_follow_the_ratio(fee, a, b):
    if a + b == 0:
        with pytest.raises(ValueError):
            rules.split_fee(fee, a, b)
        return
    inviting, invited = rules.split_fee(fee, a, b)
    assert isinstance(inviting, int) and isinstance(invited, int)
    assert inviting + invited == fee  # to the fen, always
    assert inviting >= 0 and invited >= 0
    # The inviting share is the exact ratio rounded down: less than one fen below the exact value.
    assert inviting * (a + b) <= fee * a < (inviting + 1) * (a + b)
    # So the invited facility gets the rounding, never more than one fen beyond its exact share.
    assert fee * b <= invited * (a + b) < fee * b + (a + b)


def test_jl_b3_consultation_items_split_2_8_with_the_fen_to_the_invited_side():
    assert rules.split_fee(30000, 2, 8) == (6000, 24000)
    assert rules.split_fee(1, 2, 8) == (0, 1)
    assert rules.split_fee(12345, 2, 8) == (2469, 9876)
    basis = rules.split_basis(negotiated=False, agreement_ratio=(3, 7))
    assert (basis.inviting_parts, basis.invited_parts) == (2, 8) and "2:8" in basis.text


def test_jl_b3_negotiated_items_use_the_agreement_ratio():
    basis = rules.split_basis(negotiated=True, agreement_ratio=(3, 7))
    assert (basis.inviting_parts, basis.invited_parts) == (3, 7) and "协议约定 3:7" in basis.text
    assert rules.split_fee(10001, 3, 7) == (3000, 7001)
    with pytest.raises(ValueError):
        rules.split_basis(negotiated=True, agreement_ratio=None)


@pytest.mark.parametrize("bad", [1.5, -1, True])
def test_jl_b3_money_is_whole_non_negative_fen(bad):
    with pytest.raises((TypeError, ValueError)):
        rules.split_fee(bad, 2, 8)


def standard(level=None, max_fen=20000, start=dt.date(2026, 1, 1), end=None, code="consultation"):
    return SimpleNamespace(service_type_id=code, facility_level=level, max_price_fen=max_fen, valid_from=start, valid_until=end, document_number="吉价〔2026〕1号")


def test_jl_b1_level_specific_standard_wins_and_validity_is_inclusive():
    general, level3 = standard(max_fen=20000), standard(level=3, max_fen=30000)
    on = dt.date(2026, 6, 1)
    assert rules.standard_for([general, level3], service_code="consultation", level=3, on=on) is level3
    assert rules.standard_for([general, level3], service_code="consultation", level=2, on=on) is general
    ending = standard(end=dt.date(2026, 6, 1))
    assert rules.standard_for([ending], service_code="consultation", level=2, on=dt.date(2026, 6, 1)) is ending
    assert rules.standard_for([ending], service_code="consultation", level=2, on=dt.date(2026, 6, 2)) is None


def test_jl_b1_price_must_stay_within_the_standard():
    s = standard(max_fen=20000)
    assert rules.price_check(price_fen=20000, standard=s).passed
    over = rules.price_check(price_fen=20001, standard=s)
    assert not over.passed and "¥200.01" in over.text and "¥200.00" in over.text
    assert not rules.price_check(price_fen=0, standard=s).passed
    assert not rules.price_check(price_fen=100, standard=None).passed


def test_jl_b2_receipt_and_insurance_apart_adding_up():
    ok = rules.payment_checks(fee_fen=30000, insurance_fen=21000, self_pay_fen=9000, receipt_number="吉财票 00012345")
    assert all(c.passed for c in ok)
    bad = rules.payment_checks(fee_fen=30000, insurance_fen=21000, self_pay_fen=8000, receipt_number=" ")
    assert [c.rule for c in bad if not c.passed] == ["JL-B2", "JL-B2"]


def test_jl_b4_payee_is_the_invited_facility_never_a_person():
    base = dict(account_facility_id=1, payee_facility_id=1, facility_name="吉林大学第一医院", account_name="吉林大学第一医院",
                account_kind="corporate", person_names=["林沐川"])
    assert all(c.passed for c in rules.payee_checks(**base))
    assert not all(c.passed for c in rules.payee_checks(**{**base, "account_name": "林沐川"}))
    assert not all(c.passed for c in rules.payee_checks(**{**base, "account_kind": "personal"}))
    assert not all(c.passed for c in rules.payee_checks(**{**base, "account_facility_id": 2}))


@pytest.mark.parametrize("bp, ok", [(5999, False), (6000, True), (8000, True), (10001, False)])
def test_jl_b5_staff_share_at_least_60_percent(bp, ok):
    assert rules.allocation_check(bp).passed is ok


def test_periods_are_beijing_months():
    last_second = dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI)
    assert rules.month_of(last_second) == dt.date(2026, 11, 1)
    assert rules.month_of(last_second + dt.timedelta(seconds=1)) == dt.date(2026, 12, 1)
    # 2026-11-30 16:00 UTC is already December 1st in Beijing.
    assert rules.month_of(dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)) == dt.date(2026, 12, 1)
    assert rules.next_month(dt.date(2026, 12, 1)) == dt.date(2027, 1, 1)
    assert rules.previous_month(dt.date(2027, 1, 1)) == dt.date(2026, 12, 1)
    assert rules.last_day(dt.date(2028, 2, 1)) == dt.date(2028, 2, 29)
    start, end = rules.period_bounds(dt.date(2026, 11, 1))
    assert start.astimezone(dt.UTC) == dt.datetime(2026, 10, 31, 16, 0, tzinfo=dt.UTC)
    assert end.astimezone(dt.UTC) == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)


def test_totals_subtract_reversals_and_reconcile():
    c1 = SimpleNamespace(fee_fen=30000, inviting_share_fen=6000, invited_share_fen=24000)
    c2 = SimpleNamespace(fee_fen=10001, inviting_share_fen=3000, invited_share_fen=7001)
    total = rules.totals([c1, c2], [SimpleNamespace(charge=c1)])
    assert total == rules.Totals(3, 10001, 3000, 7001)
    assert rules.reconcile_check(stated=total, computed=total).passed
    assert not rules.reconcile_check(stated=rules.Totals(3, 10001, 3000, 7000), computed=total).passed


def test_yuan_display():
    assert rules.yuan(123456) == "¥1,234.56"
    assert rules.yuan(-5) == "-¥0.05"


def test_jl_b2_jl_b4_a_payment_in_the_future_fails_and_clock_skew_passes():
    now = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
    assert rules.payment_time_check(now - dt.timedelta(days=3), now=now).passed
    assert rules.payment_time_check(now + dt.timedelta(minutes=4), now=now).passed
    future = rules.payment_time_check(now + dt.timedelta(days=1), now=now)
    assert not future.passed and future.text == "JL-B2 第四十一条: 付款时间不能晚于当前时间（所填时间 2026-11-21 10:00（北京时间））"
    bank = rules.payment_time_check(now + dt.timedelta(hours=1), now=now, rule="JL-B4", article="第四十二条")
    assert not bank.passed and bank.rule == "JL-B4"


# --- JL-B4: statements only for ended months; a month's charges settle in that month's statement ---

_UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "month", "ok"),
    [
        (dt.datetime(2026, 11, 30, 15, 59, 59, tzinfo=_UTC), dt.date(2026, 11, 1), False),  # 23:59:59 on 30 Nov in Beijing
        (dt.datetime(2026, 11, 30, 16, 0, 0, tzinfo=_UTC), dt.date(2026, 11, 1), True),  # 00:00 on 1 Dec in Beijing
        (dt.datetime(2026, 11, 30, 16, 30, tzinfo=_UTC), dt.date(2026, 11, 1), True),  # still 30 Nov in UTC, December in Beijing
        (dt.datetime(2026, 11, 30, 16, 30, tzinfo=_UTC), dt.date(2026, 12, 1), False),  # the month just begun
        (dt.datetime(2026, 12, 31, 16, 0, tzinfo=_UTC), dt.date(2026, 12, 1), True),  # over the year end
        (dt.datetime(2026, 12, 31, 15, 0, tzinfo=_UTC), dt.date(2026, 12, 1), False),
    ],
)
def test_jl_b4_statement_month_must_have_ended_in_beijing_time(now, month, ok):
    check = rules.statement_month_ended_check(month, now=now)
    assert check.passed is ok
    assert check.rule == "JL-B4" and "北京时间" in check.text


def test_jl_b4_statement_period_must_start_on_the_first():
    check = rules.statement_month_ended_check(dt.date(2026, 10, 15), now=dt.datetime(2027, 1, 1, tzinfo=_UTC))
    assert not check.passed and check.text.startswith("JL-B4 第四十二条") and "2026-10-15" in check.text


def test_jl_b4_a_charge_is_settled_by_the_statement_of_its_own_beijing_month():
    nov = dt.date(2026, 11, 1)
    inside = [dt.datetime(2026, 10, 31, 16, 0, tzinfo=_UTC), dt.datetime(2026, 11, 30, 15, 59, 59, tzinfo=_UTC)]
    assert rules.statement_items_check(nov, inside).passed
    stray = dt.datetime(2026, 11, 30, 16, 30, tzinfo=_UTC)  # 00:30 on 1 December in Beijing
    check = rules.statement_items_check(nov, [*inside, stray])
    assert not check.passed and check.rule == "JL-B4" and "2026-12-01 00:30" in check.text
