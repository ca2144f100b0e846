"""Shared helpers of the JL-O3 yearly evaluation tests: a formula, a round, activity in a year."""

from __future__ import annotations

WEIGHTS = {"volume": 20, "compliance": 15, "response": 10, "turnaround": 10, "satisfaction": 15, "qc": 10,
           "violations": 10, "suspensions": 10}
THRESHOLDS = {"excellent": 90, "pass": 60, "volume_target": 10, "response_target_hours": 2,
              "turnaround_target_hours": 24, "violation_penalty": 20, "suspension_penalty": 50}


def publish_formula(actor, **overrides):
    from facilities.evaluation import evaluation_formula_publish

    thresholds = {**THRESHOLDS, **overrides}
    return evaluation_formula_publish(actor=actor, weights=dict(WEIGHTS), thresholds=thresholds, document_number="吉卫医发〔2026〕1号")
