"""Issue 14: the audit list partners read (FHIR AuditEvent search) in the cursor mode — oldest first
by sequence, a deep page costs what the first does, no event skipped or repeated while new events
are appended during paging, and a bad cursor is 400 ``cursor_invalid``."""

import pytest

from audit.services import audit_event_append
from tests.api_cases import assert_error, token_client
from tests.factories import regulator

pytestmark = pytest.mark.django_db

URL = "/api/v1/fhir/AuditEvent"


@pytest.fixture
def auditor():
    return token_client(regulator("220000"))


def links(bundle) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle["link"]}


def ids(bundle) -> list[int]:
    return [int(entry["resource"]["id"]) for entry in bundle["entry"]]


def append(count: int, start: int = 0) -> list[int]:
    return [audit_event_append(actor=None, event_type="billing.statement.paid", details={"n": n}).pk for n in range(start, start + count)]


def test_issue14_audit_cursor_pages_oldest_first_without_gaps_or_repeats(auditor):
    created = append(7)
    response = auditor.get(URL, {"type": "billing.statement.paid", "pagination": "cursor", "_count": 3})
    assert response.status_code == 200, response.content
    page = response.json()
    assert "total" not in page
    seen = ids(page)
    appended = append(2, start=7)  # new events while the partner pages
    while "next" in links(page):
        page = auditor.get(links(page)["next"]).json()
        seen += ids(page)
    assert seen == created + appended  # in chain order, each exactly once
    # Later: the last page's "resume" link gives only what was appended since.
    later = append(1, start=9)
    resumed = auditor.get(links(page)["resume"]).json()
    assert ids(resumed) == later and "next" not in links(resumed)


def test_issue14_audit_deep_cursor_page_costs_what_the_first_does(auditor, django_assert_max_num_queries):
    append(12)
    url, counts = f"{URL}?type=billing.statement.paid&pagination=cursor&_count=3", []
    for _page in range(4):
        with django_assert_max_num_queries(15) as captured:
            page = auditor.get(url).json()
        counts.append(len(captured.captured_queries))
        url = links(page).get("next")
    assert len(set(counts)) == 1, counts


def test_issue14_audit_bad_cursor_is_400_cursor_invalid(auditor):
    assert_error(auditor.get(URL, {"_cursor": "forged"}), 400, "cursor_invalid")
