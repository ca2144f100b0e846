"""Timing the portal's paths against hand-written SQL floors (issue 11).

Each path runs ``RUNS`` times; the median is kept, with the queries of one run
(``CaptureQueriesContext``). A path that writes runs inside a transaction that is rolled back,
so every run sees the same data. ``ratio`` is project ÷ floor; for the rate path
(``audit_append_8``) both times are for the same number of events, so the ratio is also the bare
INSERT rate ÷ the project's rate, and its ``queries`` are those of one append.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import threading
import time
from collections.abc import Callable
from unittest import mock

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, connections, reset_queries, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from audit.choices import EventType
from audit.services import audit_chain_sequence, audit_chain_verify, audit_event_append
from billing.services import statements_draft
from consultations import list_rows
from consultations.choices import ConsultationState, ObligationState
from consultations.models import Consultation, Obligation
from consultations.services.obligations import obligation_sweep
from facilities.models import StaffMembership

RUNS = 5
# Untimed runs before a page and its floors are timed (issue 11, 2026-12-07). The first runs in a
# process load templates, fill per-process caches and warm the connection's catalogue caches: the
# 10 % step, the first measured after the history was written, came out 1.2–2× slower than the same
# page at 100 % in a fresh process. A web process serves thousands of requests warm; so does the floor.
WARM_UPS = 3
# A page and its floors are timed over ``runs × PAGE_RUNS`` runs each: a few milliseconds each, five
# runs left the ratio ±20 % from one run of the bench to the next. Then once more in turn
# (``measure_alternating``, ``turns_*``), which the ratio does not use.
PAGE_RUNS = 3
SWEEP_DUE = 500
APPEND_THREADS = 8
APPEND_EACH = 50


class Rollback(Exception):
    pass


def _timed(fn: Callable[[], object], *, rollback: bool) -> float:
    if not rollback:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1000
    try:
        with transaction.atomic():
            start = time.perf_counter()
            fn()
            elapsed = (time.perf_counter() - start) * 1000
            raise Rollback
    except Rollback:
        return elapsed


def measure(fn, *, rollback: bool = False, setup: Callable[[], None] | None = None, runs: int = RUNS) -> tuple[float, int]:
    """Median milliseconds of ``runs`` runs of ``fn`` (after ``setup``, timed apart), and its queries."""
    times, queries = [], 0
    for _ in range(runs):
        reset_queries()  # the query log is a bounded deque: a full one would count nothing
        if setup is None:
            with CaptureQueriesContext(connection) as captured:
                times.append(_timed(fn, rollback=rollback))
        else:
            def run():
                setup()
                with CaptureQueriesContext(connection) as inner:
                    start = time.perf_counter()
                    fn()
                    run.elapsed = (time.perf_counter() - start) * 1000
                    run.queries = len(inner)
            _timed(run, rollback=True)
            times.append(run.elapsed)
            captured = [None] * run.queries
        queries = len(captured)
    return statistics.median(times), queries


def sql(*statements: str, params=None) -> Callable[[], None]:
    """A floor: the statements run in order, every row fetched."""
    def run():
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement, params or {})
                if cursor.description is not None:
                    cursor.fetchall()
    return run


class Paths:
    """The measured paths; each ``name()`` returns (project, floor, project options, floor options)."""

    def __init__(self):
        user_model = get_user_model()
        self.users = {u.username: u for u in user_model.objects.filter(username__in=[
            "coordinator_nongan", "coordinator_jdyy", "reg_province", "partner_nongan"])}
        self.inviting = StaffMembership.objects.filter(user=self.users["coordinator_nongan"]).values_list("facility_id", flat=True).first()
        self.invited = StaffMembership.objects.filter(user=self.users["coordinator_jdyy"]).values_list("facility_id", flat=True).first()
        self.token = Token.objects.get_or_create(user=self.users["partner_nongan"])[0].key
        self.case = (Consultation.objects.filter(inviting_id=self.inviting, state=ConsultationState.CLOSED, opinions__isnull=False)
                     .order_by("-pk").first() or Consultation.objects.filter(inviting_id=self.inviting).order_by("-pk").first())
        self.clients = {}
        self.data_floors: dict[str, Callable[[], None]] = {}

    def client(self, username: str) -> Client:
        if username not in self.clients:
            client = Client()
            user = self.users[username]
            client.force_login(user)
            # A privileged demo user (seed_demo gave them a TOTP device) passes the second step as the
            # browser would after typing the code (JL-A2, facilities.twofactor).
            device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            if device is not None:
                session = client.session
                session[DEVICE_ID_SESSION_KEY] = device.persistent_id
                session.save()
            self.clients[username] = client
        return self.clients[username]

    def _get(self, username: str, url: str, **extra):
        client = self.client(username) if username else Client()

        def run():
            response = client.get(url, **extra)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            run.shown = rows_shown(response)
        run.shown = None
        return run

    # --- the pages' floors ---------------------------------------------------------------------
    #
    # A page's floor is every statement its answer needs, written by hand (issue 11): who is asking (the
    # session or the API token, the user, the second factor's device for a privileged user, their
    # memberships), the data it shows, the JL-C8 access record it must write (an INSERT, committed, into a
    # copy of the audit table with its indexes) and the header's unread count. Before 2026-12-07 the floor
    # was the data statements alone; those are still timed, as ``data_floor_ms`` and ``data_ratio``.

    def _who(self, username: str, *, token: bool = False) -> list[str]:
        user = self.users[username]
        if token:
            statements = ["SELECT t.*, u.* FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id WHERE t.key = %(token)s"]
        else:
            statements = ["SELECT session_data FROM django_session WHERE session_key = %(session)s AND expire_date > now()",
                          "SELECT * FROM auth_user WHERE id = %(user)s"]
            if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                statements.append("SELECT * FROM otp_totp_totpdevice WHERE user_id = %(user)s AND confirmed")
        statements.append(
            "SELECT facility_id, role, NULL FROM facilities_staffmembership WHERE user_id = %(user)s AND active "
            "UNION ALL SELECT NULL, role, NULL FROM facilities_adminassignment WHERE user_id = %(user)s AND active "
            "UNION ALL SELECT NULL, r.division_id, d.level FROM facilities_regulatormembership r "
            "JOIN facilities_division d ON d.code = r.division_id WHERE r.user_id = %(user)s AND r.active")
        return statements

    def _page_floor(self, name: str, username: str, data: tuple[str, ...], params: dict, *, token: bool = False,
                    unread: bool = True):
        """The whole floor of a page, and (kept on ``self.data_floors``) the floor of its data alone."""
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS bench_floor_access (LIKE audit_auditevent INCLUDING ALL)")
        user = self.users[username]
        session = "" if token else self.client(username).session.session_key
        record = (
            "INSERT INTO bench_floor_access (occurred_at, actor_id, actor_label, acting_division_code, ip_address, request_id, "
            "channel, event_type, object_type, object_id, facility_ids, outcome, details, hash_algorithm, leaf_hash) "
            "VALUES (now(), %(user)s, %(label)s, '', '127.0.0.1', md5(random()::text), 'web', 'record.list', %(what)s, '', "
            "'[1]', 'success', %(details)s, 'sha256', md5(random()::text) || md5(random()::text)) RETURNING id")
        tail = [record] + (["SELECT count(*) FROM consultations_notification WHERE user_id = %(user)s AND read_at IS NULL"]
                           if unread else [])
        params = {**params, "user": user.pk, "session": session, "token": self.token, "label": user.username,
                  "what": f"bench.{name}", "details": '{"count": 25, "object_ids": [' + ", ".join(str(n) for n in range(25)) + "]}"}
        self.data_floors[name] = sql(*data, params=params)
        return sql(*self._who(username, token=token), *data, *tail, params=params)

    @staticmethod
    def _capped_counts(side: str) -> str:
        """The tabs' counts as the page shows them (issue 11): per state at most cap + 1 rows."""
        limit = list_rows.TAB_COUNT_CAP + 1
        states = ", ".join(f"('{state}')" for state in ConsultationState.values)
        return (
            f"SELECT s.state, (SELECT count(*) FROM (SELECT 1 FROM consultations_consultation "  # noqa: S608 - the choices' own values
            f"WHERE {side}_id = %(f)s AND state = s.state LIMIT {limit}) t) FROM (VALUES {states}) s(state)"
        )

    def _tab_past_cap(self, side: str, facility: int, states: tuple[str, ...]) -> tuple[str, ...]:
        """The exact count of the page's tab when it is past the cap (the paginator's "共 N 条"), else nothing."""
        rows = Consultation.objects.filter(**{f"{side}_id": facility, "state__in": states})
        if not rows.order_by().values("pk")[: list_rows.TAB_COUNT_CAP + 1].count() > list_rows.TAB_COUNT_CAP:
            return ()
        listed = ", ".join(f"'{state}'" for state in states)
        return (f"SELECT count(*) FROM consultations_consultation WHERE {side}_id = %(f)s AND state IN ({listed})",)  # noqa: S608

    # --- lists and pages -----------------------------------------------------------------------

    def worklist(self):
        floor = self._page_floor("worklist", "coordinator_nongan", (
            "SELECT c.*, p.name, s.name FROM consultations_consultation c JOIN consultations_patient p ON p.id = c.patient_id "
            "JOIN facilities_servicetype s ON s.code = c.service_type_id WHERE c.inviting_id = %(f)s AND c.state IN ('draft', 'returned') "
            "ORDER BY c.created_at DESC LIMIT 25",
            self._capped_counts("inviting"),
            *self._tab_past_cap("inviting", self.inviting, ("draft", "returned")),
            "SELECT count(*) FROM consultations_obligation WHERE facility_id = %(f)s AND state = 'open'"),
            {"f": self.inviting})
        return self._get("coordinator_nongan", "/consultations/?side=inviting&tab=drafts"), floor

    def inbox(self):
        floor = self._page_floor("inbox", "coordinator_jdyy", (
            "SELECT c.*, p.name, s.name, f.name FROM consultations_consultation c JOIN consultations_patient p ON p.id = c.patient_id "
            "JOIN facilities_servicetype s ON s.code = c.service_type_id JOIN facilities_facility f ON f.id = c.inviting_id "
            "WHERE c.invited_id = %(f)s AND c.state = 'sent' ORDER BY c.created_at DESC LIMIT 25",
            self._capped_counts("invited"),
            *self._tab_past_cap("invited", self.invited, ("sent", "accepted", "scheduled", "in_session"))),
            {"f": self.invited})
        return self._get("coordinator_jdyy", "/consultations/?side=invited"), floor

    def api_list(self):
        floor = self._page_floor("api_list", "partner_nongan", (
            "SELECT c.*, p.*, s.name, fi.name, fd.name FROM consultations_consultation c JOIN consultations_patient p ON p.id = c.patient_id "
            "JOIN facilities_servicetype s ON s.code = c.service_type_id JOIN facilities_facility fi ON fi.id = c.inviting_id "
            "JOIN facilities_facility fd ON fd.id = c.invited_id WHERE c.inviting_id = %(f)s OR c.invited_id = %(f)s "
            "ORDER BY c.created_at DESC LIMIT 50",
            "SELECT count(*) FROM consultations_consultation WHERE inviting_id = %(f)s OR invited_id = %(f)s"),
            {"f": self.inviting}, token=True, unread=False)
        return self._get("", "/api/v1/consultations/", HTTP_AUTHORIZATION=f"Token {self.token}"), floor

    def case_page(self):
        floor = self._page_floor("case_page", "coordinator_nongan", (
            "SELECT c.*, p.*, s.*, fi.*, fd.* FROM consultations_consultation c JOIN consultations_patient p ON p.id = c.patient_id "
            "JOIN facilities_servicetype s ON s.code = c.service_type_id JOIN facilities_facility fi ON fi.id = c.inviting_id "
            "JOIN facilities_facility fd ON fd.id = c.invited_id WHERE c.id = %(c)s",
            "SELECT * FROM consultations_participant WHERE consultation_id = %(c)s",
            "SELECT * FROM consultations_document WHERE consultation_id = %(c)s",
            "SELECT * FROM consultations_opinion WHERE consultation_id = %(c)s",
            # what the page shows beside them (issue 11, 2026-12-07): responsibility, consent, ratings, referrals, the
            # seal, and the case's timeline from the audit log (its own index)
            "SELECT * FROM consultations_responsibilityrecord WHERE consultation_id = %(c)s",
            "SELECT * FROM consultations_consentversion WHERE consultation_id = %(c)s",
            "SELECT * FROM consultations_rating WHERE consultation_id = %(c)s",
            "SELECT * FROM consultations_referral WHERE consultation_id = %(c)s",
            "SELECT * FROM audit_seal WHERE consultation_id = %(c)s",
            "SELECT * FROM audit_auditevent WHERE details ->> 'consultation' = %(number)s "
            "OR (object_type = 'consultations.consultation' AND object_id = %(cs)s) ORDER BY sequence NULLS LAST, id"),
            {"c": self.case.pk, "cs": str(self.case.pk), "number": self.case.number})
        return self._get("coordinator_nongan", f"/consultations/{self.case.pk}/"), floor

    def regulator_home(self):
        floor = self._page_floor("regulator_home", "reg_province", (
            "SELECT state, count(*) FROM consultations_consultation GROUP BY state",
            "SELECT v.*, f.name FROM consultations_violation v JOIN facilities_facility f ON f.id = v.facility_id ORDER BY v.due_at DESC LIMIT 10",
            "SELECT count(*) FROM consultations_violation",
            "SELECT count(*) FROM facilities_accreditationapplication WHERE status = 'pending'",
            "SELECT count(*) FROM facilities_suspension WHERE lifted_at IS NULL"),
            {})
        return self._get("reg_province", "/"), floor

    def violations(self):
        floor = self._page_floor("violations", "reg_province", (
            "SELECT v.*, f.name, d.name, p.name FROM consultations_violation v JOIN facilities_facility f ON f.id = v.facility_id "
            "JOIN facilities_division d ON d.code = f.division_id JOIN consultations_obligation o ON o.id = v.obligation_id "
            "JOIN consultations_patient p ON p.id = o.patient_id ORDER BY v.due_at DESC LIMIT 25",
            "SELECT count(*) FROM consultations_violation"),
            {})
        return self._get("reg_province", "/consultations/violations/"), floor

    def dashboard(self):
        year = timezone.localdate().year
        floor = sql(
            "SELECT substr(f.division_id, 1, 4), c.service_type_id, c.state, count(*), "
            "avg(extract(epoch FROM c.accepted_at - c.sent_at)) FROM consultations_consultation c "
            "JOIN facilities_facility f ON f.id = c.inviting_id WHERE c.created_at >= %(lo)s AND c.created_at < %(hi)s "
            "GROUP BY 1, 2, 3",
            params={"lo": dt.datetime(year, 1, 1, tzinfo=dt.UTC) - dt.timedelta(hours=8),
                    "hi": dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC) - dt.timedelta(hours=8)})
        return self._get("reg_province", f"/facilities/metrics/divisions/220000/?period=year&year={year}"), floor

    # --- the sweep, statements and the audit log -----------------------------------------------

    def _due_obligations(self):
        now = timezone.now()
        template = Obligation.objects.filter(state=ObligationState.MET).order_by("pk").first()
        Obligation.objects.bulk_create([
            Obligation(facility_id=template.facility_id, patient_id=template.patient_id, trigger=template.trigger,
                       trigger_at=now - dt.timedelta(hours=30), due_at=now - dt.timedelta(hours=6, seconds=i),
                       state=ObligationState.OPEN)
            for i in range(SWEEP_DUE)
        ])

    def sweep_due(self):
        now = timezone.now()
        # The floor performs the same writes in bulk SQL (issue 11, h31): the claim, the violations, one
        # audit event each (not yet chained, as the sweep now writes them: its leaf hash by SQL) and the notices to the
        # facility's coordinators and administrators. Channel deliveries and webhooks are left out.
        floor = sql(
            "WITH claimed AS (UPDATE consultations_obligation SET state = 'violated' WHERE id IN (SELECT id FROM consultations_obligation "
            "WHERE state = 'open' AND due_at < %(now)s ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, facility_id, due_at, patient_id), "
            "v AS (INSERT INTO consultations_violation (facility_id, obligation_id, rule, due_at, recorded_at, message_key, description) "
            "SELECT facility_id, id, 'JL-C2', due_at, %(now)s, 'jl_c2.upload_missed', '' FROM claimed RETURNING id, facility_id, obligation_id, due_at), "
            "a AS (INSERT INTO audit_auditevent (occurred_at, actor_label, acting_facility_id, acting_division_code, request_id, "
            "channel, event_type, object_type, object_id, facility_ids, outcome, details, hash_algorithm, leaf_hash) "
            "SELECT %(now)s, '', v.facility_id, '', '', 'sweep', 'obligation.violated', "
            "'consultations.violation', v.id::text, jsonb_build_array(v.facility_id), 'failure', "
            "jsonb_build_object('rule', 'JL-C2', 'obligation_id', v.obligation_id, 'due_at', v.due_at, 'recorded_at', %(now)s), "
            "'sha256', encode(sha256(convert_to('l' || v.id || clock_timestamp(), 'UTF8')), 'hex') FROM v RETURNING id) "
            "INSERT INTO consultations_notification (user_id, created_at, kind, message_key, params, subject, body, link, dedupe_key) "
            "SELECT DISTINCT m.user_id, %(now)s, 'deadline', 'obligation.violated', jsonb_build_object('name', p.name), '', '', "
            "'/consultations/obligations/', 'obligation:' || c.id || ':violated' FROM claimed c "
            "JOIN consultations_patient p ON p.id = c.patient_id JOIN facilities_staffmembership m ON m.facility_id = c.facility_id "
            "AND m.active AND m.role IN ('coordinator', 'facility_admin') ON CONFLICT DO NOTHING",
            params={"now": now})
        return (lambda: obligation_sweep(now=timezone.now())), floor, self._due_obligations

    def sweep_idle(self):
        now = timezone.now()
        floor = sql(
            "SELECT id FROM consultations_obligation WHERE state = 'open' AND due_at < %(soon)s ORDER BY due_at LIMIT 500",
            "SELECT id FROM consultations_admission WHERE diagnosis_confirmed_at IS NULL AND discharged_at IS NULL "
            "AND undiagnosed_obligation_opened = false AND admitted_at < %(now)s LIMIT 500",
            params={"now": now, "soon": now + dt.timedelta(hours=12)})
        return (lambda: obligation_sweep(now=timezone.now())), floor

    def statements(self):
        today = timezone.localdate()
        period = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        lo = dt.datetime(period.year, period.month, 1, tzinfo=dt.UTC) - dt.timedelta(hours=8)
        hi = dt.datetime(today.year, today.month, 1, tzinfo=dt.UTC) - dt.timedelta(hours=8)
        floor = sql(
            "INSERT INTO billing_statement (inviting_id, invited_id, period_start, period_end, state, charge_count, fee_total_fen, "
            "inviting_share_total_fen, invited_share_total_fen, drafted_at, bank_reference) "
            "SELECT inviting_id, invited_id, %(start)s, %(end)s, 'draft', count(*), sum(fee_fen), sum(inviting_share_fen), "
            "sum(invited_share_fen), now(), '' FROM billing_charge WHERE statement_id IS NULL AND completed_at >= %(lo)s "
            "AND completed_at < %(hi)s GROUP BY inviting_id, invited_id ON CONFLICT DO NOTHING",
            "UPDATE billing_charge c SET statement_id = s.id FROM billing_statement s WHERE c.statement_id IS NULL "
            "AND c.completed_at >= %(lo)s AND c.completed_at < %(hi)s AND s.inviting_id = c.inviting_id "
            "AND s.invited_id = c.invited_id AND s.period_start = %(start)s",
            params={"start": period, "end": today.replace(day=1) - dt.timedelta(days=1), "lo": lo, "hi": hi})
        return (lambda: statements_draft(period_start=period)), floor

    def audit_verify(self):
        audit_chain_sequence()  # issue 11: what the other paths appended is chained first (untimed)

        def floor():
            with transaction.atomic(), connection.chunked_cursor() as cursor:
                cursor.execute("SELECT * FROM audit_auditevent WHERE sequence IS NOT NULL ORDER BY sequence")
                while cursor.fetchmany(5000):
                    pass
        def project():
            report = audit_chain_verify()
            if not report.intact:
                raise RuntimeError(report.text)
        return project, floor

    def audit_append_8(self):
        """8 threads × ``APPEND_EACH`` events through ``audit_event_append`` vs the same number of bare
        INSERTs of the same rows into a copy of the table (its unique indexes included). The third item
        is the sequencer standing in for the Celery worker (``ChainWorker``), which ``run_path`` runs
        beside the writers and stops before the floor."""
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS bench_bare_events (LIKE audit_auditevent INCLUDING ALL)")

        def threads(work, writers=APPEND_THREADS, each=APPEND_EACH):
            def body(n):
                try:
                    for i in range(each):
                        work(n, i)
                finally:
                    connections.close_all()
            pool = [threading.Thread(target=body, args=(n,)) for n in range(writers)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()

        def append(n, i):
            audit_event_append(actor=None, event_type=EventType.RECORD_VIEW, object_type="bench", object_id=f"{n}-{i}",
                               details={"purpose": "benchmark"})

        counter = iter(range(10**9))
        lock = threading.Lock()

        def bare(n, i):
            with lock:
                k = next(counter)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO bench_bare_events (sequence, occurred_at, actor_label, acting_division_code, request_id, channel, "
                    "event_type, object_type, object_id, facility_ids, outcome, details, hash_algorithm, leaf_hash, prev_hash, hash) "
                    "VALUES (%s, now(), '', '', '', '', 'record.view', 'bench', %s, '[]', 'success', '{}', 'sha256', "
                    "md5(%s::text) || md5(%s::text), md5(%s::text) || md5(%s::text), "
                    "md5(%s::text) || md5(%s::text))",
                    [k, f"{n}-{i}", f"l{k}", f"m{k}", f"p{k}", f"q{k}", f"h{k}", f"j{k}"])

        worker = ChainWorker()
        # Issue 11: more writers must never be slower than fewer — the same events by one writer.
        worker.one_writer = lambda: threads(append, writers=1, each=APPEND_THREADS * APPEND_EACH)
        return (lambda: threads(append)), (lambda: threads(bare)), worker


class ChainWorker:
    """The Celery worker's sequencer, as a thread beside the benchmark's writers (JL-A1; issue 11): it
    chains when nudged (the writers' ``audit.sequence_chain`` messages, throttled as in production, are
    delivered to it instead of the broker) and at least every ``TELEMED_AUDIT_SEQUENCER_SECONDS`` (the
    beat). ``stop`` drains what is left and returns the delays between an event's append and its chaining."""

    def __init__(self):
        self.wake, self.stopping = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.started_at = None
        self.batches = 0
        self.errors: list[BaseException] = []

    def _loop(self):
        try:
            while not self.stopping.is_set():
                self.wake.wait(timeout=float(settings.TELEMED_AUDIT_SEQUENCER_SECONDS))
                self.wake.clear()
                if audit_chain_sequence():
                    self.batches += 1
            audit_chain_sequence()
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.errors.append(exc)
        finally:
            connections.close_all()

    def start(self):
        from audit.tasks import audit_chain_sequence_task

        self.started_at = timezone.now()
        self.patch = mock.patch.object(audit_chain_sequence_task, "apply_async", side_effect=lambda *a, **k: self.wake.set())
        self.patch.start()
        self.thread.start()

    def stop(self) -> dict:
        self.stopping.set()
        self.wake.set()
        self.thread.join()
        self.patch.stop()
        if self.errors:
            raise self.errors[0]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(sequenced_at), "
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sequenced_at - occurred_at)), "
                "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sequenced_at - occurred_at)), "
                "max(extract(epoch FROM sequenced_at - occurred_at)) "
                "FROM audit_auditevent WHERE object_type = 'bench' AND occurred_at >= %s", [self.started_at])
            events, chained, p50, p99, worst = cursor.fetchone()
        def ms(seconds):
            return round(float(seconds) * 1000, 1) if seconds is not None else None

        return {"sequencer": settings.TELEMED_AUDIT_SEQUENCER, "chained_events": chained, "appended_events": events,
                "chain_delay_p50_ms": ms(p50), "chain_delay_p99_ms": ms(p99), "chain_delay_max_ms": ms(worst)}


PATHS = ("worklist", "inbox", "api_list", "case_page", "regulator_home", "violations", "sweep_due", "sweep_idle",
         "statements", "audit_append_8", "audit_verify", "dashboard")
PAGES = ("worklist", "inbox", "api_list", "case_page", "regulator_home", "violations")  # floors of the whole answer
GROWTH = ("worklist", "inbox", "api_list", "case_page", "regulator_home", "violations", "sweep_due", "sweep_idle", "dashboard")
WRITES = {"sweep_due", "sweep_idle", "statements"}


def rows_shown(response) -> int:
    """How many rows an answer shows: the API's ``results``, or the ``<tr>`` of a page's table bodies
    (issue 11: the growth of a page is only comparable between two sizes that show as many rows)."""
    if response.get("Content-Type", "").startswith("application/json"):
        results = response.json().get("results")
        return len(results) if isinstance(results, list) else 0
    return sum(body.count(b"<tr") for body in _TBODY.findall(response.content))


_TBODY = re.compile(rb"<tbody[^>]*>.*?</tbody>", re.S)


def measure_alternating(fns, *, runs: int) -> tuple[list[float], int]:
    """Median milliseconds of each of ``fns`` over ``runs`` rounds, each round running them in turn,
    and the queries of the first. Run in a loop, a floor of two milliseconds finds the CPU's and the
    server's caches as it left them; in turn with the page it does not, as in a portal serving others."""
    times: list[list[float]] = [[] for _ in fns]
    queries = 0
    for _ in range(runs):
        for i, fn in enumerate(fns):
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                times[i].append(_timed(fn, rollback=False))
            if i == 0:
                queries = len(captured)
    return [statistics.median(t) for t in times], queries


def _warm(*runs: Callable[[], None]) -> None:
    for fn in runs:
        for _ in range(WARM_UPS):
            _timed(fn, rollback=False)


def run_path(paths: Paths, name: str, *, runs: int = RUNS) -> dict:
    spec = getattr(paths, name)()
    project, floor = spec[0], spec[1]
    setup = spec[2] if len(spec) > 2 and name != "audit_append_8" else None
    rollback = name in WRITES
    extra = {}
    if name == "audit_append_8":
        runs = max(1, min(runs, 3))
        worker = spec[2]
        worker.start()  # issue 11: the sequencer runs beside the writers, as the Celery worker does
        try:
            project_ms, queries = measure(project, rollback=rollback, runs=runs)
            one_writer_ms, _ = measure(worker.one_writer, runs=runs)
        finally:
            extra = worker.stop()
        extra["one_writer_ms"] = round(one_writer_ms, 2)  # 1 thread × the same 400 events
        extra["writers_speedup"] = round(one_writer_ms / project_ms, 2) if project_ms else None
    elif name in PAGES:
        _warm(project, floor, paths.data_floors[name])
        runs = runs * PAGE_RUNS
        project_ms, queries = measure(project, runs=runs)
        floor_ms, _ = measure(floor, runs=runs)
        data_ms, _ = measure(paths.data_floors[name], runs=runs)
        extra["data_floor_ms"] = round(data_ms, 2)  # a page's data statements alone, its floor before 2026-12-07
        extra["data_ratio"] = round(project_ms / data_ms, 2) if data_ms else None
        # The same two taken in turn: each then runs without the other's caches still warm.
        (turn_project, turn_floor), _ = measure_alternating((project, floor), runs=runs)
        extra["turns_project_ms"], extra["turns_floor_ms"] = round(turn_project, 2), round(turn_floor, 2)
        extra["turns_ratio"] = round(turn_project / turn_floor, 2) if turn_floor else None
    else:
        project_ms, queries = measure(project, rollback=rollback, setup=setup, runs=runs)
    if name == "audit_append_8":  # the threads use connections of their own: count one append here
        _, queries = measure(lambda: audit_event_append(actor=None, event_type=EventType.RECORD_VIEW, object_type="bench",
                                                        object_id="count", details={"purpose": "benchmark"}),
                             rollback=True, runs=1)
    if name not in PAGES:
        floor_ms, _ = measure(floor, rollback=rollback, setup=setup, runs=runs)
    if getattr(project, "shown", None) is not None:
        extra["rows_shown"] = project.shown
    return {"project_ms": round(project_ms, 2), "floor_ms": round(floor_ms, 2),
            "ratio": round(project_ms / floor_ms, 2) if floor_ms else None, "queries": queries, **extra}
