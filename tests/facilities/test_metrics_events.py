"""The dashboard follows the audited writes (issue 9, docs/metrics.md): a counted service call
enqueues, on commit, the recomputation of its (day, facility, service type) slices; the figure
changes without the catch-up, a repeated task changes nothing, and the result is the catch-up's."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone
from kombu.exceptions import OperationalError

from audit.models import AuditEvent
from consultations import services
from facilities.metrics.figures import Subject, figures, report
from facilities.metrics.periods import month
from facilities.models import Division, MetricDay, MetricDuration, MetricMonth, MetricStat, MetricTotal
from facilities.tasks import metrics_refresh_task
from tests.facilities.metrics_data import NOW, price

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at(NOW)]

NOVEMBER = month(dt.date(2026, 11, 1))


@pytest.fixture
def eager():
    from telemed.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def _facts():
    def rows(model, *exclude):
        names = [f.attname for f in model._meta.concrete_fields if f.name not in ("id", *exclude)]
        return sorted(model.objects.values_list(*names))

    return rows(MetricDay), rows(MetricDuration), rows(MetricMonth), rows(MetricStat), rows(MetricTotal)


def _province():
    return Subject.of_division(Division.objects.get(code="220000"))


def test_a_signed_case_shows_on_the_dashboard_without_the_catch_up_and_a_repeated_task_changes_nothing(
        world, eager, django_capture_on_commit_callbacks):
    price(world)
    with django_capture_on_commit_callbacks(execute=True):
        consultation = world.accepted_with_expert()
    county = Subject.of_division(Division.objects.get(code="220122"))
    before = figures(_province(), NOVEMBER)
    assert (before["sent"], before["accepted"], before["completed"]) == (1, 1, 0)
    assert figures(county, NOVEMBER)["sent"] == 1 and before["response_median"] is not None

    services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                   scheduled_for=timezone.now() + dt.timedelta(hours=2), video_link="https://meet.example/jdyy-9")
    services.consultation_start_session(actor=world.expert, consultation=consultation)
    with django_capture_on_commit_callbacks(execute=True):
        services.opinion_sign(actor=world.expert, consultation=consultation, content="考虑结核性胸膜炎，建议胸腔穿刺。")
    after = report(_province(), NOVEMBER)
    assert after.current["completed"] == 1 and after.current["active_experts"] == 1
    assert after.current["turnaround_median"] is not None
    assert after.by_facility[world.invited.pk]["completed"] == 1
    assert after.trends[-1][1]["completed"] == 1

    with django_capture_on_commit_callbacks(execute=True):  # the charge follows the close's commit
        services.consultation_close(actor=world.clinician, consultation=consultation)
    with django_capture_on_commit_callbacks(execute=True):
        services.rating_record(actor=world.clinician, consultation=consultation, rater_kind="clinician", score=4, comment="")
    closed = figures(_province(), NOVEMBER)
    assert closed["fee_fen"] == 30000 and closed["ratings_count"] == 1 and closed["satisfaction_mean"] == 4

    refreshed = _facts()
    for event in AuditEvent.objects.filter(event_type__in=["opinion.sign", "billing.charge.create", "consultation.rate"]):
        metrics_refresh_task.delay(event_id=event.pk)
    assert _facts() == refreshed  # idempotent: recomputed, never incremented
    call_command("rebuild_metrics")
    assert _facts() == refreshed  # and what the catch-up (the source of truth) writes


def test_an_uncounted_event_enqueues_nothing_and_a_broker_outage_loses_only_freshness(
        world, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(metrics_refresh_task, "apply_async", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        draft = world.ready(world.draft())
    assert sent == []  # create, consent, participant, documents: no figure counts them

    def down(**kwargs):
        raise OperationalError("broker down")

    monkeypatch.setattr(metrics_refresh_task, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        services.consultation_send(actor=world.coordinator, consultation=draft)  # no exception: the send stands
    draft.refresh_from_db()
    assert draft.sent_at is not None and figures(_province(), NOVEMBER)["sent"] == 0
    call_command("rebuild_metrics")
    assert figures(_province(), NOVEMBER)["sent"] == 1
