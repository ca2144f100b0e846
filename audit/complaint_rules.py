"""The complaints rulebook (JL-O6), pure: no database, no request (STYLE 1).

- ``EDGES``: the state graph as data — which act, by whom (the facility's handlers or the regulators
  over it), moves a complaint from which state to which. Services, pages and the API all ask it.
- Deadlines: acknowledge within ``TELEMED_COMPLAINT_ACK_DAYS`` and answer within
  ``TELEMED_COMPLAINT_ANSWER_DAYS`` calendar days of receipt. These are the deployment's choices
  (README settings table), not a day count taken from a regulation.
- The tracking number: ``TS`` + the Beijing date + six random digits, so that numbers are not
  guessable in sequence; the status page also asks for the last four digits of the phone given.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from telemed.checks import Check

from .choices import ComplaintState as S

RULE = "JL-O6"
ARTICLE = "投诉处理"
HANDLER, REGULATOR = "handler", "regulator"
TRACKING_DIGITS = 6
TRACKING_PATTERN = re.compile(rf"^TS\d{{8}}\d{{{TRACKING_DIGITS}}}$")


@dataclass(frozen=True)
class Edge:
    act: str
    sources: tuple[str, ...]
    target: str | None  # None: the state stays
    by: str  # HANDLER or REGULATOR
    label: str


EDGES: tuple[Edge, ...] = (
    Edge("acknowledge", (S.RECEIVED,), S.ACKNOWLEDGED, HANDLER, _("确认收到")),
    Edge("investigate", (S.RECEIVED, S.ACKNOWLEDGED, S.INVESTIGATING), S.INVESTIGATING, HANDLER, _("记录调查情况")),
    Edge("answer", (S.ACKNOWLEDGED, S.INVESTIGATING), S.ANSWERED, HANDLER, _("答复并认定")),
    Edge("note", (S.RECEIVED, S.ACKNOWLEDGED, S.INVESTIGATING, S.ANSWERED), None, REGULATOR, _("监管意见")),
    Edge("override", (S.ANSWERED,), None, REGULATOR, _("变更认定")),
)
ACTS = {edge.act: edge for edge in EDGES}


def edge_for(act: str) -> Edge:
    return ACTS[act]


def allowed_acts(*, state: str, handler: bool, regulator: bool) -> list[str]:
    """The acts a user may take on a complaint in ``state`` (handlers of the facility, regulators over it)."""
    return [
        e.act for e in EDGES
        if state in e.sources and ((e.by == HANDLER and handler) or (e.by == REGULATOR and regulator))
    ]


def act_checks(*, act: str, state: str, text: str, substantiated: bool | None = None) -> list[Check]:
    """JL-O6: the act fits the state, and carries what it must (notes, the answer and its finding,
    an override's reason and a finding different from the one on record)."""
    edge = ACTS[act]
    checks = [Check(RULE, ARTICLE, _("当前状态可办理此环节"), state in edge.sources,
                    "" if state in edge.sources else str(_("当前状态：%(state)s") % {"state": S(state).label}))]
    if act in ("investigate", "answer", "note", "override"):
        needs = {"investigate": _("须写明调查情况"), "answer": _("须写明给投诉人的答复"),
                 "note": _("须写明监管意见"), "override": _("须写明变更认定的理由")}[act]
        checks.append(Check(RULE, ARTICLE, needs, bool(text.strip())))
    if act == "answer":
        checks.append(Check(RULE, ARTICLE, _("须认定投诉是否属实"), substantiated is not None))
    return checks


def override_checks(*, current: bool | None, new: bool | None) -> list[Check]:
    return [Check(RULE, ARTICLE, _("变更后的认定须与原认定不同"), new is not None and new != current)]


def deadlines(*, received_at: dt.datetime, ack_days: int, answer_days: int) -> tuple[dt.datetime, dt.datetime]:
    """Calendar days from receipt (the deployment's settings, not a regulation's count)."""
    return received_at + dt.timedelta(days=ack_days), received_at + dt.timedelta(days=answer_days)


def ack_overdue(*, ack_due_at: dt.datetime, acknowledged_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Not acknowledged by its deadline (late acknowledgement stays overdue on record)."""
    done = acknowledged_at if acknowledged_at is not None else now
    return done > ack_due_at


def answer_overdue(*, answer_due_at: dt.datetime, answered_at: dt.datetime | None, now: dt.datetime) -> bool:
    done = answered_at if answered_at is not None else now
    return done > answer_due_at


def tracking_number(*, day: dt.date, digits: int) -> str:
    """``TS20261207`` + six digits drawn at random by the caller (``secrets``)."""
    return f"TS{day:%Y%m%d}{digits:0{TRACKING_DIGITS}d}"


def normalise_tracking(value: str) -> str:
    return re.sub(r"\s+", "", value or "").upper()


def normalise_phone(value: str) -> str:
    """Digits only (spaces, hyphens and a leading + dropped); empty when anything else is in it."""
    stripped = re.sub(r"[\s\-()]", "", value or "").removeprefix("+")
    return stripped if stripped.isdigit() else ""


def phone_checks(phone: str) -> list[Check]:
    ok = 7 <= len(phone) <= 20
    return [Check(RULE, ARTICLE, _("联系电话须为7至20位数字"), ok)]


def phone_tail_matches(*, phone: str, tail: str) -> bool:
    """The status page's second factor: the last four digits of the phone given, compared in
    constant time."""
    tail = (tail or "").strip()
    if len(tail) != 4 or not tail.isdigit() or len(phone) < 4:
        return False
    return hmac.compare_digest(phone[-4:].encode(), tail.encode())

