"""Shared helpers for partner-API tests (STYLE 7, after NetBox's ``APIViewTestCases``).

- ``token_client(user)`` / ``partner(facility)``: an ``APIClient`` that authenticates the way a
  partner system does, with ``Authorization: Token <key>``.
- ``assert_error(response, status, code)``: the one error contract ``{"code", "message", "extra"}``.
- ``EndpointAccessCases``: subclass it as ``TestSomething`` and implement ``arrange()``; it checks
  the endpoint for anonymous (401 ``not_authenticated``), wrong facility (404 ``not_found``), wrong
  role (403 ``permission_denied``) and right-role access, and for a write that exactly one audit
  event of ``event_type`` was written on success and none on a refusal.
- ``assert_list_queries_constant``: a list costs the same number of queries for 3 rows as for 20.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEvent
from facilities.choices import StaffRole
from tests.factories import staff


def token_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _created = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def partner(facility) -> APIClient:
    """A partner system (HIS) of ``facility``: a user with the partner_system role and a token."""
    return token_client(staff(facility, StaffRole.PARTNER_SYSTEM))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    body = response.json()
    assert set(body) == {"code", "message", "extra"}, body
    assert body["code"] == code, body
    assert body["message"], body
    return body


def audit_count(event_type: str) -> int:
    return AuditEvent.objects.filter(event_type=event_type).count()


def rows(response) -> list[dict]:
    """The rows of a paginated list response."""
    assert response.status_code == 200, (response.status_code, response.data)
    return response.json()["results"]


@dataclass
class Call:
    """One request to an endpoint. ``data`` is built per call, so uploaded files are fresh."""

    method: str
    url: str
    data: Callable[[], dict] | dict | None = None
    format: str = "json"

    def send(self, client: APIClient):
        data = self.data() if callable(self.data) else self.data
        send = getattr(client, self.method.lower())
        if self.method.upper() == "GET":
            return send(self.url, data or {})
        return send(self.url, data or {}, format=self.format)


@dataclass
class Access:
    """What ``EndpointAccessCases.arrange`` returns: the call and who tries it.

    ``wrong_facility``: the right role, but at a facility that does not own the object (404).
    ``wrong_role``: someone who sees the object but lacks the role for this action (403).
    Either may be None where the case does not apply (reads are open to every role).
    """

    call: Call
    right: Any
    wrong_facility: Any = None
    wrong_role: Any = None
    check: Callable[[Any], None] | None = None  # extra assertions on the successful response
    extra: dict = field(default_factory=dict)


class EndpointAccessCases:
    """Mixin for pytest classes: the four access cases of one endpoint, and its audit event."""

    event_type: ClassVar[str | None] = None  # set for writes
    success_status: ClassVar[int] = 200
    wrong_facility_status: ClassVar[int] = 404
    wrong_facility_code: ClassVar[str] = "not_found"

    def arrange(self) -> Access:
        raise NotImplementedError

    def _refused(self, client: APIClient, call: Call, status: int, code: str) -> None:
        before = audit_count(self.event_type) if self.event_type else 0
        assert_error(call.send(client), status, code)
        if self.event_type:
            assert audit_count(self.event_type) == before, f"a refused call wrote {self.event_type}"

    def test_anonymous_gets_401_not_authenticated(self, db):
        access = self.arrange()
        self._refused(APIClient(), access.call, 401, "not_authenticated")

    def test_wrong_facility_gets_404_not_found(self, db):
        access = self.arrange()
        if access.wrong_facility is None:
            return
        self._refused(token_client(access.wrong_facility), access.call, self.wrong_facility_status, self.wrong_facility_code)

    def test_wrong_role_gets_403_permission_denied(self, db):
        access = self.arrange()
        if access.wrong_role is None:
            return
        self._refused(token_client(access.wrong_role), access.call, 403, "permission_denied")

    def test_right_role_succeeds_and_is_audited(self, db):
        access = self.arrange()
        before = audit_count(self.event_type) if self.event_type else 0
        response = access.call.send(token_client(access.right))
        assert response.status_code == self.success_status, (response.status_code, response.data)
        if self.event_type:
            assert audit_count(self.event_type) == before + 1
            event = AuditEvent.objects.filter(event_type=self.event_type).order_by("-sequence").first()
            assert event.actor_id == access.right.pk
            assert event.channel == "api"
        if access.check is not None:
            access.check(response)


def assert_list_queries_constant(
    client: APIClient,
    url: str,
    *,
    add_rows: Callable[[int], None],
    assert_max_num_queries,
    max_queries: int,
) -> None:
    """List ``url`` with 3 rows and with 20: both within ``max_queries``, and the same count.

    ``assert_max_num_queries`` is pytest-django's ``django_assert_max_num_queries`` fixture;
    ``add_rows(n)`` creates ``n`` more rows that ``client`` sees at ``url``.
    """
    counts = []
    for target, add in ((3, 3), (20, 17)):
        add_rows(add)
        with assert_max_num_queries(max_queries) as captured:
            response = client.get(url)
        assert response.status_code == 200, response.data
        assert response.json()["count"] == target
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], f"queries grow with rows: {counts[0]} for 3 rows, {counts[1]} for 20"


# What one audit append may cost in queries in the test suite's ``inline`` sequencer mode (issue 11: the
# insert, then the sequencer's read of the head, of the events waiting and its one update — as counted by
# pytest-django), plus the transaction-scoped advisory lock that serialises the sequencer on PostgreSQL
# (audit.services._lock_chain). In production (``worker``) the writer's part is the insert alone.
# Query budgets that include an audit write use this. The budget is kept at what it was before issue 11
# (6): several pages' own budgets leaned on its slack, and tightening them is not this issue's business.
def audit_write_queries() -> int:
    from django.db import connection

    return 6 + (connection.vendor == "postgresql")
