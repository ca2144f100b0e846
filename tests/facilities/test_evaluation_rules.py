"""JL-O3 (art. 45–47): the yearly evaluation's pure rules — who evaluates, the formula's checks,
the score and grade at and around the thresholds, the art. 47 consequences."""

from __future__ import annotations

from decimal import Decimal

import pytest

from facilities import evaluation_rules as rules
from facilities.choices import DivisionLevel, EvaluationGrade, FacilityKind
from tests.facilities.evaluation_data import THRESHOLDS, WEIGHTS

FULL = {"volume": 10, "compliance_percent": 100.0, "response_median": 3600, "turnaround_median": 3600,
        "satisfaction_mean": 5.0, "qc_percent": 100.0, "violations": 0, "suspensions": 0}


def test_jl_o3_art_45_the_city_evaluates_primary_care_and_the_province_everything_else():
    assert rules.evaluator_level(level=1, kind=FacilityKind.GENERAL_HOSPITAL) == DivisionLevel.CITY
    assert rules.evaluator_level(level=2, kind=FacilityKind.TOWNSHIP_CENTRE) == DivisionLevel.CITY
    assert rules.evaluator_level(level=2, kind=FacilityKind.COMMUNITY_CENTRE) == DivisionLevel.CITY
    assert rules.evaluator_level(level=2, kind=FacilityKind.GENERAL_HOSPITAL) == DivisionLevel.PROVINCE
    assert rules.evaluator_level(level=3, kind=FacilityKind.MATERNAL_CHILD) == DivisionLevel.PROVINCE


def test_jl_o3_a_full_score_is_100_and_excellent():
    outcome = rules.evaluate(FULL, weights=WEIGHTS, thresholds=THRESHOLDS)
    assert outcome.score == Decimal("100.0") and outcome.grade == EvaluationGrade.EXCELLENT
    assert set(outcome.parts) == set(rules.PARTS)


@pytest.mark.parametrize(("score", "grade"), [
    (Decimal("90.0"), EvaluationGrade.EXCELLENT), (Decimal("89.9"), EvaluationGrade.PASS),
    (Decimal("60.0"), EvaluationGrade.PASS), (Decimal("59.9"), EvaluationGrade.FAIL), (Decimal("0.0"), EvaluationGrade.FAIL),
    (Decimal("100.0"), EvaluationGrade.EXCELLENT),
])
def test_jl_o3_art_47_a_score_equal_to_a_threshold_reaches_it(score, grade):
    assert rules.grade_for(score, THRESHOLDS) == grade


def test_jl_o3_the_shown_score_is_rounded_half_up_before_it_is_graded():
    # Only the volume counts: 5.995 of 10 → 59.95 → 60.0 shown, so 合格 (not 不合格 on 59.95).
    weights = dict.fromkeys(WEIGHTS, 0) | {"volume": 100}
    outcome = rules.evaluate({"volume": 0}, weights=weights, thresholds={**THRESHOLDS, "volume_target": Decimal("16.68")})
    assert outcome.score == Decimal("0.0")
    target = Decimal("10") / Decimal("0.5995")  # volume 10 of this target is 59.95 %
    outcome = rules.evaluate({"volume": 10}, weights=weights, thresholds={**THRESHOLDS, "volume_target": target})
    assert outcome.score == Decimal("60.0") and outcome.grade == EvaluationGrade.PASS
    outcome = rules.evaluate({"volume": 10}, weights=weights, thresholds={**THRESHOLDS, "volume_target": Decimal(10) / Decimal("0.5994")})
    assert outcome.score == Decimal("59.9") and outcome.grade == EvaluationGrade.FAIL


def test_jl_o3_a_figure_without_data_is_left_out_and_the_other_weights_carry_the_score():
    inputs = {**FULL, "compliance_percent": None, "satisfaction_mean": None, "qc_percent": None,
              "response_median": None, "turnaround_median": None, "volume": 5}
    outcome = rules.evaluate(inputs, weights=WEIGHTS, thresholds=THRESHOLDS)
    # volume 50 × 20, violations 100 × 10, suspensions 100 × 10, over 40
    assert outcome.score == Decimal("75.0")
    assert outcome.parts["compliance"] is None and outcome.parts["volume"] == Decimal("50.0")


def test_jl_o3_times_score_full_up_to_the_target_and_nothing_at_twice_it():
    assert rules.parts({**FULL, "response_median": 7200}, THRESHOLDS)["response"] == 100
    assert rules.parts({**FULL, "response_median": 7201}, THRESHOLDS)["response"] < 100
    assert rules.parts({**FULL, "response_median": 10800}, THRESHOLDS)["response"] == 50
    assert rules.parts({**FULL, "response_median": 14400}, THRESHOLDS)["response"] == 0
    assert rules.parts({**FULL, "response_median": 10**9}, THRESHOLDS)["response"] == 0


def test_jl_o3_violations_and_suspensions_take_points_off_never_below_zero():
    found = rules.parts({**FULL, "violations": 2, "suspensions": 1}, THRESHOLDS)
    assert found["violations"] == 60 and found["suspensions"] == 50
    found = rules.parts({**FULL, "violations": 9, "suspensions": 3}, THRESHOLDS)
    assert found["violations"] == 0 and found["suspensions"] == 0


def test_jl_o3_volume_and_satisfaction_cap_at_full_marks():
    found = rules.parts({**FULL, "volume": 1000, "satisfaction_mean": 4.0}, THRESHOLDS)
    assert found["volume"] == 100 and found["satisfaction"] == 80


def test_jl_o3_no_data_and_no_weight_scores_zero_not_a_division_by_zero():
    weights = dict.fromkeys(WEIGHTS, 0) | {"qc": 100}
    outcome = rules.evaluate({"volume": 0}, weights=weights, thresholds=THRESHOLDS)
    assert outcome.score == Decimal("0.0") and outcome.grade == EvaluationGrade.FAIL


def test_jl_o3_formula_checks_weights_adding_to_100_and_ordered_thresholds():
    assert rules.formula_problems(WEIGHTS, THRESHOLDS) == []
    assert rules.formula_problems({**WEIGHTS, "volume": 21}, THRESHOLDS)  # 101
    assert rules.formula_problems({**WEIGHTS, "volume": -1, "qc": 31}, THRESHOLDS)
    assert rules.formula_problems({k: v for k, v in WEIGHTS.items() if k != "qc"}, THRESHOLDS)
    assert rules.formula_problems(WEIGHTS, {**THRESHOLDS, "pass": 90})  # pass must be below excellent
    assert rules.formula_problems(WEIGHTS, {**THRESHOLDS, "excellent": 101})
    assert rules.formula_problems(WEIGHTS, {**THRESHOLDS, "volume_target": 0})
    assert rules.formula_problems(WEIGHTS, {**THRESHOLDS, "violation_penalty": "x"})
    assert all("JL-O3" in str(p) for p in rules.formula_problems({**WEIGHTS, "volume": 0}, {**THRESHOLDS, "pass": 95}))


def test_jl_o3_art_47_two_failing_years_raise_accountability_and_a_failing_year_bars_the_principal():
    fail, ok = EvaluationGrade.FAIL, EvaluationGrade.PASS
    assert rules.accountability(grade=fail, previous_grade=fail)
    assert not rules.accountability(grade=fail, previous_grade=ok)
    assert not rules.accountability(grade=fail, previous_grade=None)
    assert not rules.accountability(grade=ok, previous_grade=fail)
    assert rules.principal_barred(fail) and not rules.principal_barred(ok) and not rules.principal_barred(EvaluationGrade.EXCELLENT)
