"""The case page's "下一步" panel: what the viewing user may do now on this case, first things first,
each with the deadline that applies (issue 12).

Which actions are offered is decided elsewhere, once: the state-graph actions by ``rules.EDGES``
(``selectors.consultation_allowed_actions``), the others by the services' own conditions
(``views._offered``); this module only orders and labels them and asks ``rules.step_deadline`` when
each is due. It restates no state.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from . import rules, selectors

# Acts that are not edges of the state graph (their labels; the graph's come from ``EDGES``).
OTHER_LABELS = {
    "consent": _("记录知情同意（JL-C3）"),
    "participant": _("加入邀请方经治医师（JL-C3）"),
    "document": _("上传病历资料（JL-C2、JL-C5）"),
    "assign": _("指定会诊专家（JL-P1～P6）"),
    "rate": _("记录满意度评价（JL-O5）"),
    "referral_offer": _("提供转诊安排（JL-C10）"),
}
# Where each act's form is on the page (the state-graph buttons are in the panel itself).
FORM_ANCHORS = {
    "consent": "form-consent", "participant": "form-participant", "document": "form-document", "assign": "form-assign",
    "schedule": "form-schedule", "sign": "form-sign", "correct": "form-correct", "rate": "ratings",
    "referral_offer": "form-referral_offer", "return_material": "form-return_material", "decline": "form-decline",
    "cancel": "form-cancel",
}
# First what moves the case on, then the alternatives (returning, declining, correcting, cancelling).
ORDER = (
    "consent", "participant", "document", "send", "accept", "assign", "schedule", "start_session", "sign", "close",
    "rate", "referral_offer", "correct", "return_material", "decline", "cancel",
)
SECONDARY = frozenset({"correct", "return_material", "decline", "cancel"})


@dataclass(frozen=True)
class NextStep:
    action: str
    label: str
    anchor: str
    secondary: bool
    deadline: rules.StepDeadline | None = None


def next_steps(*, consultation, offered: list[str], referrals=()) -> list[NextStep]:
    """The viewer's next steps on ``consultation``: every offered action (and pending referral step),
    in ``ORDER``, each with its label and deadline. At most one query (the JL-C2 obligation, only
    when an act it governs is offered)."""
    obligation_due = None
    if any(a in rules.OBLIGATION_ACTS for a in offered) and consultation.state in (rules.S.DRAFT, rules.S.RETURNED):
        obligation_due = selectors.open_obligation_due(consultation=consultation)
    category = consultation.service_type.category
    steps = []
    for action in sorted(offered, key=lambda a: ORDER.index(a) if a in ORDER else len(ORDER)):
        edge = rules.find_edge(consultation.state, action, category)
        label = edge.label if edge is not None else OTHER_LABELS.get(action, action)
        deadline = rules.step_deadline(
            action=action, state=consultation.state, urgency=consultation.urgency, sent_at=consultation.sent_at,
            scheduled_for=consultation.scheduled_for, obligation_due_at=obligation_due,
            targets_minutes=settings.TELEMED_RESPONSE_TARGET_MINUTES,
        )
        steps.append(NextStep(action, label, FORM_ANCHORS.get(action, f"form-{action}"), action in SECONDARY, deadline))
    for referral in referrals:
        for step in getattr(referral, "steps", ()):
            steps.append(NextStep(f"referral-{step['action']}", step["step"].button, f"referral-{referral.pk}", step["step"].danger))
    return steps
