"""The rows of the JL-C2 violation pages (the register ``consultations:violation-list`` and the
regulators' start page), read as plain values and rendered to HTML here (issue 11).

A violation row shows its facility, division and patient, two times and its text: read through the
joined obligation as one ``values_list`` — no model instances, and no decryption of the patient's
identity and phone numbers, which these pages never show (only the name is read, JL-A2). The rows
are built with the standard library's ``html.escape`` (the same five characters as Django's
``escape``) instead of template loops, which cost these pages more than their queries; the HTML is
the same as the templates made (tests/consultations/test_violation_rows.py). Each row carries
``pk``, ``facility_id`` and ``patient_id`` for the access record (JL-C8, ``record_list_access``).
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import NamedTuple

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from .choices import TriggerKind
from .models import violation_text

# As ``Obligation.get_trigger_display``: the label of the stored value, else the value itself.
_TRIGGER_LABELS = dict(TriggerKind.choices)


class ViolationRow(NamedTuple):
    pk: int
    facility_id: int
    patient_id: int
    facility_name: str
    division_name: str
    patient_name: str
    rule: str
    due_at: datetime
    recorded_at: datetime
    trigger: str
    message_key: str
    description: str


_FIELDS = (
    "pk", "facility_id", "obligation__patient_id", "facility__name", "facility__division__name",
    "obligation__patient__name", "rule", "due_at", "recorded_at", "obligation__trigger", "message_key", "description",
)


def violation_rows(violations) -> list[ViolationRow]:
    """The rows of ``violations`` (a scoped, ordered and sliced ``Violation`` queryset, such as a
    page of ``selectors.violation_list``): one query, in its order."""
    return [ViolationRow._make(values) for values in violations.values_list(*_FIELDS)]


class _Cells:
    """What every row of one page shares, worked out once a page: the active time zone and
    language's trigger labels (``Obligation.get_trigger_display``: the label, else the value)."""

    def __init__(self):
        self.zone = timezone.get_current_timezone()
        self.triggers: dict[str, str] = {}

    def minute(self, moment: datetime) -> str:
        """As the templates' ``|date:"Y-m-d H:i"``: local time (the active time zone), to the minute."""
        return f"{moment.astimezone(self.zone):%Y-%m-%d %H:%M}"

    def text(self, row: ViolationRow) -> str:
        if row.trigger not in self.triggers:
            self.triggers[row.trigger] = str(_TRIGGER_LABELS.get(row.trigger, row.trigger))
        return violation_text(
            message_key=row.message_key, description=row.description, due_at=row.due_at,
            trigger=self.triggers[row.trigger], patient_name=row.patient_name,
        )


def register_html(rows: list[ViolationRow]) -> SafeString:
    """The register's rows (templates/consultations/violation_list.html), each linking its facility."""
    cells, links, parts = _Cells(), {}, []
    for row in rows:
        if row.facility_id not in links:
            links[row.facility_id] = escape(reverse("facilities:facility-detail", args=[row.facility_id]))
        parts.append(
            "\n      <tr>\n"
            f'        <td><a href="{links[row.facility_id]}">{escape(row.facility_name)}</a></td>\n'
            f"        <td>{escape(row.division_name)}</td>\n"
            f"        <td>{escape(row.patient_name)}</td>\n"
            f'        <td><span class="check-rule">{escape(row.rule)}</span></td>\n'
            f'        <td class="nowrap">{cells.minute(row.due_at)}</td>\n'
            f'        <td class="nowrap">{cells.minute(row.recorded_at)}</td>\n'
            f"        <td>{escape(cells.text(row))}</td>\n"
            "      </tr>\n    "
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value escaped above


def home_panel_html(rows: list[ViolationRow]) -> SafeString:
    """The start page's latest violations (templates/consultations/_home_panel.html)."""
    cells = _Cells()
    return mark_safe("".join(  # noqa: S308 - every value escaped
        "\n        <tr>\n"
        f'          <td>{escape(row.facility_name)} <span class="muted small">{escape(row.division_name)}</span></td>\n'
        f"          <td>{escape(row.patient_name)}</td>\n"
        f'          <td class="nowrap">{cells.minute(row.due_at)}</td>\n'
        f"          <td>{escape(cells.text(row))}</td>\n"
        "        </tr>\n      "
        for row in rows
    ))
