"""Webhooks (issue 14): the outbox, signed delivery to a real receiver on 127.0.0.1, back-off,
order per resource, disabling after persistent failure, the API's scope and URL checks.

The receiver is ``http.server`` in a thread. The tests call the delivery function (the sweep's
body) directly instead of waiting for Celery, and move the clock with time-machine; the only
real waiting is the one-second client time limit of the "slow" case, ended by a threading event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.choices import EventType
from audit.models import AuditEvent
from consultations import services as consultation_services
from consultations.choices import TriggerKind
from consultations.models import Notification
from facilities.choices import StaffRole
from telemed.errors import ApplicationError
from telemed.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from telemed.webhooks import rules
from telemed.webhooks.services import (
    webhook_deliveries_send,
    webhook_redeliver,
    webhook_subscription_create,
    webhook_subscription_disable,
)
from tests.api_cases import token_client
from tests.factories import FacilityFactory, division, staff

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-11-20T10:00:00+08:00")]

STATE = rules.WebhookEventType.CONSULTATION_STATE_CHANGED


# --- The receiver --------------------------------------------------------------------------------


class Receiver:
    """A real HTTP receiver on the loopback. ``answer(event_id)`` says what to do with a request:
    "ok" (200), "500", or "slow" (hold the answer until ``release`` is set)."""

    def __init__(self):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.answer = lambda event_id: "ok"
        self.requests: list[dict] = []
        self.release = threading.Event()
        self.server = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/telemed?source=jl"

    def acknowledged(self) -> list[str]:
        return [r["event_id"] for r in self.requests if r["answered"] == 200]

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event_id = self.headers["X-Telemed-Event-Id"]
                what = receiver.answer(event_id)
                record = {"event_id": event_id, "headers": dict(self.headers), "body": body, "path": self.path, "answered": None}
                receiver.requests.append(record)
                if what == "slow":
                    receiver.release.wait(10)
                status = 500 if what == "500" else 200
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"boom\x00\x1b[31m" + b"x" * 3000 if status == 500 else b"ok")
                    record["answered"] = status if what != "slow" else "too late"
                except OSError:
                    record["answered"] = "hung up"

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self.server is not None:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()
            self._thread.join(timeout=10)
            self.server = None


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.down()


@pytest.fixture
def admin(world):
    return staff(world.invited, StaffRole.FACILITY_ADMIN, username="invited_admin")


def subscribe(world, admin, url, types=(STATE,)):
    subscription, secret = webhook_subscription_create(actor=admin, facility=world.invited, target_url=url, event_types=list(types))
    return subscription, secret


def verify(secret: str, headers: dict, body: bytes, now: float) -> bool:
    """The receiver's recipe, exactly as docs/architecture.md ("Webhooks") states it."""
    timestamp = headers["X-Telemed-Timestamp"]
    if abs(now - int(timestamp)) > 300:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Telemed-Signature"])


def at(delta_seconds: float, *, base: dt.datetime | None = None):
    """The clock stopped ``delta_seconds`` after ``base`` (default: now)."""
    return time_machine.travel((base or timezone.now()) + dt.timedelta(seconds=delta_seconds), tick=False)


# --- Rules ---------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_and_is_capped():
    assert [rules.backoff_seconds(n, base=30, cap=3600) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


def test_signature_is_hmac_sha256_over_timestamp_dot_body_and_refuses_stale_timestamps():
    body = b'{"id":"x"}'
    header = rules.signature("whsec_k", 1_700_000_000, body)
    assert header == "sha256=" + hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert rules.signature_valid("whsec_k", "1700000000", body, header, now=1_700_000_299)
    assert not rules.signature_valid("whsec_k", "1700000000", body, header, now=1_700_000_301)  # replay window
    assert not rules.signature_valid("whsec_k", "1700000000", body + b" ", header, now=1_700_000_000)
    assert not rules.signature_valid("other", "1700000000", body, header, now=1_700_000_000)


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://his.example.org/hook", "webhook_url_scheme"),
    ("javascript:alert(1)", "webhook_url_scheme"),
    ("https://user:pass@his.example.org/hook", "webhook_url_credentials"),
    ("https:///hook", "webhook_url_invalid"),
    ("https://his.example.org:99999/hook", "webhook_url_invalid"),
    ("https://his.example.org/hook#x", "webhook_url_invalid"),
])
def test_target_url_refusals_carry_stable_codes(url, code):
    assert rules.target_url_refusal(url)[0] == code


def test_every_audit_event_in_the_table_is_in_the_catalogue_and_refusals_produce_nothing():
    assert set(rules.AUDIT_TO_WEBHOOK) <= set(EventType.values)
    assert set(rules.AUDIT_TO_WEBHOOK.values()) | rules.DIRECT == set(rules.WebhookEventType)
    assert rules.webhook_type_for("consultation.accept", "failure") is None
    assert rules.webhook_type_for("obligation.violated", "failure") == rules.WebhookEventType.OBLIGATION_VIOLATED


# --- The outbox ----------------------------------------------------------------------------------


def test_the_change_writes_one_event_and_one_delivery_per_interested_subscription(world, admin, receiver):
    subscription, secret = subscribe(world, admin, receiver.url)
    other_types, _ = subscribe(world, admin, receiver.url, types=[rules.WebhookEventType.STATEMENT_PAID])
    elsewhere = FacilityFactory(name="吉林市中心医院", division=division("220202"))
    webhook_subscription_create(actor=staff(elsewhere, StaffRole.PARTNER_SYSTEM), facility=elsewhere,
                                target_url=receiver.url, event_types=[STATE])
    consultation = world.sent()
    event = WebhookEvent.objects.get()
    assert [d.subscription_id for d in event.deliveries.all()] == [subscription.pk]
    assert event.payload["type"] == "consultation.state_changed"
    assert event.payload["resource"] == {"type": "consultation", "id": str(consultation.pk),
                                         "url": reverse("consultations-api:consultation-detail", kwargs={"pk": consultation.pk})}
    assert event.payload["data"]["action"] == "consultation.send"
    assert event.payload["data"]["consultation_number"] == consultation.number
    text = json.dumps(event.payload, ensure_ascii=False)
    assert "220102196005011234" not in text and "13812341234" not in text and "张三" not in text  # JL-C9
    assert other_types.deliveries.count() == 0


def test_a_rolled_back_change_leaves_no_event(world, admin, receiver):
    subscribe(world, admin, receiver.url)
    consultation = world.sent()
    before = WebhookEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        consultation_services.consultation_accept(actor=world.invited_coordinator, consultation=consultation)
        raise RuntimeError("the request fails after the service")
    with pytest.raises(ApplicationError):  # JL-C4: a decline needs a reason; refused, nothing changes
        consultation_services.consultation_decline(actor=world.invited_coordinator, consultation=consultation, reason=" ")
    assert WebhookEvent.objects.count() == before
    consultation.refresh_from_db()
    assert consultation.state == "sent"


def test_a_jl_c2_reminder_emits_obligation_due_soon(world, admin, receiver):
    subscription = webhook_subscription_create(actor=admin, facility=world.invited,
                                               target_url=receiver.url, event_types=["obligation.due_soon"])[0]
    inviting_admin = staff(world.inviting, StaffRole.FACILITY_ADMIN)
    inviting_subscription, _secret = webhook_subscription_create(actor=inviting_admin, facility=world.inviting,
                                                                 target_url=receiver.url, event_types=["obligation.due_soon"])
    patient = world.patient()
    obligation = consultation_services.obligation_open(actor=world.clinician, patient=patient, trigger=TriggerKind.PATIENT_REQUEST,
                                                       event_at=timezone.now() - dt.timedelta(hours=23, minutes=30))
    consultation_services.obligation_sweep()
    consultation_services.obligation_sweep()  # idempotent: the reminder is claimed once
    event = WebhookEvent.objects.get()
    assert event.payload["type"] == "obligation.due_soon"
    assert event.payload["resource"]["type"] == "obligation" and event.payload["resource"]["id"] == str(obligation.pk)
    assert event.payload["data"]["hours_left"] == 1 and "张三" not in json.dumps(event.payload, ensure_ascii=False)
    assert [d.subscription_id for d in event.deliveries.all()] == [inviting_subscription.pk]
    assert subscription.deliveries.count() == 0


def test_a_missed_jl_c2_deadline_emits_obligation_violated_from_the_batched_sweep(world, admin, receiver):
    """Issue 11: the sweep writes its violations and events as tuples; the outbox still reports the
    violation as its obligation, to the inviting facility's subscription only, without the patient."""
    inviting_admin = staff(world.inviting, StaffRole.FACILITY_ADMIN)
    subscription, _secret = webhook_subscription_create(actor=inviting_admin, facility=world.inviting,
                                                        target_url=receiver.url, event_types=["obligation.violated"])
    obligation = consultation_services.obligation_open(actor=world.clinician, patient=world.patient(), trigger=TriggerKind.PATIENT_REQUEST,
                                                       event_at=timezone.now() - dt.timedelta(hours=1))
    with time_machine.travel(timezone.now() + dt.timedelta(days=2), tick=False):
        assert consultation_services.obligation_sweep().violated == 1
    event = WebhookEvent.objects.get()
    assert event.payload["type"] == "obligation.violated"
    assert event.payload["resource"]["type"] == "obligation" and event.payload["resource"]["id"] == str(obligation.pk)
    assert event.payload["resource"]["url"].endswith(f"/{obligation.pk}/")
    assert "张三" not in json.dumps(event.payload, ensure_ascii=False)
    assert [d.subscription_id for d in event.deliveries.all()] == [subscription.pk]


# --- Delivery to the real receiver ---------------------------------------------------------------


def test_down_slow_500_then_up_is_delivered_once_with_back_off_and_a_valid_signature(world, admin, receiver, settings):
    settings.TELEMED_WEBHOOK_TIMEOUT_SECONDS = 1
    settings.TELEMED_WEBHOOK_BACKOFF_SECONDS = 30
    subscription, secret = subscribe(world, admin, receiver.url)
    world.sent()
    delivery = WebhookDelivery.objects.get()
    start = timezone.now()

    # 1. Down: connection refused.
    assert webhook_deliveries_send().attempted == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("failed", 1, None)
    assert "ConnectionRefused" in delivery.last_error
    assert delivery.next_attempt_at == pytest.approx(timezone.now() + dt.timedelta(seconds=30), abs=dt.timedelta(seconds=5))
    assert webhook_deliveries_send().attempted == 0  # not due yet

    # 2. Slow: the client's time limit ends the attempt.
    receiver.up()
    receiver.answer = lambda event_id: "slow"
    with at(31, base=start):
        assert webhook_deliveries_send().attempted == 1
    receiver.release.set()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 2)
    assert "timed out" in delivery.last_error.lower() or "timeout" in delivery.last_error.lower()

    # 3. 500: the excerpt is kept, cleaned and truncated.
    receiver.answer = lambda event_id: "500"
    with at(31 + 59, base=start):
        assert webhook_deliveries_send().attempted == 0  # back-off doubled: 60 s after the second failure
    with at(31 + 61, base=start):
        webhook_deliveries_send()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("failed", 3, 500)
    assert delivery.last_response.startswith("boom") and "\x00" not in delivery.last_response and "\x1b" not in delivery.last_response
    assert len(delivery.last_response) <= 500

    # 4. Up: delivered, once; later sweeps send nothing more.
    receiver.answer = lambda event_id: "ok"
    with at(31 + 61 + 121, base=start):
        assert webhook_deliveries_send().delivered == 1
    with at(3600, base=start):
        assert webhook_deliveries_send().attempted == 0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 4, 200)
    event_id = str(delivery.event_id)
    assert receiver.acknowledged() == [event_id]
    assert {r["event_id"] for r in receiver.requests} == {event_id}  # every retry carries the same id
    last = receiver.requests[-1]
    assert last["path"] == "/hooks/telemed?source=jl"
    assert verify(secret, last["headers"], last["body"], now=time.time())
    assert json.loads(last["body"])["id"] == event_id
    assert last["headers"]["X-Telemed-Event-Type"] == "consultation.state_changed"
    assert not verify("whsec_wrong", last["headers"], last["body"], now=time.time())
    assert timezone.now() >= start


def test_order_per_resource_holds_a_later_event_behind_an_earlier_failing_one(world, admin, receiver):
    subscription, _secret = subscribe(world, admin, receiver.url)
    first_case = world.sent()
    consultation_services.consultation_accept(actor=world.invited_coordinator, consultation=first_case)
    world.sent()  # another case: not held back by the first one
    sent_event, accepted_event, other_event = (str(d.event_id) for d in WebhookDelivery.objects.order_by("id"))
    receiver.up()
    receiver.answer = lambda event_id: "500" if event_id == sent_event else "ok"

    webhook_deliveries_send()
    assert [r["event_id"] for r in receiver.requests] == [sent_event, other_event]  # accepted_event is held back
    receiver.answer = lambda event_id: "ok"
    with at(31):
        webhook_deliveries_send()
    assert [r["event_id"] for r in receiver.requests] == [sent_event, other_event, sent_event, accepted_event]
    assert sorted(receiver.acknowledged()) == sorted([sent_event, accepted_event, other_event])
    assert len(receiver.acknowledged()) == len(set(receiver.acknowledged()))  # no duplicate event ids


def test_persistent_failure_abandons_then_disables_and_tells_the_administrators(world, admin, receiver, settings):
    settings.TELEMED_WEBHOOK_MAX_ATTEMPTS = 2
    settings.TELEMED_WEBHOOK_DISABLE_AFTER = 2
    subscription, _secret = subscribe(world, admin, receiver.url)
    world.sent()
    world.sent()
    receiver.up()
    receiver.answer = lambda event_id: "500"
    webhook_deliveries_send()
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"failed"}
    with at(31):
        webhook_deliveries_send()
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"abandoned"}
    subscription.refresh_from_db()
    assert not subscription.active and subscription.failure_count == 2 and subscription.disabled_reason
    assert AuditEvent.objects.filter(event_type=EventType.WEBHOOK_SUBSCRIPTION_DISABLE, object_id=str(subscription.pk),
                                     actor__isnull=True).count() == 1
    notice = Notification.objects.get(user=admin)
    assert "停用" in notice.title
    # A disabled subscription gets no new deliveries and its open ones are not sent.
    requests_before = len(receiver.requests)
    world.sent()
    with at(3600):
        webhook_deliveries_send()
    assert len(receiver.requests) == requests_before
    assert WebhookDelivery.objects.count() == 2


def test_a_delivery_is_reset_by_success(world, admin, receiver, settings):
    settings.TELEMED_WEBHOOK_MAX_ATTEMPTS = 1
    subscription, _secret = subscribe(world, admin, receiver.url)
    world.sent()
    webhook_deliveries_send()  # down: abandoned at once
    subscription.refresh_from_db()
    assert subscription.failure_count == 1
    receiver.up()
    world.sent()
    webhook_deliveries_send()
    subscription.refresh_from_db()
    assert subscription.failure_count == 0 and subscription.active


def test_manual_redelivery_sends_the_same_event_again_and_is_audited(world, admin, receiver, settings):
    settings.TELEMED_WEBHOOK_MAX_ATTEMPTS = 1
    subscribe(world, admin, receiver.url)
    world.sent()
    webhook_deliveries_send()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "abandoned"
    receiver.up()
    delivery = webhook_redeliver(actor=admin, delivery=delivery)
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    webhook_deliveries_send()
    delivery.refresh_from_db()
    assert delivery.state == "delivered"
    assert receiver.acknowledged() == [str(delivery.event_id)]
    assert AuditEvent.objects.filter(event_type=EventType.WEBHOOK_DELIVERY_REDELIVER, actor=admin).count() == 1


# --- The API -------------------------------------------------------------------------------------


def test_api_create_shows_the_secret_once_and_writes_an_audit_event(world, receiver):
    partner = staff(world.invited, StaffRole.PARTNER_SYSTEM)
    client = token_client(partner)
    response = client.post(reverse("webhooks-api:subscription-list"),
                           {"target_url": receiver.url, "event_types": [STATE, "opinion.signed"], "description": "HIS"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["facility"] == world.invited.pk
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert subscription.secret == body["secret"]  # kept for signing
    detail = client.get(reverse("webhooks-api:subscription-detail", kwargs={"pk": subscription.pk}))
    assert detail.status_code == 200 and "secret" not in detail.json() and detail["ETag"]
    listed = client.get(reverse("webhooks-api:subscription-list")).json()
    assert [row["id"] for row in listed["results"]] == [subscription.pk] and "secret" not in listed["results"][0]
    created = AuditEvent.objects.get(event_type=EventType.WEBHOOK_SUBSCRIPTION_CREATE)
    assert created.actor == partner and body["secret"] not in json.dumps(created.details)

    response = client.post(reverse("webhooks-api:subscription-disable", kwargs={"pk": subscription.pk}), {"reason": "换新地址"}, format="json")
    assert response.status_code == 200 and response.json()["active"] is False
    assert AuditEvent.objects.filter(event_type=EventType.WEBHOOK_SUBSCRIPTION_DISABLE, actor=partner).count() == 1


@pytest.mark.parametrize(("url", "code", "allow_private"), [
    ("ftp://his.example.org/hook", "webhook_url_scheme", True),
    ("http://his:secret@his.example.org/hook", "webhook_url_credentials", True),
    ("http://127.0.0.1:8080/hook", "webhook_url_private", False),
    ("http://10.1.2.3/hook", "webhook_url_private", False),
    ("http://[::1]/hook", "webhook_url_private", False),
    ("http://169.254.169.254/latest", "webhook_url_private", False),
])
def test_api_refuses_bad_target_urls_with_codes(world, settings, url, code, allow_private):
    settings.TELEMED_WEBHOOK_ALLOW_PRIVATE = allow_private
    client = token_client(staff(world.invited, StaffRole.FACILITY_ADMIN))
    response = client.post(reverse("webhooks-api:subscription-list"), {"target_url": url, "event_types": [STATE]}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["message"]
    assert not WebhookSubscription.objects.exists()


def test_api_refuses_unknown_event_types_and_wrong_roles(world, receiver):
    client = token_client(staff(world.invited, StaffRole.FACILITY_ADMIN))
    response = client.post(reverse("webhooks-api:subscription-list"), {"target_url": receiver.url, "event_types": ["patient.everything"]}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "webhook_event_type_invalid"
    response = token_client(world.invited_coordinator).post(
        reverse("webhooks-api:subscription-list"), {"target_url": receiver.url, "event_types": [STATE]}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert token_client(world.invited_coordinator).get(reverse("webhooks-api:subscription-list")).json()["results"] == []


def test_api_another_facilitys_subscription_and_deliveries_are_404(world, admin, receiver, settings):
    settings.TELEMED_WEBHOOK_MAX_ATTEMPTS = 1
    subscription, _secret = subscribe(world, admin, receiver.url)
    world.sent()
    delivery = WebhookDelivery.objects.get()
    outsider = token_client(staff(world.inviting, StaffRole.PARTNER_SYSTEM))  # a party to the case, not the subscriber
    for name, pk in (("subscription-detail", subscription.pk), ("delivery-detail", delivery.pk)):
        assert outsider.get(reverse(f"webhooks-api:{name}", kwargs={"pk": pk})).status_code == 404
    for name, pk in (("subscription-disable", subscription.pk), ("delivery-redeliver", delivery.pk)):
        assert outsider.post(reverse(f"webhooks-api:{name}", kwargs={"pk": pk}), {}, format="json").status_code == 404
    assert outsider.get(reverse("webhooks-api:delivery-list")).json()["results"] == []


def test_api_delivery_log_and_redeliver(world, admin, receiver, settings, django_assert_max_num_queries):
    settings.TELEMED_WEBHOOK_MAX_ATTEMPTS = 1
    subscription, _secret = subscribe(world, admin, receiver.url)
    for _ in range(3):
        world.sent()
    webhook_deliveries_send()
    client = token_client(admin)
    with django_assert_max_num_queries(8):
        rows = client.get(reverse("webhooks-api:delivery-list"), {"subscription": subscription.pk}).json()["results"]
    assert [row["state"] for row in rows] == ["abandoned"] * 3
    assert rows[0]["payload"]["type"] == "consultation.state_changed" and rows[0]["last_error"]
    receiver.up()
    response = client.post(reverse("webhooks-api:delivery-redeliver", kwargs={"pk": rows[0]["id"]}), format="json")
    assert response.status_code == 200 and response.json()["state"] == "pending"
    webhook_subscription_disable(actor=admin, subscription=subscription, reason="停用")
    response = client.post(reverse("webhooks-api:delivery-redeliver", kwargs={"pk": rows[1]["id"]}), format="json")
    assert response.status_code == 409 and response.json()["code"] == "webhook_disabled"


def test_openapi_publishes_the_payload_and_the_signature_scheme():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "WebhookPayload" in schema["components"]["schemas"]
    assert "X-Telemed-Signature" in schema["paths"]["/api/v1/webhooks/"]["post"]["description"]


# --- The pages -----------------------------------------------------------------------------------


def test_pages_create_shows_the_secret_once_then_list_log_redeliver_and_disable(world, admin, receiver, client, settings):
    settings.TELEMED_WEBHOOK_MAX_ATTEMPTS = 1
    client.force_login(admin)
    assert client.get(reverse("webhooks:create")).status_code == 200
    response = client.post(reverse("webhooks:create"), {"facility": world.invited.pk, "target_url": receiver.url,
                                                        "event_types": [STATE], "description": "HIS"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret in response.content.decode()
    listing = client.get(reverse("webhooks:list")).content.decode()
    assert receiver.url.replace("&", "&amp;") in listing and subscription.secret not in listing

    refused = client.post(reverse("webhooks:create"), {"facility": world.invited.pk, "target_url": "ftp://x.example/h", "event_types": [STATE]})
    assert refused.status_code == 200 and "http 或 https" in refused.content.decode()
    assert WebhookSubscription.objects.count() == 1

    world.sent()
    webhook_deliveries_send()  # receiver down: abandoned
    delivery = WebhookDelivery.objects.get()
    log = client.get(reverse("webhooks:deliveries", kwargs={"pk": subscription.pk}))
    assert log.status_code == 200 and str(delivery.event_id) in log.content.decode() and subscription.secret not in log.content.decode()
    assert client.post(reverse("webhooks:redeliver", kwargs={"pk": delivery.pk})).status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == "pending"
    assert client.post(reverse("webhooks:disable", kwargs={"pk": subscription.pk})).status_code == 302
    subscription.refresh_from_db()
    assert not subscription.active


def test_pages_are_for_facility_administrators_only(world, client):
    client.force_login(world.invited_coordinator)
    assert client.get(reverse("webhooks:list")).status_code == 403
    assert client.get(reverse("webhooks:create")).status_code == 403
