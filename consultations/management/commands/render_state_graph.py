"""Write docs/consultations-states.md from ``consultations.rules.EDGES`` (a test keeps them equal)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from consultations.choices import ConsultationState, Side
from consultations.rules import EDGES, EXPERT
from facilities.choices import ServiceCategory, StaffRole

DOC = Path(settings.BASE_DIR) / "docs" / "consultations-states.md"


def _who(edge) -> str:
    roles = ["受邀方指定专家" if r == EXPERT else str(StaffRole(r).label) for r in edge.roles]
    return f"{Side(edge.side).label}：" + "、".join(roles)


def render() -> str:
    lines = [
        "# Consultation states (JL-C4 workflow)",
        "",
        "Generated from `consultations/rules.py` (`EDGES`) by `python manage.py render_state_graph`;",
        "`tests/consultations/test_state_graph_doc.py` fails when this file and the code disagree.",
        "Every pair of state and action not listed here is refused with `invalid_transition`; while either",
        "facility is suspended (JL-F5) only cancellation is allowed; while the record is sealed (JL-C8), nothing.",
        "",
        "```mermaid",
        "stateDiagram-v2",
    ]
    for state in ConsultationState:
        lines.append(f"    {state.value}: {state.label}")
    for edge in EDGES:
        only = "" if len(edge.categories) == 2 else f"（仅{ServiceCategory(edge.categories[0]).label}）"
        lines.append(f"    {edge.source} --> {edge.target}: {edge.action}{only}")
    lines += ["```", "", "| from | action | to | who | services |", "|---|---|---|---|---|"]
    for edge in EDGES:
        cats = "、".join(str(ServiceCategory(c).label) for c in edge.categories)
        lines.append(
            f"| {ConsultationState(edge.source).label} | `{edge.action}` {edge.label} | {ConsultationState(edge.target).label} | {_who(edge)} | {cats} |"
        )
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Render the consultation state graph into docs/consultations-states.md."

    def handle(self, *args, **options):
        DOC.write_text(render(), encoding="utf-8")
        self.stdout.write(f"wrote {DOC}")
