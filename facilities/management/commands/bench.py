"""``manage.py bench`` (issue 11): generate a province year at ``--scale`` into a database of its
own, measure the portal's paths against hand-written SQL floors, print a table, write ``--json``.

PostgreSQL only: it creates the database ``--database`` (a name starting ``telemed_bench``) on the
server of the configured connection, migrates it and does the work in a child process whose
``DATABASE_URL`` points at it, then drops it (unless ``--keep``). Results: docs/performance.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

NAME = re.compile(r"^telemed_bench[a-z0-9_]*$")


class Command(BaseCommand):
    help = "Benchmark: a province year at --scale on PostgreSQL, each path against its SQL floor (issue 11)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=0.01, help="fraction of the province's year (0.01 … 1.0)")
        parser.add_argument("--database", default="telemed_bench", help="database to create and drop (telemed_bench…)")
        parser.add_argument("--json", dest="json_path", default="", help="write the results to this file")
        parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
        parser.add_argument("--runs", type=int, default=5, help="runs per path (the median is kept)")
        parser.add_argument("--paths", default="", help="comma-separated subset of the paths (default: all)")
        parser.add_argument("--province-fill", action="store_true", help=
                            "fill the kept --database (an earlier run's, with --keep) to the province's size where the dashboard "
                            "reads (1,000 facilities, 24 months of rollups, every period's totals, 100,000 then 1,000,000 "
                            "consultations) and measure --paths at both sizes (issue 9; facilities/bench/province.py)")
        parser.add_argument("--inner", action="store_true", help=  # the child process; not for people
                            "internal: run inside the prepared database")

    def handle(self, *args, scale, database, json_path, keep, runs, paths, inner, province_fill, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench needs PostgreSQL: SQLite cannot show how the portal behaves at the province's size. "
                "Set DATABASE_URL=postgres://user@host:5432/db (the server the benchmark database is created on)."
            )
        if not 0 < scale <= 1:
            raise CommandError("--scale must be above 0 and at most 1.0")
        if runs < 1:
            raise CommandError("--runs must be at least 1")
        from facilities.bench.measure import PATHS

        wanted = [p.strip() for p in paths.split(",") if p.strip()] or list(PATHS)
        unknown = sorted(set(wanted) - set(PATHS))
        if unknown:
            raise CommandError(f"unknown paths: {', '.join(unknown)}; known: {', '.join(PATHS)}")
        if inner:
            if province_fill:
                return self._inner_province(json_path=json_path, runs=runs, wanted=wanted)
            return self._inner(scale=scale, json_path=json_path, runs=runs, wanted=wanted)
        if not NAME.match(database):
            raise CommandError("--database must start with telemed_bench (it is dropped afterwards)")
        if database == connection.settings_dict["NAME"]:
            raise CommandError("--database must not be the configured database")
        if province_fill:
            keep = True  # it fills an earlier run's database; never drop it
        else:
            self._server(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            self._server(f'CREATE DATABASE "{database}"')
        try:
            out = Path(json_path) if json_path else Path(tempfile.mkstemp(suffix=".json")[1])
            env = {**os.environ, "DATABASE_URL": self._url(database), "TELEMED_ALLOW_HTTP": "1", "PYTHONUNBUFFERED": "1"}
            command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "bench", "--inner", f"--scale={scale}",
                       f"--runs={runs}", f"--json={out}", f"--paths={','.join(wanted)}", *(["--province-fill"] if province_fill else [])]
            result = subprocess.run(command, env=env, cwd=settings.BASE_DIR, check=False)  # noqa: S603 - our own interpreter and manage.py
            if result.returncode != 0:
                raise CommandError(f"the benchmark failed (exit status {result.returncode}); see above")
            if not json_path:
                out.unlink(missing_ok=True)
        finally:
            if keep:
                self.stdout.write(f"kept database {database}")
            else:
                self._server(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    # --- the server ------------------------------------------------------------------------------

    def _server(self, statement: str) -> None:
        """One statement on the server's maintenance database (outside any transaction)."""
        import psycopg2

        s = connection.settings_dict
        options = {key: value for key, value in (("host", s.get("HOST")), ("port", s.get("PORT")), ("user", s.get("USER")),
                                                 ("password", s.get("PASSWORD"))) if value}
        server = psycopg2.connect(dbname="postgres", **options)
        try:
            server.autocommit = True
            with server.cursor() as cursor:
                cursor.execute(statement)
        finally:
            server.close()

    def _url(self, database: str) -> str:
        s = connection.settings_dict
        auth = quote(s.get("USER") or "", safe="")
        if s.get("PASSWORD"):
            auth += ":" + quote(s["PASSWORD"], safe="")
        host = s.get("HOST") or "localhost"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth + '@' if auth else ''}{host}{port}/{database}"

    # --- the child -------------------------------------------------------------------------------

    def _inner_province(self, *, json_path, runs, wanted) -> None:
        from facilities.bench.province import province_fill_and_measure

        write = self.stdout.write
        write(f"bench --province-fill on {connection.settings_dict['NAME']}")
        if not connection.introspection.table_names():
            raise CommandError("the database is empty: run bench with --keep on it first")
        call_command("migrate", verbosity=0)
        report = province_fill_and_measure(wanted=wanted, runs=runs, write=write)
        write("")
        write(f"{'path':<16}{'consultations':>14}{'project ms':>12}{'floor ms':>12}{'ratio':>8}{'queries':>9}")
        for size, results in report["steps"].items():
            for name, row in results.items():
                write(f"{name:<16}{size:>14}{row['project_ms']:>12.2f}{row['floor_ms']:>12.2f}{row['ratio'] or 0:>8.2f}{row['queries']:>9}")
        write(f"growth (largest ÷ smallest): {report['growth']}")
        if json_path:
            Path(json_path).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            write(f"written {json_path}")

    def _inner(self, *, scale, json_path, runs, wanted) -> None:
        from facilities.bench.generate import TIMINGS, Generator, Plan
        from facilities.bench.measure import GROWTH, Paths, run_path
        from facilities.metrics.facts import earliest_day, facts_rebuild

        write = self.stdout.write
        write(f"bench: scale {scale} on {connection.settings_dict['NAME']}")
        write("migrating …")
        with TIMINGS.phase("migrate"):
            call_command("migrate", verbosity=0)
        write("demonstration network (seed_demo) …")
        with open(os.devnull, "w") as sink, TIMINGS.phase("seed_demo"):
            call_command("seed_demo", stdout=sink)
        plan = Plan.of(scale)
        write(f"plan: {plan.facilities} facilities, {plan.physicians} physicians, {plan.consultations} consultations, "
              f"{plan.obligations} obligations, {plan.events} audit events")
        generator = Generator(plan)
        generator.network()
        growth_paths = [p for p in GROWTH if p in wanted]

        def rebuild_facts():
            from django.utils import timezone
            with TIMINGS.phase("dashboard facts"):
                facts_rebuild(earliest_day(), timezone.localdate(), all_stats=True)

        def analyze():
            # Fresh statistics before each measuring step: without them the 10 % step was timed on the plans
            # of near-empty tables, and "growth" compared a badly planned small history with a well planned full one.
            # VACUUM too (2026-12-07): rows just written have no hint bits and no visibility map yet, so the first
            # reads after a step wrote pages and no index-only scan was possible; autovacuum gives a live
            # portal both long before a page is read again.
            with connection.cursor() as cursor, TIMINGS.phase("analyze"):
                cursor.execute("VACUUM ANALYZE")

        write("history: 10 % …")
        generator.grow_to(0.1)
        rebuild_facts()
        analyze()
        small = {}
        for name in growth_paths:
            write(f"  measuring {name} at 10 % …")
            small[name] = run_path(Paths(), name, runs=runs)
        write("history: 100 % …")
        generator.grow_to(1.0)
        write("dashboard facts …")
        rebuild_facts()
        analyze()
        generation = TIMINGS.report()  # issue 11: where the generation's time goes
        write("")
        write(f"{'generation':<16}{'rows':>10}{'seconds':>10}{'cpu s':>10}{'rows/s':>10}")
        for name, row in generation["phases"].items():
            write(f"{name:<16}{row['rows']:>10}{row['seconds']:>10.2f}{row['cpu_seconds']:>10.2f}{row['rows_per_second'] or 0:>10}")
        write(f"{'total':<16}{'':>10}{generation['total_seconds']:>10.2f}")
        write("")
        results = {}
        for name in wanted:
            write(f"  measuring {name} …")
            results[name] = run_path(Paths(), name, runs=runs)
        from audit.services import audit_chain_sequence, audit_chain_verify

        audit_chain_sequence()  # issue 11: the pages' access records, chained before the final walk
        verify_started = time.perf_counter()
        chain = audit_chain_verify()
        generation["verify_seconds"] = round(time.perf_counter() - verify_started, 2)
        growth = {
            name: {"small_ms": small[name]["project_ms"], "full_ms": results[name]["project_ms"],
                   "growth": round(results[name]["project_ms"] / small[name]["project_ms"], 2) if small[name]["project_ms"] else None,
                   "small_queries": small[name]["queries"], "full_queries": results[name]["queries"],
                   # the floor at both sizes: a page whose floor moved by as much moved with its data, not its code
                   "small_floor_ms": small[name]["floor_ms"], "full_floor_ms": results[name]["floor_ms"],
                   # a page is flat with history only if it shows as many rows at both sizes
                   "small_rows": small[name].get("rows_shown"), "full_rows": results[name].get("rows_shown")}
            for name in growth_paths
        }
        report = {"scale": scale, "paths": results, "growth": growth, "generation": generation}
        write("")
        write(f"{'path':<16}{'project ms':>12}{'floor ms':>12}{'ratio':>8}{'queries':>9}")
        for name, row in results.items():
            data = f"   data floor {row['data_floor_ms']:.2f} ms, ratio {row['data_ratio']:.2f}" if "data_floor_ms" in row else ""
            if "turns_ratio" in row:  # the page and its floor taken in turn
                data += f"; in turn {row['turns_project_ms']:.2f} / {row['turns_floor_ms']:.2f} ms, ratio {row['turns_ratio']:.2f}"
            write(f"{name:<16}{row['project_ms']:>12.2f}{row['floor_ms']:>12.2f}{row['ratio'] or 0:>8.2f}{row['queries']:>9}{data}")
            if "chain_delay_p99_ms" in row:  # issue 11: from commit to chained, under this path's load
                write(f"{'':<16}sequencer {row['sequencer']}: chain delay p50 {row['chain_delay_p50_ms']} ms, "
                      f"p99 {row['chain_delay_p99_ms']} ms, max {row['chain_delay_max_ms']} ms "
                      f"({row['chained_events']}/{row['appended_events']} events chained); one writer "
                      f"{row['one_writer_ms']} ms for the same events ({row['writers_speedup']}× slower than 8)")
        write("")
        write(f"{'growth':<16}{'10 % ms':>12}{'100 % ms':>12}{'x':>8}{'queries':>9}{'floor 10 %':>12}{'floor 100 %':>12}{'rows':>10}")
        for name, row in growth.items():
            rows = "" if row["small_rows"] is None else f"{row['small_rows']:>5}→{row['full_rows']}"
            write(f"{name:<16}{row['small_ms']:>12.2f}{row['full_ms']:>12.2f}{row['growth'] or 0:>8.2f}"
                  f"{row['small_queries']:>4}→{row['full_queries']:<4}{row['small_floor_ms']:>12.2f}{row['full_floor_ms']:>12.2f}{rows}")
        write(f"{chain.text}（{generation['verify_seconds']} s）")
        if not chain.intact:
            raise CommandError("the audit chain does not verify after the benchmark")
        if json_path:
            Path(json_path).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            write(f"written {json_path}")
