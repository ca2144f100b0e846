"""The consultations rulebook as pure functions: the state graph, JL-C2 arithmetic, JL-C3..C7."""

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from consultations import rules
from consultations.choices import ConsultationState as S
from consultations.choices import TriggerKind
from facilities.choices import ServiceCategory, StaffRole

SHANGHAI = ZoneInfo("Asia/Shanghai")
OPINION, DIAGNOSIS = ServiceCategory.OPINION, ServiceCategory.DIAGNOSIS


def actor_for(edge) -> rules.Actor:
    roles = frozenset(r for r in edge.roles if r != rules.EXPERT)
    return rules.Actor(
        inviting_roles=roles if edge.side == "inviting" else frozenset(),
        invited_roles=roles if edge.side == "invited" else frozenset(),
        is_assigned_expert=rules.EXPERT in edge.roles,
    )


def decide(state, action, category, actor, *, inviting_suspended=False, invited_suspended=False):
    return rules.decide_transition(
        state=state, action=action, category=category, actor=actor,
        inviting_suspended=inviting_suspended, invited_suspended=invited_suspended,
    )


# --- The graph: every edge allowed to its owner, refused to the other side ------------------


@pytest.mark.parametrize("edge", rules.EDGES, ids=lambda e: f"{e.source}-{e.action}-{e.target}")
def test_jl_c4_every_edge_is_allowed_to_its_owner_and_refused_to_others(edge):
    category = edge.categories[0]
    allowed = decide(edge.source, edge.action, category, actor_for(edge))
    assert allowed.allowed and allowed.edge.target == edge.target

    other_side = rules.Actor(
        inviting_roles=frozenset(StaffRole) if edge.side == "invited" else frozenset(),
        invited_roles=frozenset(StaffRole) if edge.side == "inviting" else frozenset(),
    )
    refused = decide(edge.source, edge.action, category, other_side)
    assert refused.code == "permission_denied" and refused.status == 403


@pytest.mark.parametrize("edge", [e for e in rules.EDGES if e.action != "cancel"], ids=lambda e: f"{e.source}-{e.action}")
def test_jl_f5_suspension_freezes_every_edge_but_cancellation(edge):
    for flags in ({"inviting_suspended": True}, {"invited_suspended": True}):
        decision = decide(edge.source, edge.action, edge.categories[0], actor_for(edge), **flags)
        assert decision.code == "JL-F5" and "第三十四条" in decision.message


def test_jl_f5_cancellation_stays_possible_while_suspended():
    edge = rules.find_edge(S.SENT, "cancel", OPINION)
    assert decide(S.SENT, "cancel", OPINION, actor_for(edge), inviting_suspended=True).allowed


def test_every_pair_not_in_the_graph_is_refused_with_what_is_possible():
    in_graph = {(e.source, e.action, c) for e in rules.EDGES for c in e.categories}
    everyone = rules.Actor(inviting_roles=frozenset(StaffRole), invited_roles=frozenset(StaffRole), is_assigned_expert=True)
    refused = 0
    for state in S:
        for action in rules.ACTIONS:
            for category in (OPINION, DIAGNOSIS):
                decision = decide(state, action, category, everyone)
                if (state, action, category) in in_graph:
                    assert decision.allowed
                else:
                    assert decision.code == "invalid_transition"
                    assert str(S(state).label) in decision.message
                    refused += 1
    assert refused > 50
    # Terminal states have no way out.
    for terminal in (S.DECLINED, S.CANCELLED):
        assert rules.edges_from(terminal) == []


def test_opinion_services_need_a_session_diagnosis_can_be_signed_directly():
    expert = rules.Actor(is_assigned_expert=True)
    assert decide(S.ACCEPTED, "sign", DIAGNOSIS, expert).allowed
    assert decide(S.ACCEPTED, "sign", OPINION, expert).code == "invalid_transition"
    assert decide(S.IN_SESSION, "sign", OPINION, expert).allowed


def test_jl_c6_only_the_assigned_expert_signs_not_the_coordinator():
    coordinator = rules.Actor(invited_roles=frozenset({StaffRole.COORDINATOR}))
    assert decide(S.IN_SESSION, "sign", OPINION, coordinator).code == "permission_denied"
    assert decide(S.SIGNED, "correct", OPINION, rules.Actor(is_assigned_expert=True)).edge.target == S.SIGNED


# --- JL-C2: the 24-hour arithmetic -------------------------------------------------------------


def local(*args):
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "trigger, event_at, expected_trigger, expected_due",
    [
        # (1) admitted + 72 h, then 24 h: across midnight and a month end
        (TriggerKind.UNDIAGNOSED, local(2026, 11, 27, 22, 30), local(2026, 11, 30, 22, 30), local(2026, 12, 1, 22, 30)),
        # (1) across a year end
        (TriggerKind.UNDIAGNOSED, local(2026, 12, 29, 23, 59), local(2027, 1, 1, 23, 59), local(2027, 1, 2, 23, 59)),
        # (1) leap day
        (TriggerKind.UNDIAGNOSED, local(2028, 2, 26, 8, 0), local(2028, 2, 29, 8, 0), local(2028, 3, 1, 8, 0)),
        # (2) the expert consultation's end + 24 h, across a month end at midnight
        (TriggerKind.EXPERT_CONSULT_FAILED, local(2026, 1, 31, 23, 30), local(2026, 1, 31, 23, 30), local(2026, 2, 1, 23, 30)),
        # (3) the patient's request + 24 h, February in a common year
        (TriggerKind.PATIENT_REQUEST, local(2026, 2, 28, 0, 0), local(2026, 2, 28, 0, 0), local(2026, 3, 1, 0, 0)),
    ],
)
def test_jl_c2_trigger_and_due_times(trigger, event_at, expected_trigger, expected_due):
    trigger_at, due_at = rules.trigger_and_due(trigger, event_at=event_at, after_hours=72)
    assert (trigger_at, due_at) == (expected_trigger, expected_due)


@pytest.mark.parametrize("trigger", list(TriggerKind))
def test_jl_c2_on_time_at_23_59_late_at_24_01(trigger):
    event_at = local(2026, 3, 31, 23, 10)  # the window crosses midnight into a new month
    trigger_at, due_at = rules.trigger_and_due(trigger, event_at=event_at, after_hours=72)
    assert rules.is_on_time(delivered_at=trigger_at + dt.timedelta(hours=23, minutes=59), due_at=due_at)
    assert rules.is_on_time(delivered_at=due_at, due_at=due_at)
    assert not rules.is_on_time(delivered_at=trigger_at + dt.timedelta(hours=24, minutes=1), due_at=due_at)
    assert not rules.is_on_time(delivered_at=due_at + dt.timedelta(microseconds=1), due_at=due_at)


def test_jl_c2_the_three_day_interpretation_is_a_setting():
    admitted = local(2026, 11, 24, 9, 0)
    trigger_at, due_at = rules.trigger_and_due(TriggerKind.UNDIAGNOSED, event_at=admitted, after_hours=96)
    assert trigger_at == local(2026, 11, 28, 9, 0) and due_at == local(2026, 11, 29, 9, 0)


def test_jl_c2_unknown_trigger_is_a_programming_error():
    with pytest.raises(ValueError):
        rules.trigger_and_due("astrology", event_at=local(2026, 1, 1), after_hours=72)


def test_jl_c2_required_material():
    assert rules.material_check(["condition_summary", "medical_record", "test_report", "imaging"]).passed
    check = rules.material_check(["condition_summary", "imaging"])
    assert not check.passed and "病历资料" in check.text and "检验检查报告" in check.text


def test_jl_c2_reminders_fire_once_each_in_order():
    due = local(2026, 11, 25, 12, 0)
    offsets = [12, 4, 1]
    assert rules.reminders_due(due_at=due, now=due - dt.timedelta(hours=13), offsets_hours=offsets, already_sent=[]) == []
    assert rules.reminders_due(due_at=due, now=due - dt.timedelta(hours=12), offsets_hours=offsets, already_sent=[]) == [12]
    assert rules.reminders_due(due_at=due, now=due - dt.timedelta(hours=3), offsets_hours=offsets, already_sent=[12]) == [4]
    # A sweep that was down sends the ones still pending at once, and nothing after the deadline.
    assert rules.reminders_due(due_at=due, now=due - dt.timedelta(minutes=30), offsets_hours=offsets, already_sent=[]) == [12, 4, 1]
    assert rules.reminders_due(due_at=due, now=due, offsets_hours=offsets, already_sent=[]) == []


# --- JL-C3, JL-C4 ------------------------------------------------------------------------------------


def consent(**overrides):
    values = dict(signer_name="王某", relation="spouse", signed_at=local(2026, 11, 24, 9), signed_copy_sha256="a" * 64,
                  e_signature_reference="", sensitive_info_consent=True)
    values.update(overrides)
    return SimpleNamespace(**values)


def test_jl_c3_consent_and_participant_before_records_leave():
    assert all(c.passed for c in rules.consent_checks(consent(), participants_ok=True))
    no_consent = rules.consent_checks(None, participants_ok=False)
    assert [c.passed for c in no_consent] == [False, False, False, False]
    e_signed = rules.consent_checks(consent(signed_copy_sha256="", e_signature_reference="CA-123"), participants_ok=True)
    assert all(c.passed for c in e_signed)
    unsigned = rules.consent_checks(consent(signed_copy_sha256=""), participants_ok=True)
    assert [c.rule for c in unsigned if not c.passed] == ["JL-C3"]


def test_jl_c3_sensitive_information_needs_a_separate_consent():
    checks = rules.consent_checks(consent(sensitive_info_consent=False), participants_ok=True)
    (failed,) = [c for c in checks if not c.passed]
    assert "个人信息保护法第二十九条" in failed.text


def test_jl_c4_invitation_contents_and_jl_c1_modality():
    ok = rules.invitation_checks(reason="r", purpose="p", case_summary="s", wanted_scope="imaging", needs_modality=True, modality="ct")
    assert all(c.passed for c in ok)
    bad = rules.invitation_checks(reason=" ", purpose="p", case_summary="", wanted_scope="imaging", needs_modality=True, modality="")
    assert [c.rule for c in bad if not c.passed] == ["JL-C4", "JL-C1"]
    assert "申请理由、病例摘要" in bad[0].text


# --- JL-C5 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head, expected",
    [
        (b"%PDF-1.7\n...", "application/pdf"),
        (b"\xff\xd8\xff\xe0JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"II*\x00....", "image/tiff"),
        (b"\x00" * 128 + b"DICM" + b"\x02\x00", "application/dicom"),
        (b'<?xml version="1.0"?><AnnotatedECG/>', "text/xml"),
        ("患者男，65岁，胸痛3天。".encode(), "text/plain"),
        (b"MZ\x90\x00\x03\x00\x00\x00", None),  # a Windows executable
        (b"PK\x03\x04", None),
    ],
)
def test_jl_c5_real_type_from_content_not_name(head, expected):
    assert rules.detect_content_type(head) == expected


def test_jl_c5_size_and_type_limits():
    assert all(c.passed for c in rules.document_checks(size=1024, content_type="application/pdf"))
    too_big = rules.document_checks(size=rules.MAX_DOCUMENT_BYTES + 1, content_type="application/dicom")
    assert [c.passed for c in too_big] == [True, False]
    assert [c.passed for c in rules.document_checks(size=0, content_type=None)] == [False, False]


# --- JL-C7, JL-O5 -----------------------------------------------------------------------------------


def test_jl_c7_responsibility_follows_article_28_or_29():
    opinion = rules.responsibility_for(OPINION)
    assert opinion.article == "JL-C7 第二十八条" and "诊疗责任" in opinion.inviting and "参考" in opinion.invited
    diagnosis = rules.responsibility_for(DIAGNOSIS)
    assert diagnosis.article == "JL-C7 第二十九条" and "质量" in diagnosis.inviting and "诊断报告" in diagnosis.invited


@pytest.mark.parametrize("score, ok", [(0, False), (1, True), (5, True), (6, False)])
def test_jl_o5_rating_between_one_and_five(score, ok):
    assert rules.rating_check(score).passed is ok


# --- Dates that cannot be true (issue 8) ----------------------------------------------------------


def test_jl_c4_a_desired_or_scheduled_time_in_the_past_fails_and_a_few_minutes_of_skew_pass():
    now = local(2026, 11, 20, 10)
    assert rules.requested_time_check(None, now=now).passed
    assert rules.requested_time_check(now + dt.timedelta(days=1), now=now).passed
    assert rules.requested_time_check(now - dt.timedelta(minutes=4), now=now).passed
    past = rules.requested_time_check(now - dt.timedelta(days=1), now=now)
    assert not past.passed and past.text == "JL-C4 国家远程医疗服务管理规范: 期望会诊时间不能早于当前时间（所填时间 2026-11-19 10:00（北京时间））"
    assert rules.schedule_time_check(now, now=now).passed
    assert not rules.schedule_time_check(now - dt.timedelta(hours=1), now=now).passed


def test_jl_c3_consent_signed_in_the_future_or_more_than_a_year_ago_fails():
    now = local(2026, 11, 20, 10)

    def failing_labels(signed_at):
        return [c.label for c in rules.consent_time_checks(signed_at, now=now) if not c.passed]

    assert failing_labels(now - dt.timedelta(minutes=5)) == []
    assert failing_labels(now - rules.CONSENT_MAX_AGE) == []
    assert failing_labels(now + dt.timedelta(days=1)) == ["知情同意书签署时间不能晚于当前时间"]
    assert failing_labels(now - rules.CONSENT_MAX_AGE - dt.timedelta(minutes=1)) == ["知情同意书签署时间不能早于 365 天前（请为本次申请重新签署）"]


def test_only_http_and_https_addresses_are_web_links():
    for link in ("https://meet.example.cn/r/1", "http://10.1.2.3:8080/room?id=7", "https://meet.invalid/jdyy-1"):
        assert rules.is_web_link(link), link
    for link in ("javascript:alert(1)", "data:text/html,x", "room-1", "会议室 3", "//meet.example.cn", "https://a.cn/\u202ex", ""):
        assert not rules.is_web_link(link), link
