"""Bulk data for the benchmark: clones of the demonstration network's rows, in batches.

The demonstration data (``seed_demo``) is made through the services, so its rows satisfy every
rule; the benchmark copies them (new unique numbers, spread over the past year) as tuples through
``telemed.bulk.insert_rows`` in batches (issue 11: ``bulk_create`` of model instances made the 0.1
province take most of an hour), which respects every database constraint, and extends the audit chain
with events hashed by ``audit.rules.leaf_hash`` and ``link_hash`` — the functions
``audit_event_append`` and the sequencer use — so that ``audit_verify`` holds afterwards. Each phase
is timed (``TIMINGS``; ``manage.py bench`` prints and records them).
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from audit import rules as audit_rules
from audit.choices import EventType, Outcome
from audit.models import AuditEvent
from billing.models import Charge, FacilityPrice
from consultations.choices import ConsultationState, ObligationState
from consultations.models import Consultation, Obligation, Patient, Violation
from facilities.models import Facility, Physician, PracticeRegistration
from telemed import crypto
from telemed.bulk import insert_rows
from telemed.crypto import chain_hash_algorithm
from telemed.fields import BlindIndexField, EncryptedTextField

BATCH = 5000
# The province (issue 11): per year at scale 1.0.
FACILITIES = 1_000
PHYSICIANS = 20_000
CONSULTATIONS = 1_000_000
PER_CONSULTATION = 10  # obligations and audit events per consultation


def progress(label: str, done: int, total: int, *, out=sys.stdout) -> None:
    """A one-line progress bar, redrawn in place."""
    width = 30
    filled = int(width * done / total) if total else width
    out.write(f"\r  {label:<14} [{'#' * filled}{'.' * (width - filled)}] {done:>9}/{total}")
    if done >= total:
        out.write("\n")
    out.flush()


class Timings:
    """Wall and CPU seconds and rows per phase of the generation, summed over its steps (issue 11:
    the generation of the 0.1 province took most of an hour; this says where)."""

    def __init__(self):
        self.phases: dict[str, dict] = {}

    @contextmanager
    def phase(self, name: str):
        wall, cpu = time.perf_counter(), time.process_time()
        counter = {"rows": 0}
        try:
            yield counter
        finally:
            row = self.phases.setdefault(name, {"seconds": 0.0, "cpu_seconds": 0.0, "rows": 0})
            row["seconds"] += time.perf_counter() - wall
            row["cpu_seconds"] += time.process_time() - cpu
            row["rows"] += counter["rows"]

    def report(self) -> dict:
        phases = {name: {"seconds": round(r["seconds"], 2), "cpu_seconds": round(r["cpu_seconds"], 2), "rows": r["rows"],
                         "rows_per_second": round(r["rows"] / r["seconds"]) if r["seconds"] else None}
                  for name, r in self.phases.items()}
        return {"phases": phases, "total_seconds": round(sum(r["seconds"] for r in self.phases.values()), 2)}


TIMINGS = Timings()


def _row(obj: models.Model, **changes) -> dict:
    """The concrete field values of ``obj`` (without its primary key), with ``changes`` applied."""
    values = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if not f.primary_key}
    values.update(changes)
    return values


def _bulk(model, rows, label: str, total: int, done: int = 0) -> list:
    """Insert ``rows`` (an iterable of field dicts) in batches; returns the created rows' ids, in order."""
    with TIMINGS.phase(label) as counter:
        ids = _bulk_timed(model, rows, label, total, done)
        counter["rows"] = len(ids)
    return ids


def _preparers(model) -> tuple[tuple[str, ...], list]:
    """The columns ``telemed.bulk.insert_rows`` writes for ``model`` and, per column, what stands in
    for the per-row work of ``bulk_create`` (issue 11: it was most of the generation's time):
    ``auto_now``/``auto_now_add`` get the time of the batch, an encrypted number the ciphertext of its
    value — computed once per distinct value, so every clone of the template carries a valid
    ciphertext bound to its table and column (JL-A2) — and a blind index the digest of its source.
    ``None``: the value as it is."""
    fields = [f for f in model._meta.concrete_fields if f is not model._meta.auto_field]
    preparers: list = []
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            preparers.append(lambda value, row: timezone.now())
        elif isinstance(f, BlindIndexField):
            preparers.append(_memo(lambda value, row, source=f.source: crypto.blind_index(row[source] or "", purpose=source),
                                   key=lambda value, row, source=f.source: row[source]))
        elif isinstance(f, EncryptedTextField):
            preparers.append(_memo(lambda value, row, field=f: field.get_prep_value(value), key=lambda value, row: value))
        else:
            preparers.append(None)
    return tuple(f.attname for f in fields), preparers


def _memo(compute, *, key):
    known: dict = {}

    def prepare(value, row):
        k = key(value, row)
        if k not in known:
            known[k] = compute(value, row)
        return known[k]
    return prepare


def _bulk_timed(model, rows, label: str, total: int, done: int = 0) -> list:
    columns, preparers = _preparers(model)
    plain = all(p is None for p in preparers)
    ids, batch = [], []

    def flush():
        nonlocal done
        ids.extend(pk for pk, in insert_rows(model, columns, batch))
        done += len(batch)
        batch.clear()
        progress(label, done, total)

    for values in rows:
        if plain:
            batch.append(tuple(values[c] for c in columns))
        else:
            batch.append(tuple(values[c] if p is None else p(values[c], values) for c, p in zip(columns, preparers, strict=True)))
        if len(batch) >= BATCH:
            flush()
    if batch or not ids:
        flush()
    return ids


@dataclass
class Plan:
    """What one scale means in rows."""

    scale: float
    facilities: int = 0
    physicians: int = 0
    consultations: int = 0
    events: int = 0
    obligations: int = 0
    made: dict = field(default_factory=dict)

    @classmethod
    def of(cls, scale: float) -> Plan:
        consultations = max(40, round(CONSULTATIONS * scale))
        return cls(scale=scale, facilities=max(4, round(FACILITIES * scale)), physicians=max(10, round(PHYSICIANS * scale)),
                   consultations=consultations, events=consultations * PER_CONSULTATION,
                   obligations=consultations * PER_CONSULTATION)


class Generator:
    """Writes the province year in steps (``grow_to(fraction)``), so paths can be measured at 10 %
    and at 100 % of the history."""

    def __init__(self, plan: Plan, *, seed: int = 2018):
        self.plan = plan
        self.rng = random.Random(seed)
        self.now = timezone.now()
        self.year_ago = self.now - dt.timedelta(days=365)
        self.made_consultations = 0
        closed = Consultation.objects.filter(state=ConsultationState.CLOSED, charge__isnull=False).order_by("pk")
        self.templates = {
            "closed": closed.first(),
            "draft": Consultation.objects.filter(state=ConsultationState.DRAFT).order_by("pk").first(),
            "sent": Consultation.objects.filter(state=ConsultationState.SENT).order_by("pk").first(),
        }
        self.templates = {k: v for k, v in self.templates.items() if v is not None}
        if "closed" not in self.templates:
            raise RuntimeError("the demonstration data has no closed, charged consultation to copy (seed_demo)")
        self.charge_template = Charge.objects.get(consultation=self.templates["closed"])
        self.obligation_met = Obligation.objects.filter(state=ObligationState.MET).order_by("pk").first()
        self.obligation_violated = Obligation.objects.filter(state=ObligationState.VIOLATED).order_by("pk").first()
        self.prices = {(p.facility_id, p.service_type_id): p for p in FacilityPrice.objects.order_by("valid_from")}

    # --- the network ---------------------------------------------------------------------------

    def network(self) -> None:
        """Facilities and physicians up to the province's numbers, copied from the demonstration's
        inviting county hospitals (each with a registration at its facility)."""
        inviting_ids = set(Consultation.objects.values_list("inviting_id", flat=True))
        model_facility = Facility.objects.filter(pk__in=inviting_ids).order_by("pk").first()
        # At least a few copies even at a scale below the demonstration's size, so that the copying
        # itself is exercised by the test at the smallest scale.
        missing = max(2, self.plan.facilities - Facility.objects.count())
        rows = (
            _row(model_facility, name=f"基准测试县医院{i:05d}", licence_number=f"BENCH-LIC-{i:06d}")
            for i in range(missing)
        )
        new_facilities = _bulk(Facility, rows, "facilities", missing)
        self.inviting_ids = sorted(inviting_ids | set(new_facilities))
        self.invited_ids = sorted(set(Consultation.objects.values_list("invited_id", flat=True)))
        template = Physician.objects.order_by("pk").first()
        registration = PracticeRegistration.objects.filter(physician=template).first()
        missing = max(2, self.plan.physicians - Physician.objects.count())
        rows = (
            _row(template, user_id=None, name=f"基准医师{i:06d}", qualification_number=f"BQ{i:010d}", certificate_number=f"BC{i:010d}")
            for i in range(missing)
        )
        physicians = _bulk(Physician, rows, "physicians", missing)
        if registration is not None:
            rows = (
                _row(registration, physician_id=pk, facility_id=self.inviting_ids[i % len(self.inviting_ids)])
                for i, pk in enumerate(physicians)
            )
            _bulk(PracticeRegistration, rows, "registrations", len(physicians))

    # --- the history ---------------------------------------------------------------------------

    def _moment(self) -> dt.datetime:
        return self.year_ago + dt.timedelta(seconds=self.rng.uniform(0, 365 * 86400 - 3 * 86400))

    def grow_to(self, fraction: float) -> None:
        target = round(self.plan.consultations * fraction)
        count = target - self.made_consultations
        if count <= 0:
            return
        start = self.made_consultations
        self.made_consultations = target
        with transaction.atomic():
            self._consultations(start, count)
        with transaction.atomic():
            self._obligations(start, count * PER_CONSULTATION)
        with transaction.atomic():
            self._audit_events(count * PER_CONSULTATION)

    def _consultations(self, start: int, count: int) -> None:
        rng = self.rng
        shifted = []
        for i in range(count):
            kind = "closed" if rng.random() < 0.9 or len(self.templates) == 1 else rng.choice([k for k in self.templates if k != "closed"])
            shifted.append((start + i, kind, self._moment(), self.inviting_ids[rng.randrange(len(self.inviting_ids))],
                            self.invited_ids[rng.randrange(len(self.invited_ids))]))
        patient_template = self.templates["closed"].patient
        patients = _bulk(Patient, (
            _row(patient_template, facility_id=inviting, name=f"患者{n:07d}", external_id="", medical_record_number=f"B{n:09d}")
            for n, _kind, _at, inviting, _invited in shifted
        ), "patients", count)
        rows = []
        for (n, kind, at, inviting, invited), patient_id in zip(shifted, patients, strict=True):
            template = self.templates[kind]
            delta = at - template.created_at
            moved = {
                f.attname: getattr(template, f.attname) + delta
                for f in Consultation._meta.concrete_fields
                if isinstance(f, models.DateTimeField) and getattr(template, f.attname) is not None
            }
            rows.append(_row(template, **moved, number=f"BENCH{n:010d}", inviting_id=inviting, invited_id=invited,
                             patient_id=patient_id, agreement_id=None))
        consultation_ids = _bulk(Consultation, rows, "consultations", count)
        charge = self.charge_template
        charges = []
        for row, pk in zip(rows, consultation_ids, strict=True):
            price = self.prices.get((row["invited_id"], row["service_type_id"]))
            if row["state"] != ConsultationState.CLOSED or price is None:
                continue
            charges.append(_row(charge, consultation_id=pk, inviting_id=row["inviting_id"], invited_id=row["invited_id"],
                                completed_at=row["closed_at"], created_at=row["closed_at"], price_id=price.pk,
                                statement_id=None, paid_at=row["closed_at"]))
        _bulk(Charge, charges, "charges", len(charges))
        self.consultation_rows = list(zip(consultation_ids, rows, strict=True))

    def _obligations(self, start: int, count: int) -> None:
        """Obligations: 95 % met by a consultation, 5 % violated (each with its violation)."""
        rng = self.rng
        template_met = self.obligation_met
        template_violated = self.obligation_violated or template_met
        rows, violated = [], []
        for _ in range(count):
            pk, consultation = self.consultation_rows[rng.randrange(len(self.consultation_rows))]
            trigger_at = consultation["created_at"] - dt.timedelta(hours=2)
            common = {"facility_id": consultation["inviting_id"], "patient_id": consultation["patient_id"], "admission_id": None,
                      "trigger_at": trigger_at, "due_at": trigger_at + dt.timedelta(hours=24), "reminders_sent": []}
            if rng.random() < 0.05 and template_violated is not None:
                rows.append(_row(template_violated, **common, trigger=template_violated.trigger, state=ObligationState.VIOLATED,
                                 consultation_id=None, met_at=None))
                violated.append(len(rows) - 1)
            else:
                rows.append(_row(template_met, **common, trigger=template_met.trigger, state=ObligationState.MET,
                                 consultation_id=pk, met_at=consultation["created_at"]))
        ids = _bulk(Obligation, rows, "obligations", count)
        _bulk(Violation, (
            {"facility_id": rows[i]["facility_id"], "obligation_id": ids[i], "rule": "JL-C2", "due_at": rows[i]["due_at"],
             "recorded_at": rows[i]["due_at"] + dt.timedelta(minutes=1), "message_key": "", "description": "JL-C2 第二十二条: 基准测试数据，资料未按时上传。"}
            for i in violated
        ), "violations", len(violated))

    def _audit_events(self, count: int) -> None:
        """Record-access events extending the chain, hashed exactly as ``audit_event_append`` (the leaf)
        and the sequencer (the link) do (issue 11). What the demonstration appended is chained first."""
        from audit.services import audit_chain_sequence

        audit_chain_sequence()
        last = (AuditEvent.objects.filter(sequence__isnull=False).order_by("-sequence")
                .values("sequence", "hash", "occurred_at").first())
        sequence, prev_hash = (last["sequence"], last["hash"]) if last else (0, audit_rules.GENESIS_HASH)
        moment = last["occurred_at"] if last else self.now
        rng = self.rng
        algorithm = chain_hash_algorithm(settings.TELEMED_DATA_CIPHER)  # issue 13: as audit_event_append

        record_view, success = str(EventType.RECORD_VIEW), str(Outcome.SUCCESS)
        leaf_hash, link_hash, step = audit_rules.leaf_hash, audit_rules.link_hash, dt.timedelta(microseconds=7)
        choose, consultations = rng.randrange, self.consultation_rows

        def rows():
            # A tight loop (issue 11): one dict per event, hashed once for its leaf and once for its link.
            # ``details`` holds strings only, so it is already what ``json_normal`` would return.
            nonlocal sequence, prev_hash, moment
            for _ in range(count):
                pk, consultation = consultations[choose(len(consultations))]
                sequence += 1
                moment += step
                inviting, invited = consultation["inviting_id"], consultation["invited_id"]
                fields = {
                    "sequence": sequence, "occurred_at": moment, "actor_id": consultation["created_by_id"],
                    "actor_label": "基准测试", "acting_facility_id": inviting, "acting_division_code": "",
                    "ip_address": "10.0.0.1", "request_id": f"bench-{sequence}", "channel": "web",
                    "event_type": record_view, "object_type": "consultations.consultation", "object_id": str(pk),
                    "facility_ids": [inviting] if inviting == invited else sorted((inviting, invited)),
                    "outcome": success,
                    "details": {"consultation": str(pk), "patient_id": str(consultation["patient_id"]), "purpose": "benchmark"},
                    "hash_algorithm": algorithm, "prev_hash": prev_hash, "sequenced_at": moment,
                }
                fields["leaf_hash"] = leaf = leaf_hash(fields, algorithm)
                fields["hash"] = prev_hash = link_hash(prev_hash, sequence, leaf, algorithm)
                yield fields

        _bulk(AuditEvent, rows(), "audit events", count)
