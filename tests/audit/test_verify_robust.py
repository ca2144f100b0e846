"""JL-A1, issue 8: the background chain verification never jams for good.

A worker killed mid-run leaves its run "running" with a heartbeat that stops; once the heartbeat is
older than ``TELEMED_VERIFY_TIMEOUT_SECONDS`` the redelivered message takes the run over
(compare-and-swap) and a user may start a new run. A broker outage is a clear Chinese message on
the page (and the stable code ``broker_unavailable`` over the API), never a 500, and the run that
could not be sent is failed so that a new one can start.
"""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from audit import services, tasks
from audit.models import AuditEvent, VerificationRun
from audit.tasks import audit_verify_chain_task
from telemed.errors import api_exception_handler
from telemed.queue import BrokerUnavailable
from tests.factories import regulator

TIMEOUT = 900
BROKER_DOWN = mock.patch.object(audit_verify_chain_task, "apply_async", side_effect=OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused."))


@pytest.fixture
def eager_celery():
    from telemed.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _timeout(settings):
    settings.TELEMED_VERIFY_TIMEOUT_SECONDS = TIMEOUT


def _later(seconds: int):
    return time_machine.travel(timezone.now() + dt.timedelta(seconds=seconds), tick=True)


def _killed_mid_run(actor) -> VerificationRun:
    """A run requested (its message held by the broker) and claimed by a worker that was then killed."""
    run = services.verification_request(actor=actor)  # on_commit does not fire in the test transaction
    claimed, taken_over = tasks._claim(run.pk)
    assert claimed.state == VerificationRun.State.RUNNING and not taken_over
    return claimed


@pytest.mark.django_db
def test_jl_a1_redelivery_skips_a_live_run_but_takes_over_a_stale_one():
    province = regulator("220000")
    run = _killed_mid_run(province)

    # The message comes back at once (the worker died before acking): the run still looks alive.
    assert audit_verify_chain_task(run_id=run.pk) == {"skipped": run.pk}
    assert VerificationRun.objects.get(pk=run.pk).state == VerificationRun.State.RUNNING

    with _later(TIMEOUT + 60):
        result = audit_verify_chain_task(run_id=run.pk)
    assert result["intact"] is True
    run.refresh_from_db()
    assert run.state == VerificationRun.State.DONE and run.intact is True and run.checked == run.total
    event = AuditEvent.objects.filter(event_type="audit.chain.verify").get()
    assert event.details["taken_over"] is True and event.object_id == str(run.pk)

    # A finished run is never walked again.
    assert audit_verify_chain_task(run_id=run.pk) == {"skipped": run.pk}


@pytest.mark.django_db
def test_jl_a1_a_worker_that_lost_its_run_stops_writing():
    run = _killed_mid_run(regulator("220000"))
    with _later(TIMEOUT + 60):
        taken, taken_over = tasks._claim(run.pk)
    assert taken_over and taken.started_at > run.started_at
    with pytest.raises(tasks.ClaimLost):
        tasks._progress(run, 2000)  # the killed worker, had it only been slow, learns it lost the run
    tasks._progress(taken, 2000)
    assert VerificationRun.objects.get(pk=run.pk).checked == 2000


@pytest.mark.django_db
def test_jl_a1_a_user_may_start_a_new_run_once_the_old_one_is_stale(client, eager_celery, django_capture_on_commit_callbacks):
    province = regulator("220000")
    stale = _killed_mid_run(province)
    client.force_login(province)

    page = client.get(reverse("audit:chain")).content.decode()
    assert 'data-state="running"' in page and "disabled" in page
    client.post(reverse("audit:chain"))
    assert VerificationRun.objects.count() == 1  # a live run is not duplicated

    with _later(TIMEOUT + 60):
        page = client.get(reverse("audit:chain")).content.decode()
        assert "disabled" not in page and 'http-equiv="refresh"' not in page
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(reverse("audit:chain")).status_code == 302

    stale.refresh_from_db()
    assert stale.state == VerificationRun.State.FAILED and "超时" in stale.problem
    new = VerificationRun.objects.exclude(pk=stale.pk).get()
    assert new.state == VerificationRun.State.DONE and new.intact is True
    request = AuditEvent.objects.filter(event_type="audit.chain.verify_request").order_by("-sequence").first()
    assert request.details == {"replaces_stale_run": stale.pk}
    # The old message, redelivered even later, finds its run failed and does nothing.
    with _later(2 * TIMEOUT):
        assert audit_verify_chain_task(run_id=stale.pk) == {"skipped": stale.pk}


@pytest.mark.django_db
def test_jl_a1_a_broker_outage_fails_the_run_and_raises_a_clear_error(django_capture_on_commit_callbacks):
    province = regulator("220000")
    with BROKER_DOWN, pytest.raises(BrokerUnavailable) as raised, django_capture_on_commit_callbacks(execute=True):
        services.verification_request(actor=province)
    assert raised.value.code == "broker_unavailable" and "后台任务队列" in raised.value.message
    run = VerificationRun.objects.get()
    assert run.state == VerificationRun.State.FAILED and "无法连接" in run.problem
    failure = AuditEvent.objects.filter(event_type="audit.chain.verify_request", outcome="failure").get()
    assert failure.object_id == str(run.pk) and failure.details["code"] == "broker_unavailable"
    # Over the API the same error is the stable code with a 503.
    response = api_exception_handler(raised.value, {})
    assert response.status_code == 503 and response.data["code"] == "broker_unavailable"

    # The failed run does not block the next request.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = services.verification_request(actor=province)
    assert again.pk != run.pk and again.state == VerificationRun.State.QUEUED and len(callbacks) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_jl_a1_the_page_answers_a_broker_outage_with_a_message_not_a_500(client, eager_celery):
    """Real commits (no test transaction): the task is sent after the service's commit, inside the request."""
    province = regulator("220000")
    client.force_login(province)
    with BROKER_DOWN:
        response = client.post(reverse("audit:chain"), follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "后台任务队列暂时无法连接" in page and 'data-state="failed"' in page and "disabled" not in page
    assert VerificationRun.objects.get().state == VerificationRun.State.FAILED

    response = client.post(reverse("audit:chain"), follow=True)  # the broker is back
    assert response.status_code == 200
    assert VerificationRun.objects.order_by("-id").first().state == VerificationRun.State.DONE
