"""Webhook subscriptions per partner application (issue 14): a subscription an application makes
over the API is its own; the facility administrator may give one to an application on the page; an
application receives only the events its scopes let it read (JL-A2) and nothing once revoked or
expired; the application shows on the pages and in the API; every step is on record (JL-A1).

Deliveries go to a real receiver on 127.0.0.1 (``Receiver`` of tests/telemed/test_webhooks.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from audit.choices import EventType
from audit.models import AuditEvent
from facilities.choices import StaffRole
from telemed.models import WebhookDelivery, WebhookSubscription
from telemed.oauth import rules as oauth_rules
from telemed.oauth import services as oauth_services
from telemed.webhooks import rules
from telemed.webhooks.services import webhook_deliveries_send, webhook_subscription_create
from tests.telemed.test_oauth_clients import bearer, token_for
from tests.telemed.test_webhooks import Receiver, verify

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-11-20T10:00:00+08:00")]

STATE = rules.WebhookEventType.CONSULTATION_STATE_CHANGED
PAID = rules.WebhookEventType.STATEMENT_PAID
HOOKS = "webhooks-api:subscription-list"


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def receiver():
    r = Receiver()
    r.up()
    yield r
    r.down()


@pytest.fixture
def admin(world):
    from tests.factories import staff

    return staff(world.invited, StaffRole.FACILITY_ADMIN, username="invited_admin")


def register(admin, facility, scopes=("consultations:read", "webhooks:manage"), **kwargs):
    return oauth_services.partner_client_register(actor=admin, facility=facility, name="RIS", scopes=list(scopes), **kwargs)


def api_for(client, secret):
    return bearer(token_for(client, secret))


# --- Rules ---------------------------------------------------------------------------------------


def test_every_event_type_needs_a_read_scope_of_the_catalogue():
    assert set(rules.EVENT_SCOPES) == set(rules.WebhookEventType.values)
    assert set(rules.EVENT_SCOPES.values()) <= set(oauth_rules.SCOPES)
    assert all(scope.endswith(":read") for scope in rules.EVENT_SCOPES.values())
    assert rules.event_types_unreadable([STATE, PAID], ["consultations:read"]) == [PAID]
    assert rules.event_types_unreadable([STATE], []) == [STATE]


# --- Created over the API by an application: its own -----------------------------------------------


def test_an_application_subscribes_for_itself_and_receives_signed_events(world, admin, receiver):
    client, secret = register(admin, world.invited)
    api = api_for(client, secret)
    response = api.post(reverse(HOOKS), {"target_url": receiver.url, "event_types": [STATE]}, format="json",
                        HTTP_IDEMPOTENCY_KEY="sub-1")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["client"] == client.client_id and body["client_name"] == "RIS"
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert subscription.client == client
    created = AuditEvent.objects.get(event_type=EventType.WEBHOOK_SUBSCRIPTION_CREATE)
    assert created.details["client_id"] == client.client_id and body["secret"] not in str(created.details)

    world.sent()
    webhook_deliveries_send()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "delivered"
    request = receiver.requests[-1]
    assert verify(body["secret"], request["headers"], request["body"], now=timezone.now().timestamp())
    log = api.get(reverse("webhooks-api:delivery-list")).json()["results"]
    assert [(row["client"], row["event_id"]) for row in log] == [(client.client_id, str(delivery.event_id))]


def test_an_application_cannot_subscribe_to_events_its_scopes_cannot_read_and_it_is_on_record(world, admin, receiver):
    """JL-A2: statements need billing:read; the refusal is audited (JL-A1)."""
    client, secret = register(admin, world.invited)
    response = api_for(client, secret).post(reverse(HOOKS), {"target_url": receiver.url, "event_types": [STATE, PAID]},
                                            format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "webhook_event_type_not_allowed"
    assert response.json()["extra"]["required_scopes"] == ["billing:read"]
    assert not WebhookSubscription.objects.exists()
    refused = AuditEvent.objects.get(event_type=EventType.WEBHOOK_SUBSCRIPTION_CREATE)
    assert refused.outcome == "failure" and refused.details["client_id"] == client.client_id


def test_an_application_cannot_subscribe_for_another_and_does_not_see_anothers(world, admin, receiver):
    mine, my_secret = register(admin, world.invited)
    other, _other_secret = register(admin, world.invited)
    theirs, _ = webhook_subscription_create(actor=admin, facility=world.invited, target_url=receiver.url,
                                            event_types=[STATE], client=other)
    facility_wide, _ = webhook_subscription_create(actor=admin, facility=world.invited, target_url=receiver.url,
                                                   event_types=[STATE])
    api = api_for(mine, my_secret)
    response = api.post(reverse(HOOKS), {"target_url": receiver.url, "event_types": [STATE], "client": other.client_id},
                        format="json")
    assert response.status_code == 400 and response.json()["code"] == "webhook_client_invalid"
    listed = [row["id"] for row in api.get(reverse(HOOKS)).json()["results"]]
    assert listed == [facility_wide.pk]  # facility-wide ones stay visible to the facility's systems
    assert api.get(reverse("webhooks-api:subscription-detail", kwargs={"pk": theirs.pk})).status_code == 404


def test_the_administrator_sees_every_application_subscription(world, admin, receiver):
    from tests.api_cases import token_client

    client, _secret = register(admin, world.invited)
    webhook_subscription_create(actor=admin, facility=world.invited, target_url=receiver.url, event_types=[STATE], client=client)
    rows = token_client(admin).get(reverse(HOOKS)).json()["results"]
    assert [row["client"] for row in rows] == [client.client_id]


# --- Delivery follows the scopes and the client's life ------------------------------------------------


def test_only_readable_events_reach_an_applications_subscription(world, admin, receiver):
    reader, _ = register(admin, world.invited, scopes=("consultations:read",))
    facility_reader, _ = register(admin, world.invited, scopes=("facilities:read",))
    ok, _ = webhook_subscription_create(actor=admin, facility=world.invited, target_url=receiver.url,
                                        event_types=[STATE], client=reader)
    # Made before the scope check existed (or by hand): the outbox still refuses it the event.
    blind = WebhookSubscription.objects.create(
        facility=world.invited, client=facility_reader, created_by=admin, created_at=timezone.now(),
        target_url=receiver.url, event_types=[STATE], secret="whsec_x",
    )
    world.sent()
    assert list(WebhookDelivery.objects.values_list("subscription_id", flat=True)) == [ok.pk]
    assert not blind.deliveries.exists()


def test_revoking_the_application_disables_its_subscriptions_on_record_and_stops_delivery(world, admin, receiver):
    client, _secret = register(admin, world.invited)
    subscription, _ = webhook_subscription_create(actor=admin, facility=world.invited, target_url=receiver.url,
                                                  event_types=[STATE], client=client)
    facility_wide, _ = webhook_subscription_create(actor=admin, facility=world.invited, target_url=receiver.url,
                                                   event_types=[STATE])
    world.sent()  # one delivery each, not sent yet
    oauth_services.partner_client_revoke(actor=admin, client=client, reason="合同终止")
    subscription.refresh_from_db()
    assert not subscription.active and "合同终止" in subscription.disabled_reason
    disabled = AuditEvent.objects.get(event_type=EventType.WEBHOOK_SUBSCRIPTION_DISABLE)
    assert disabled.actor == admin and disabled.details["client_id"] == client.client_id
    revoked = AuditEvent.objects.get(event_type=EventType.OAUTH_CLIENT_REVOKE)
    assert revoked.details["webhook_subscriptions_disabled"] == 1
    webhook_deliveries_send()
    assert WebhookDelivery.objects.get(subscription=subscription).state == "pending"  # never sent
    assert WebhookDelivery.objects.get(subscription=facility_wide).state == "delivered"
    world.sent()
    assert subscription.deliveries.count() == 1  # no new event for a revoked application


def test_an_expired_application_gets_nothing_and_its_subscription_is_disabled_automatically(world, admin, receiver):
    client, _secret = register(admin, world.invited, expires_at=timezone.now() + dt.timedelta(hours=1))
    subscription, _ = webhook_subscription_create(actor=admin, facility=world.invited, target_url=receiver.url,
                                                  event_types=[STATE], client=client)
    world.sent()
    from tests.telemed.test_webhooks import at

    with at(2 * 3600):
        assert webhook_deliveries_send().attempted == 0
        world.sent()
    assert receiver.requests == []
    subscription.refresh_from_db()
    assert not subscription.active and subscription.deliveries.count() == 1
    assert AuditEvent.objects.get(event_type=EventType.WEBHOOK_SUBSCRIPTION_DISABLE).actor is None


# --- The pages -------------------------------------------------------------------------------------


def test_the_administrator_chooses_the_application_on_the_page_and_the_log_shows_it(world, admin, receiver, client):
    app, _secret = register(admin, world.invited)
    revoked, _ = register(admin, world.invited)
    oauth_services.partner_client_revoke(actor=admin, client=revoked, reason="停用")
    client.force_login(admin)
    form = client.get(reverse("webhooks:create")).content.decode()
    assert app.client_id in form and revoked.client_id not in form
    response = client.post(reverse("webhooks:create"), {"facility": world.invited.pk, "client": app.pk,
                                                        "target_url": receiver.url, "event_types": [STATE]})
    assert response.status_code == 200 and app.client_id in response.content.decode()
    subscription = WebhookSubscription.objects.get()
    assert subscription.client == app
    refused = client.post(reverse("webhooks:create"), {"facility": world.invited.pk, "client": app.pk,
                                                       "target_url": receiver.url, "event_types": [PAID]})
    assert refused.status_code == 200 and "billing:read" in refused.content.decode()
    assert WebhookSubscription.objects.count() == 1
    assert app.client_id in client.get(reverse("webhooks:list")).content.decode()
    log = client.get(reverse("webhooks:deliveries", kwargs={"pk": subscription.pk})).content.decode()
    assert app.client_id in log and "RIS" in log
