"""Settings fail loudly, request ids reach the audit log and Celery tasks, errors keep one shape."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.tasks import audit_verify_chain_task
from telemed import celery as telemed_celery
from telemed.context import RequestContextMiddleware, current, use_context
from telemed.errors import ApplicationError, api_exception_handler

ROOT = Path(__file__).resolve().parents[2]


def _start_django(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL must name PostgreSQL"),
        ("CELERY_BROKER_URL", "amqp://guest@localhost//", "CELERY_BROKER_URL must be"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG='maybe'"),
        ("TELEMED_UNDIAGNOSED_AFTER_HOURS", "three days", "expected a whole number"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_clear_message(name, value, message, tmp_path):
    result = _start_django({name: value, "TELEMED_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_embedded_defaults_are_sqlite_and_the_filesystem_broker(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.TIME_ZONE, s.LANGUAGE_CODE, s.USE_TZ)"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env["TELEMED_VAR_DIR"] = str(tmp_path)
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "Asia/Shanghai", "zh-hans", "True"]
    assert (tmp_path / "celery" / "queue").is_dir()


def test_the_filesystem_broker_keeps_its_control_files_under_the_var_directory(tmp_path):
    """kombu's filesystem transport writes its exchange tables to ``./control`` unless told otherwise:
    a run in the checkout left a ``control/`` folder behind. They belong under TELEMED_VAR_DIR."""
    workdir, var = tmp_path / "cwd", tmp_path / "var"
    workdir.mkdir()
    code = "import django; django.setup(); from telemed.celery import app; app.send_task('telemed.probe')"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(TELEMED_VAR_DIR=str(var), PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="telemed.settings")
    subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    assert not (workdir / "control").exists()
    # The exchange table of the default queue (TELEMED_TASK_QUEUES: "default", docs/scaling.md).
    assert [p.name for p in (var / "celery" / "control").glob("*.exchange")] == ["default.exchange"]
    assert any((var / "celery" / "queue").iterdir())  # the message itself was published


def test_request_id_is_generated_or_accepted_and_echoed():
    seen = {}

    def view(request):
        seen["ctx"] = current()
        from django.http import HttpResponse

        return HttpResponse("ok")

    middleware = RequestContextMiddleware(view)
    response = middleware(RequestFactory().get("/api/v1/x", HTTP_X_REQUEST_ID="partner-req-0001", REMOTE_ADDR="10.0.0.9"))
    assert response["X-Request-ID"] == "partner-req-0001"
    assert seen["ctx"].request_id == "partner-req-0001" and seen["ctx"].ip_address == "10.0.0.9" and seen["ctx"].channel == "api"
    # A malformed id is replaced, never trusted into the log.
    response = middleware(RequestFactory().get("/", HTTP_X_REQUEST_ID="bad id; drop table"))
    assert response["X-Request-ID"] != "bad id; drop table" and len(response["X-Request-ID"]) == 32
    assert current().request_id == ""  # nothing leaks past the request


def test_request_id_travels_with_a_task_to_the_worker():
    headers: dict = {}
    with use_context(request_id="req-abcdef12"):
        telemed_celery._carry_request_id(headers=headers)
    assert headers == {telemed_celery.REQUEST_ID_HEADER: "req-abcdef12"}

    task = SimpleNamespace(name="audit.verify_chain", request=SimpleNamespace(headers=headers, telemed_request_id=None))
    telemed_celery._enter_task_context(task=task)
    try:
        assert current().request_id == "req-abcdef12" and current().channel == "task:audit.verify_chain"
    finally:
        telemed_celery._leave_task_context()
    assert current().request_id == ""


@pytest.mark.django_db
def test_jl_a1_event_written_by_a_task_carries_the_request_id(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from telemed.celery import app

    app.conf.task_always_eager = True
    try:
        with use_context(request_id="req-from-page-01", channel="web"):
            audit_verify_chain_task.delay()
    finally:
        app.conf.task_always_eager = False
    event = AuditEvent.objects.get(event_type="audit.chain.verify")
    assert event.request_id == "req-from-page-01"
    assert event.channel == "task:audit.verify_chain"
    assert event.details["intact"] is True


def test_application_error_renders_code_message_extra():
    response = api_exception_handler(ApplicationError("JL-F2", "JL-F2 第十二条: 受邀方须为二级以上医疗机构", {"x": 1}), {})
    assert response.status_code == 400
    assert response.data == {"code": "JL-F2", "message": "JL-F2 第十二条: 受邀方须为二级以上医疗机构", "extra": {"x": 1}}


@pytest.mark.django_db
def test_api_errors_share_one_shape_in_chinese():
    response = APIClient().get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"code", "message", "extra"}


@pytest.mark.django_db
def test_chinese_first_regardless_of_the_browser_and_english_on_request(client):
    english_browser = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert english_browser["Content-Language"] == "zh-hans"
    client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    chosen = client.get("/login/")
    assert chosen["Content-Language"] == "en"
    assert '<html lang="en"' in chosen.content.decode()


@pytest.mark.django_db
def test_nothing_is_loaded_from_a_cdn(client):
    """Pages and the API docs reference only our own static files (hospital networks are closed)."""
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="cdn_check"))
    for path in ("/login/", "/api/docs/", "/"):
        body = client.get(path).content.decode()
        for marker in ('src="http', "src='http", 'href="http', "cdn.", "jsdelivr", "unpkg", "googleapis"):
            assert marker not in body, (path, marker)
