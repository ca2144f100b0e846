"""JL-C2 with a real Celery worker on Redis and PostgreSQL (CI): the sweep survives duplicate
delivery, a worker that was down across a deadline, and a broker outage.

The worker is a separate process on the test database; results come back through Redis, so
the test waits on ``AsyncResult.get`` rather than sleeping.
"""

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery.backends.redis import RedisBackend
from celery.result import AsyncResult
from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError

from consultations import services
from consultations.choices import ObligationState, TriggerKind
from consultations.models import Obligation, Violation
from consultations.tasks import obligation_sweep_task
from telemed.celery import app

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def redis_broker():
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs Redis: set CELERY_BROKER_URL=redis://… (CI does)")
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL shared with the worker process: set DATABASE_URL (CI does)")
    return settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/15"


class Worker:
    """A Celery worker process on its own queue, against the test database."""

    def __init__(self, backend: str, queue: str | None = None):
        self.results = RedisBackend(app=app, url=backend)
        self.queue = queue or f"test-{uuid.uuid4().hex[:8]}"
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "CELERY_RESULT_BACKEND": backend,
        }
        self.process = None

    def start(self):
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            [sys.executable, "-m", "celery", "-A", "telemed", "worker", "--pool=solo", "--concurrency=1",
             "-Q", self.queue, "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def enqueue(self) -> str:
        return obligation_sweep_task.apply_async(queue=self.queue, ignore_result=False).id

    def result(self, task_id: str, timeout: int = 90) -> dict:
        return AsyncResult(task_id, backend=self.results, app=app).get(timeout=timeout)

    def sweep(self) -> dict:
        return self.result(self.enqueue())


@pytest.fixture
def worker(redis_broker):
    w = Worker(redis_broker)
    w.start()
    yield w
    w.stop()


def overdue_obligation(world, *, hours_ago: float):
    patient = world.patient()
    return services.obligation_open(
        actor=world.clinician, patient=patient, trigger=TriggerKind.PATIENT_REQUEST,
        event_at=timezone.now() - dt.timedelta(hours=24 + hours_ago),
    )


def test_jl_c2_duplicate_delivery_records_the_violation_once(world, worker, redis_broker):
    obligation = overdue_obligation(world, hours_ago=0.5)
    second_worker = Worker(redis_broker, queue=worker.queue)  # two workers racing on one queue
    second_worker.start()
    try:
        # The sweep delivered six times at once (redelivered messages, overlapping beat ticks).
        results = [worker.result(task_id) for task_id in [worker.enqueue() for _ in range(6)]]
    finally:
        second_worker.stop()
    assert sorted(r["violated"] for r in results) == [0, 0, 0, 0, 0, 1]
    assert Violation.objects.filter(obligation=obligation).count() == 1
    obligation.refresh_from_db()
    assert obligation.state == ObligationState.VIOLATED


def test_jl_c2_deadline_passing_while_the_worker_is_down_is_recorded_with_its_real_time(world, worker):
    assert worker.sweep()["violated"] == 0
    worker.stop()
    obligation = overdue_obligation(world, hours_ago=2)  # its deadline passed while no worker ran
    worker.start()
    assert worker.sweep()["violated"] == 1
    violation = Violation.objects.get(obligation=obligation)
    assert violation.due_at == obligation.due_at
    assert violation.recorded_at - violation.due_at >= dt.timedelta(hours=2)


def test_jl_c2_broker_outage_delays_but_never_loses_the_deadline(world, worker):
    obligation = overdue_obligation(world, hours_ago=1)
    with app.connection_for_write("redis://127.0.0.1:1/0") as dead_broker, pytest.raises(OperationalError):
        obligation_sweep_task.apply_async(queue=worker.queue, connection=dead_broker, retry=False)
    assert Obligation.objects.get(pk=obligation.pk).state == ObligationState.OPEN  # nothing happened yet
    assert worker.sweep()["violated"] == 1  # the broker is back: the next sweep records it
    assert Violation.objects.get(obligation=obligation).due_at == obligation.due_at
