"""Past one machine (issue 11, docs/scaling.md): dashboards read from a replica, Celery queues split by kind."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from telemed.dbrouter import REPLICA_MODELS, ReplicaRouter, reading_from_replica
from tests.facilities.metrics_data import NOW, make_activity, price, raw_figures

BOTH = ["default", "replica"]


def _rollup_models():
    return [model for model in apps.get_models() if model._meta.label_lower in REPLICA_MODELS]


def _replicate_then_empty_the_primary() -> int:
    """What streaming replication would have done, then the rollups removed from the primary, so a
    figure on the page can only have come from the replica."""
    copied = 0
    for model in _rollup_models():
        rows = list(model.objects.using("default").all())
        model.objects.using("replica").bulk_create(rows)
        model.objects.using("default").all().delete()
        copied += len(rows)
    return copied


@pytest.fixture
def activity(world):
    price(world)
    make_activity(world, seed=2026)
    call_command("rebuild_metrics")
    return world


def test_the_router_sends_only_rollup_reads_inside_replica_reads_to_the_replica():
    from facilities.models import Facility, MetricMonth

    router = ReplicaRouter()
    with override_settings(TELEMED_REPLICA_ALIAS="replica"):
        assert router.db_for_read(MetricMonth) is None  # outside a dashboard route: the primary
        with reading_from_replica():
            assert router.db_for_read(MetricMonth) == "replica"
            assert router.db_for_read(Facility) is None  # names, scope, sessions: the primary
            assert router.db_for_write(MetricMonth) is None  # writes: always the primary
        assert router.allow_migrate("replica", "facilities") is False  # replication migrates it
    with reading_from_replica():  # no replica configured: everything on the primary
        assert router.db_for_read(MetricMonth) is None


@pytest.mark.frozen_at(NOW)
@pytest.mark.django_db(databases=BOTH)
def test_the_dashboard_and_its_api_read_the_rollups_from_the_replica(activity):
    from tests.factories import regulator

    assert _replicate_then_empty_the_primary() > 0
    client = Client()
    client.force_login(regulator("220100", username="city_regulator"))
    api = reverse("facilities-api:metrics-division", args=["220100"])
    page = reverse("facilities:metrics-division", args=["220100"])
    params = {"period": "month", "month": "2026-10"}
    expected = raw_figures({activity.inviting.pk, activity.invited.pk}, dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert expected["sent"] > 0

    try:
        with override_settings(TELEMED_REPLICA_ALIAS="replica"):
            current = client.get(api, params).json()["current"]
            assert {key: current[key] for key in expected} == expected
            assert client.get(page, params).status_code == 200
        # The same request without a replica reads the primary, whose rollups were removed: so the
        # figures above came from the replica.
        assert client.get(api, params).json()["current"]["sent"] == 0
    finally:
        # The replica holds only the rollups, not the facilities they point at: empty it before the
        # test's end checks its foreign keys (a real replica has every table).
        for model in _rollup_models():
            model.objects.using("replica").all().delete()


def test_a_replica_of_another_kind_of_database_is_refused(monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import telemed.settings as portal_settings

    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/telemed")
    monkeypatch.setenv("DATABASE_REPLICA_URL", "sqlite:///tmp/replica.sqlite3")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_REPLICA_URL"):
        importlib.reload(portal_settings)
    monkeypatch.delenv("DATABASE_REPLICA_URL")
    monkeypatch.delenv("DATABASE_URL")
    importlib.reload(portal_settings)


# --- Celery queues by kind ----------------------------------------------------------------------


def _portal_tasks() -> set[str]:
    from telemed.celery import app

    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_every_task_is_routed_to_a_queue_of_its_kind_and_deadlines_share_it_with_no_long_job():
    from django.conf import settings

    from telemed.celery import app

    tasks = _portal_tasks()
    routed = {task for names in settings.TELEMED_TASK_QUEUES.values() for task in names}
    assert tasks - routed == set(), "a new task must be given a queue in TELEMED_TASK_QUEUES (docs/scaling.md)"
    assert routed - tasks == set(), "TELEMED_TASK_QUEUES names a task that does not exist"
    for queue, names in settings.TELEMED_TASK_QUEUES.items():
        for name in names:
            assert app.amqp.router.route({}, name)["queue"].name == queue, name
    assert set(settings.TELEMED_TASK_QUEUES["deadlines"]) == {"consultations.obligation_sweep",
                                                               "consultations.response_reminder_sweep"}


def test_every_queue_has_a_worker_in_rundemo_and_in_docker_compose():
    import inspect
    from pathlib import Path

    import yaml
    from django.conf import settings

    from telemed.management.commands import rundemo

    assert '",".join(settings.TELEMED_TASK_QUEUES)' in inspect.getsource(rundemo)
    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())
    consumed: list[str] = []
    for service in compose["services"].values():
        command = service.get("command")
        if isinstance(command, list) and "worker" in command:
            consumed += command[command.index("--queues") + 1].split(",")
    assert sorted(consumed) == sorted(settings.TELEMED_TASK_QUEUES), "each queue consumed by exactly one worker"


def test_a_shared_cache_is_redis_or_refused(monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import telemed.settings as portal_settings

    monkeypatch.setenv("TELEMED_CACHE_URL", "redis://127.0.0.1:6379/3")
    assert importlib.reload(portal_settings).CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    monkeypatch.setenv("TELEMED_CACHE_URL", "memcached://127.0.0.1:11211")
    with pytest.raises(ImproperlyConfigured, match="TELEMED_CACHE_URL"):
        importlib.reload(portal_settings)
    monkeypatch.delenv("TELEMED_CACHE_URL")
    importlib.reload(portal_settings)


def test_the_sequencers_routine_log_lines_are_dropped_and_its_failures_kept():
    """The sequencer runs every second: its "sent / received / succeeded" INFO lines would flood the worker's
    log (one line a second each), so a handler filter drops them; anything at WARNING or above stays, and
    other tasks' INFO lines stay."""
    import logging

    from telemed.celery import RoutineTaskLogFilter, _quiet_routine_tasks

    def record(level, msg, *args):
        return logging.LogRecord("celery.app.trace", level, __file__, 1, msg, args, None)

    logger = logging.getLogger("test.quiet")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        _quiet_routine_tasks(logger=logger)
        _quiet_routine_tasks(logger=logger)  # idempotent: Celery may call both signals for one logger
        assert sum(isinstance(f, RoutineTaskLogFilter) for f in handler.filters) == 1
        assert not handler.filter(record(logging.INFO, "Task %s[%s] succeeded in 0.01s: None", "audit.sequence_chain", "1"))
        assert not handler.filter(record(logging.INFO, "Scheduler: Sending due task jl-a1-audit-sequencer (audit.sequence_chain)"))
        assert handler.filter(record(logging.ERROR, "Task %s[%s] raised unexpected: OperationalError", "audit.sequence_chain", "2"))
        assert handler.filter(record(logging.INFO, "Task %s[%s] succeeded in 0.2s: 3", "consultations.obligation_sweep", "3"))
    finally:
        logger.removeHandler(handler)
