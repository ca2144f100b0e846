"""``telemed.transactions``: a refusal on record survives the rollback of the act it refused (JL-A1)."""

import pytest

from audit.models import AuditEvent
from audit.services import audit_event_append, audit_refusal
from telemed.errors import ApplicationError
from telemed.transactions import service_transaction

pytestmark = pytest.mark.django_db


@service_transaction()
def _inner(actor):
    audit_event_append(actor=actor, event_type="record.seal", object_type="x", object_id=1)
    raise audit_refusal(ApplicationError("JL-C8", "JL-C8: 已封存"), actor=actor, event_type="record.change.refuse",
                        object_type="x", object_id=1, details={"act": "test"})


@service_transaction()
def _outer(actor):
    audit_event_append(actor=actor, event_type="record.seal", object_type="x", object_id=2)
    _inner(actor)


@pytest.mark.parametrize("service", [_inner, _outer])
def test_jl_a1_a_refusal_is_written_once_after_the_outermost_rollback(service):
    """JL-A1: the act's own events roll back; the refusal's failure event is written exactly once."""
    with pytest.raises(ApplicationError):
        service(None)

    events = list(AuditEvent.objects.values_list("event_type", "outcome", "details"))
    assert events == [("record.change.refuse", "failure", {"act": "test", "code": "JL-C8", "reason": "JL-C8: 已封存"})]


def test_jl_a1_outside_any_service_transaction_the_refusal_is_written_at_once():
    error = audit_refusal(ApplicationError("JL-F5", "JL-F5: 暂停"), actor=None, event_type="facility.check.refuse")

    assert error.recorded and AuditEvent.objects.get().outcome == "failure"
