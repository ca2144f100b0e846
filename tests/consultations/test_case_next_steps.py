"""Issue 12: the case page leads with "下一步" — the viewer's actions now, from the ``EDGES`` table via
``allowed_actions`` (never a restated state list), each with the deadline that applies — then the
summary, then the rest, each section its own include."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from consultations import rules, selectors, services
from consultations.choices import ConsultationState as S
from consultations.choices import TriggerKind
from tests.consultations.test_pages import in_session

UTC = dt.UTC
TARGETS = {"routine": 120, "urgent": 30, "emergency": 10}


def detail(consultation) -> str:
    return reverse("consultations:detail", args=[consultation.pk])


# --- The pure rule ---------------------------------------------------------------------------------


def test_jl_c4_answering_a_sent_request_is_due_its_response_target_after_sending():
    sent_at = dt.datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    for action in ("accept", "decline", "return_material"):
        deadline = rules.step_deadline(action=action, state=S.SENT, urgency="urgent", sent_at=sent_at, scheduled_for=None,
                                       obligation_due_at=None, targets_minutes=TARGETS)
        assert deadline.rule == "JL-C4" and deadline.due_at == sent_at + dt.timedelta(minutes=30)
    assert rules.step_deadline(action="cancel", state=S.SENT, urgency="urgent", sent_at=sent_at, scheduled_for=None,
                               obligation_due_at=None, targets_minutes=TARGETS) is None


def test_jl_c2_the_inviting_sides_acts_on_a_draft_are_due_with_the_24_hour_obligation():
    due = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    for action in ("send", "document", "consent", "participant"):
        for state in (S.DRAFT, S.RETURNED):
            deadline = rules.step_deadline(action=action, state=state, urgency="routine", sent_at=None, scheduled_for=None,
                                           obligation_due_at=due, targets_minutes=TARGETS)
            assert (deadline.rule, deadline.due_at) == ("JL-C2", due)
    # Once sent, the obligation is met: uploading more has no JL-C2 deadline.
    assert rules.step_deadline(action="document", state=S.SENT, urgency="routine", sent_at=due, scheduled_for=None,
                               obligation_due_at=due, targets_minutes=TARGETS) is None


def test_starting_the_session_is_due_at_the_scheduled_time():
    at = dt.datetime(2026, 12, 2, 1, 30, tzinfo=UTC)
    deadline = rules.step_deadline(action="start_session", state=S.SCHEDULED, urgency="routine", sent_at=None, scheduled_for=at,
                                   obligation_due_at=None, targets_minutes=TARGETS)
    assert deadline.due_at == at


# --- The page --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_next_panel_comes_first_then_the_summary_then_the_rest(client, world):
    sent = world.sent()
    client.force_login(world.invited_coordinator)
    response = client.get(detail(sent))
    page = response.content.decode()
    order = [page.index(marker) for marker in (
        'id="actions"', 'id="progress"', "<h2>患者</h2>", 'id="opinions"', 'id="documents"', 'id="participants"',
        'id="referrals"', 'id="responsibility"', 'id="timeline"',
    )]
    assert order == sorted(order)
    assert "<h2 id=\"next-title\">下一步</h2>" in page
    used = {t.name for t in response.templates}
    for include in ("_case_head", "_case_next", "_case_summary", "_case_opinion", "_case_documents", "_case_people",
                    "_case_referrals", "_case_responsibility", "_case_timeline"):
        assert f"consultations/{include}.html" in used


@pytest.mark.django_db
def test_jl_c4_invited_coordinator_sees_answer_acts_from_edges_with_the_response_deadline(client, world):
    sent = world.sent()
    client.force_login(world.invited_coordinator)
    response = client.get(detail(sent))
    steps = response.context["next_steps"]
    allowed = selectors.consultation_allowed_actions(user=world.invited_coordinator, consultation=sent)
    assert [s.action for s in steps] == ["accept", "return_material", "decline"]
    assert {s.action for s in steps} == set(allowed)  # the graph decides, the panel only orders
    assert steps[0].label == rules.find_edge(S.SENT, "accept", sent.service_type.category).label
    target = settings.TELEMED_RESPONSE_TARGET_MINUTES[sent.urgency]
    for step in steps:
        assert step.deadline.rule == "JL-C4" and step.deadline.due_at == sent.sent_at + dt.timedelta(minutes=target)
    assert [s.secondary for s in steps] == [False, True, True]
    page = response.content.decode()
    assert "JL-C4 及时受理或退回、拒绝" in page and 'class="countdown' in page


@pytest.mark.django_db
def test_jl_c2_inviting_clinician_on_a_draft_sees_the_obligations_deadline(client, world):
    patient = world.patient()
    obligation = services.obligation_open(actor=world.clinician, patient=patient, trigger=TriggerKind.PATIENT_REQUEST,
                                          event_at=timezone.now() - dt.timedelta(hours=4), details={"requested_by": "家属"})
    draft = world.draft(patient=patient)
    client.force_login(world.clinician)
    response = client.get(detail(draft))
    steps = response.context["next_steps"]
    assert [s.action for s in steps] == ["consent", "participant", "document", "send", "cancel"]
    for step in steps[:4]:
        assert (step.deadline.rule, step.deadline.due_at) == ("JL-C2", obligation.due_at)
    assert steps[4].deadline is None and steps[4].secondary
    assert "JL-C2 24小时内上传会诊资料" in response.content.decode()


@pytest.mark.django_db
def test_a_viewer_with_nothing_to_do_is_told_so(client, world):
    consultation = in_session(world)
    client.force_login(world.clinician)  # the inviting side waits for the opinion
    response = client.get(detail(consultation))
    assert response.context["next_steps"] == []
    assert "当前您无需在此申请上办理。" in response.content.decode()
    client.force_login(world.expert)
    steps = client.get(detail(consultation)).context["next_steps"]
    assert steps[0].action == "sign" and steps[0].anchor == "form-sign"
