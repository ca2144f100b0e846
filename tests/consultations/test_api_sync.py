"""Issue 14: the partner sync of consultations and obligations — ``updated_at`` on every change,
``?updated_since=`` / ``?pagination=cursor`` keyset pages, the guarantee across pages and runs,
and the stable refusals. Page numbers stay the default (v1 is additive only)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from consultations import services
from consultations.choices import ObligationState
from consultations.models import Consultation, Obligation
from facilities.choices import StaffRole
from telemed.pagination import SETTLE
from tests.api_cases import assert_error, rows, token_client
from tests.factories import FacilityFactory, staff

API = "/api/v1"
pytestmark = pytest.mark.django_db


@pytest.fixture
def his(world):
    return token_client(staff(world.inviting, StaffRole.PARTNER_SYSTEM, username="his_nongan"))


def later(minutes: float = 1):
    """Move the clock on (past the settle margin, so what was written is inside the window)."""
    return time_machine.travel(timezone.now() + SETTLE + dt.timedelta(minutes=minutes), tick=True)


def open_obligations(world, count: int) -> list[Obligation]:
    patient = world.patient()
    return [
        services.obligation_open(actor=world.clinician, patient=patient, trigger="patient_request",
                                 event_at=timezone.now() - dt.timedelta(minutes=n + 1))
        for n in range(count)
    ]


def sync(client, url: str, **params) -> tuple[list[int], str, int]:
    """Follow ``next`` to the end: (ids in order, next_updated_since, pages)."""
    response = client.get(url, params)
    ids, pages = [], 0
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert "count" not in body and "previous" not in body
        ids += [row["id"] for row in body["results"]]
        pages += 1
        if body["next"] is None:
            return ids, body["next_updated_since"], pages
        response = client.get(body["next"])


# --- updated_at: one helper stamps every change ------------------------------------------------------


def stamp(obj) -> dt.datetime:
    obj.refresh_from_db(fields=["updated_at"])
    return obj.updated_at


def test_issue14_updated_at_moves_on_every_consultation_transition(world):
    """Create, send, accept, schedule, start, sign, close: each moves ``updated_at`` forward."""
    consultation = world.draft()
    seen = [stamp(consultation)]

    def step(act):
        with time_machine.travel(timezone.now() + dt.timedelta(minutes=5), tick=True):
            act()
            seen.append(stamp(consultation))

    step(lambda: world.ready(consultation))  # documents and consent do not move the case itself...
    seen.pop()  # ...so only the case's own writes are checked below
    step(lambda: services.consultation_send(actor=world.coordinator, consultation=consultation))
    step(lambda: services.consultation_accept(actor=world.invited_coordinator, consultation=consultation))
    step(lambda: services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=world.expert_physician))
    seen.pop()
    step(lambda: services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                                scheduled_for=timezone.now() + dt.timedelta(hours=2), video_link="https://meet.example.cn/r/1"))
    step(lambda: services.consultation_start_session(actor=world.invited_coordinator, consultation=consultation))
    step(lambda: services.opinion_sign(actor=world.expert, consultation=consultation, content="考虑结核性胸膜炎。"))
    assert all(a < b for a, b in zip(seen, seen[1:], strict=False)), seen
    assert len(seen) >= 6


def test_issue14_updated_at_moves_on_obligation_withdraw_met_and_violated(world):
    withdrawn, met = open_obligations(world, 2)
    opened = {o.pk: stamp(o) for o in (withdrawn, met)}
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5), tick=True):
        services.obligation_withdraw(actor=world.clinician, obligation=withdrawn, reason="患者已转院")
        assert stamp(withdrawn) > opened[withdrawn.pk]
    # Met by a request that reaches the invited side in time (same patient).
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=10), tick=True):
        world.sent(patient=met.patient)
        met.refresh_from_db()
        assert met.state == ObligationState.MET and met.updated_at > opened[met.pk]
    violated = services.obligation_open(  # a second patient's obligation, open past its deadline
        actor=world.clinician, patient=world.patient(name="李五"), trigger="patient_request",
        event_at=timezone.now() - dt.timedelta(hours=30),
    )
    before = stamp(violated)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=15), tick=True):
        services.obligation_sweep()
        violated.refresh_from_db()
        assert violated.state == ObligationState.VIOLATED and violated.updated_at > before


def test_issue14_save_with_update_fields_and_queryset_update_both_stamp(world):
    consultation = world.draft()
    first = stamp(consultation)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1), tick=True):
        consultation.video_link = "https://meet.example.cn/r/2"
        consultation.save(update_fields=["video_link"])
        second = stamp(consultation)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2), tick=True):
        Consultation.objects.filter(pk=consultation.pk).update(urgency="urgent")
        third = stamp(consultation)
    assert first < second < third


# --- the cursor mode ------------------------------------------------------------------------------------


def test_issue14_page_numbers_stay_the_default(world, his):
    open_obligations(world, 2)
    body = his.get(f"{API}/obligations/").json()
    assert body["count"] == 2 and "next_updated_since" not in body and body["previous"] is None


def test_issue14_deep_cursor_page_costs_what_the_first_does(world, his, django_assert_max_num_queries):
    open_obligations(world, 13)
    with later():
        counts, url = [], f"{API}/obligations/?pagination=cursor&page_size=3"
        for _page in range(5):
            with django_assert_max_num_queries(20) as captured:
                response = his.get(url)
            assert response.status_code == 200, response.content
            counts.append(len(captured.captured_queries))
            url = response.json()["next"]
        assert url is None  # 13 rows, pages of 3: the fifth is the last
        assert len(set(counts[:4])) == 1, counts  # full pages: the first and the deep ones alike


def test_issue14_consultation_cursor_queries_constant(world, his, django_assert_max_num_queries):
    for _n in range(7):
        world.sent()
    with later():
        counts, url = [], f"{API}/consultations/?pagination=cursor&page_size=2"
        while url:
            with django_assert_max_num_queries(20) as captured:
                response = his.get(url)
            assert response.status_code == 200, response.content
            counts.append(len(captured.captured_queries))
            url = response.json()["next"]
        assert len(counts) == 4 and len(set(counts[:3])) == 1, counts


def test_issue14_a_row_changed_after_a_sync_comes_in_the_next_updated_since_call(world, his):
    first, second, third = open_obligations(world, 3)
    with later():
        ids, since, _pages = sync(his, f"{API}/obligations/", pagination="cursor")
    assert sorted(ids) == sorted(o.pk for o in (first, second, third))
    with later(5):
        services.obligation_withdraw(actor=world.clinician, obligation=second, reason="患者已出院")
        with later():
            ids, since_again, _pages = sync(his, f"{API}/obligations/", updated_since=since)
            assert ids == [second.pk]  # a withdrawn obligation too: sync lists every state
            assert sync(his, f"{API}/obligations/", updated_since=since_again)[0] == []


def test_issue14_rows_changed_while_paging_are_neither_skipped_nor_repeated(world, his):
    """The guarantee (telemed.pagination): within a run each row of the window comes once; a row
    changed during the run comes in the next run, started from ``next_updated_since``."""
    created = open_obligations(world, 10)
    with later():
        response = his.get(f"{API}/obligations/", {"pagination": "cursor", "page_size": 3})
        body = response.json()
        ids = [row["id"] for row in body["results"]]
        delivered, waiting = Obligation.objects.get(pk=ids[0]), Obligation.objects.exclude(pk__in=ids).order_by("-updated_at").first()
        for obligation in (delivered, waiting):  # changed mid-run: one already delivered, one not yet
            services.obligation_withdraw(actor=world.clinician, obligation=obligation, reason="患者已转院")
        while body["next"]:
            body = his.get(body["next"]).json()
            ids += [row["id"] for row in body["results"]]
        assert len(ids) == len(set(ids)), ids  # nothing twice in the run
        assert set(ids) == {o.pk for o in created} - {waiting.pk}
        with later():
            again, _since, _pages = sync(his, f"{API}/obligations/", updated_since=body["next_updated_since"], page_size=3)
    assert sorted(again) == sorted([delivered.pk, waiting.pk])
    assert set(ids) | set(again) == {o.pk for o in created}  # nothing skipped across the runs


def test_issue14_cursor_mode_keeps_the_scope(world, his):
    open_obligations(world, 2)
    outsider = token_client(staff(FacilityFactory(name="白城市中心医院"), StaffRole.PARTNER_SYSTEM, username="his_baicheng"))
    with later():
        assert sync(outsider, f"{API}/obligations/", pagination="cursor")[0] == []
        assert sync(outsider, f"{API}/consultations/", pagination="cursor")[0] == []


def test_issue14_bad_cursor_updated_since_and_page_size_are_400_with_stable_codes(world, his):
    open_obligations(world, 3)
    with later():
        assert_error(his.get(f"{API}/obligations/", {"cursor": "not-a-cursor"}), 400, "cursor_invalid")
        good = his.get(f"{API}/consultations/", {"pagination": "cursor"}).json()
        assert good["next"] is None
        first = his.get(f"{API}/obligations/", {"pagination": "cursor", "page_size": 1}).json()
        cursor = first["next"].split("cursor=")[1].split("&")[0]
        assert rows(his.get(first["next"]))
        assert_error(his.get(f"{API}/obligations/", {"cursor": cursor[:-3] + "abc"}), 400, "cursor_invalid")
        # A cursor of one list is refused by another.
        assert_error(his.get(f"{API}/consultations/", {"cursor": cursor}), 400, "cursor_invalid")
        assert_error(his.get(f"{API}/obligations/", {"updated_since": "yesterday"}), 400, "updated_since_invalid")
        assert_error(his.get(f"{API}/obligations/", {"updated_since": "2026-12-01T08:00:00"}), 400, "updated_since_invalid")
        for bad in ("0", "501", "x", ""):  # sent empty is refused too (the schema says an integer)
            assert_error(his.get(f"{API}/obligations/", {"pagination": "cursor", "page_size": bad}), 400, "page_size_invalid")


def test_issue14_updated_since_with_offset_is_accepted(world, his):
    obligation, = open_obligations(world, 1)
    with later():
        since = (stamp(obligation) - dt.timedelta(seconds=1)).astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
        assert sync(his, f"{API}/obligations/", updated_since=since)[0] == [obligation.pk]
        assert sync(his, f"{API}/obligations/", updated_since=stamp(obligation).isoformat())[0] == []


def test_issue14_no_writer_bypasses_the_stamp():
    """``telemed.changes`` stamps ``update()`` and ``save()``; ``bulk_update`` and raw SQL would
    not be stamped, so no writer of consultations or obligations may use them."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for app in ("consultations", "billing", "facilities", "audit", "notifications", "telemed"):
        for path in (root / app).rglob("*.py"):
            # The benchmark fills a database of its own, copying rows with their stamps; no partner syncs from it.
            if "migrations" in path.parts or path.parent.name == "bench":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                ours = any(name in line for name in ("Consultation.", "Obligation.", "consultations_consultation", "consultations_obligation"))
                if ours and ("bulk_update(" in line or "execute(" in line or ".raw(" in line):
                    offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == [], offenders


def test_issue14_backfill_takes_the_latest_known_change_time(world):
    """Migration consultations.0012: existing rows get their last known change, not the migration's time."""
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("consultations.migrations.0012_updated_at").backfill
    consultation = world.sent()
    obligation, = open_obligations(world, 1)
    Consultation.objects.filter(pk=consultation.pk).update(updated_at=timezone.now() + dt.timedelta(days=9))
    Obligation.objects.filter(pk=obligation.pk).update(updated_at=timezone.now() + dt.timedelta(days=9))
    backfill(apps, None)
    consultation.refresh_from_db()
    obligation.refresh_from_db()
    assert consultation.updated_at == consultation.sent_at
    assert obligation.updated_at == obligation.created_at
