"""examples/partner_client.py (issue 14) against a live portal: the example's ``main()`` runs a whole
case over HTTP as the demo's three partner applications — the inviting HIS, the invited hospital's
consultation centre and its expert's signing workstation — and the case must end signed, closed and
charged in the database, with the acceptance pushed to the example's own receiver, signed, once.

The server is pytest-django's ``live_server`` (a thread of this process, SQLite or PostgreSQL alike);
Celery runs eagerly, so the webhook task sent after the accept commits delivers at once, in the
server's thread, to the receiver the example runs on 127.0.0.1 (``TELEMED_WEBHOOK_ALLOW_PRIVATE`` is
on in the test settings)."""

from __future__ import annotations

import importlib.util
import io
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from billing.models import Charge
from consultations.models import Consultation
from facilities import demo_data
from telemed.models import WebhookDelivery, WebhookEvent, WebhookSubscription

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

EXAMPLE = Path(settings.BASE_DIR) / "examples" / "partner_client.py"


def load_example():
    spec = importlib.util.spec_from_file_location("partner_client_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@contextmanager
def eager_celery():
    """Tasks run in-process as they are sent (the webhook delivery after the accept commits)."""
    from telemed.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def test_the_example_partner_client_runs_a_whole_case_and_gets_the_signed_acceptance(live_server, capsys):
    call_command("seed_demo", stdout=io.StringIO())
    example = load_example()

    with eager_celery():
        result = example.main(["--base-url", live_server.url, "--webhook-timeout", "30"])

    case = Consultation.objects.select_related("inviting", "invited").get(pk=result["case"]["id"])
    assert case.state == "closed"
    assert (case.inviting.name, case.invited.name) == ("农安县人民医院", "吉林大学第一医院")
    opinion = case.opinions.get()
    assert opinion.signed_by.user.username == "expert_jdyy"  # JL-C6: the expert, through his own workstation
    charge = Charge.objects.get(consultation=case)
    assert charge.fee_fen > 0 and charge.inviting_share_fen + charge.invited_share_fen == charge.fee_fen
    assert result["charge"]["id"] == charge.pk

    # The acceptance reached the example's receiver: delivered once, under the HIS's own subscription,
    # its signature verified by the receiver (a refused one would have been answered 401, not delivered).
    subscription = WebhookSubscription.objects.select_related("client__application").get(pk=result["subscription"]["id"])
    assert subscription.client.client_id == demo_data.DEMO_CLIENT_ID
    assert not subscription.active  # the example cleans up after itself
    accepted = WebhookEvent.objects.get(pk=result["accepted_event"]["id"])
    assert accepted.payload["data"]["action"] == "consultation.accept"
    delivery = WebhookDelivery.objects.get(event=accepted, subscription=subscription)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    delivered = set(WebhookDelivery.objects.filter(subscription=subscription, state="delivered")
                    .values_list("event_id", flat=True))
    assert {str(e) for e in delivered} == set(result["events_seen"])  # each event id taken once
    out = capsys.readouterr().out
    assert "acceptance confirmed by webhook" in out and "refused" in out and " 0 refused" in out
    for step in ("patient registered", "consent recorded", "document uploaded", "found in the invited inbox",
                 "expert assigned", "opinion signed", "charge"):
        assert step in out
