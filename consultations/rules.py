"""The consultations rulebook as pure functions (JL-C1..C7, JL-C2 arithmetic, JL-F5 freeze).

No database, no clock: callers pass the moment that matters. The state graph is one explicit
table, ``EDGES``; every edge names the side and roles that own it, and anything not in the table
is refused (rendered in docs/consultations-states.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy, gettext_noop

from facilities.choices import ServiceCategory, StaffRole
from telemed import files
from telemed.checks import Check

from .choices import (
    REQUIRED_MATERIAL,
    ConsultationState,
    DocumentKind,
    ReferralDirection,
    ReferralParty,
    ReferralState,
    Side,
    TriggerKind,
)

S = ConsultationState
BEIJING = ZoneInfo("Asia/Shanghai")
UPLOAD_WINDOW = timedelta(hours=24)  # art. 22: "必须在24小时内"


# --- The state graph -------------------------------------------------------------------------

EXPERT = "expert"  # an assigned expert of the invited side acting as themselves
INVITING_STAFF = (StaffRole.CLINICIAN, StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM)
INVITED_COORDINATION = (StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM)


@dataclass(frozen=True)
class Edge:
    source: str
    action: str
    target: str
    side: str
    roles: tuple[str, ...]
    label: str
    categories: tuple[str, ...] = (ServiceCategory.OPINION, ServiceCategory.DIAGNOSIS)


EDGES: tuple[Edge, ...] = (
    Edge(S.DRAFT, "send", S.SENT, Side.INVITING, INVITING_STAFF, gettext_lazy("发送申请")),
    Edge(S.DRAFT, "cancel", S.CANCELLED, Side.INVITING, INVITING_STAFF, gettext_lazy("取消申请")),
    Edge(S.SENT, "accept", S.ACCEPTED, Side.INVITED, INVITED_COORDINATION, gettext_lazy("受理")),
    Edge(S.SENT, "decline", S.DECLINED, Side.INVITED, INVITED_COORDINATION, gettext_lazy("拒绝（须说明理由）")),
    Edge(S.SENT, "return_material", S.RETURNED, Side.INVITED, INVITED_COORDINATION, gettext_lazy("退回补充资料")),
    Edge(S.SENT, "cancel", S.CANCELLED, Side.INVITING, INVITING_STAFF, gettext_lazy("取消申请")),
    Edge(S.RETURNED, "send", S.SENT, Side.INVITING, INVITING_STAFF, gettext_lazy("补充资料后重新发送")),
    Edge(S.RETURNED, "cancel", S.CANCELLED, Side.INVITING, INVITING_STAFF, gettext_lazy("取消申请")),
    Edge(S.ACCEPTED, "schedule", S.SCHEDULED, Side.INVITED, INVITED_COORDINATION, gettext_lazy("排期")),
    Edge(S.ACCEPTED, "return_material", S.RETURNED, Side.INVITED, INVITED_COORDINATION + (EXPERT,), gettext_lazy("退回补充资料")),
    Edge(S.ACCEPTED, "sign", S.SIGNED, Side.INVITED, (EXPERT,), gettext_lazy("签发诊断报告"), (ServiceCategory.DIAGNOSIS,)),
    Edge(S.ACCEPTED, "cancel", S.CANCELLED, Side.INVITING, INVITING_STAFF, gettext_lazy("取消申请")),
    Edge(S.SCHEDULED, "schedule", S.SCHEDULED, Side.INVITED, INVITED_COORDINATION, gettext_lazy("改期")),
    Edge(S.SCHEDULED, "start_session", S.IN_SESSION, Side.INVITED, INVITED_COORDINATION + (EXPERT,), gettext_lazy("开始会诊")),
    Edge(S.SCHEDULED, "sign", S.SIGNED, Side.INVITED, (EXPERT,), gettext_lazy("签发诊断报告"), (ServiceCategory.DIAGNOSIS,)),
    Edge(S.SCHEDULED, "cancel", S.CANCELLED, Side.INVITING, INVITING_STAFF, gettext_lazy("取消申请")),
    Edge(S.IN_SESSION, "sign", S.SIGNED, Side.INVITED, (EXPERT,), gettext_lazy("签发意见/报告")),
    Edge(S.SIGNED, "correct", S.SIGNED, Side.INVITED, (EXPERT,), gettext_lazy("签发更正版本")),
    Edge(S.SIGNED, "close", S.CLOSED, Side.INVITING, INVITING_STAFF, gettext_lazy("确认收到并结束")),
    Edge(S.CLOSED, "correct", S.CLOSED, Side.INVITED, (EXPERT,), gettext_lazy("签发更正版本")),
)

ACTIONS = tuple(dict.fromkeys(e.action for e in EDGES))


def edges_from(state: str) -> list[Edge]:
    return [e for e in EDGES if e.source == state]


def find_edge(state: str, action: str, category: str) -> Edge | None:
    for edge in EDGES:
        if edge.source == state and edge.action == action and category in edge.categories:
            return edge
    return None


@dataclass(frozen=True)
class Actor:
    """What the acting user is on this case, computed by the caller from memberships."""

    inviting_roles: frozenset[str] = frozenset()
    invited_roles: frozenset[str] = frozenset()
    is_assigned_expert: bool = False


@dataclass(frozen=True)
class TransitionDecision:
    edge: Edge | None
    code: str = ""  # "" when allowed; "invalid_transition", "permission_denied" or a rule ID
    message: str = ""
    status: int = 400
    reasons: tuple[Check, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.code


def decide_transition(
    *, state: str, action: str, category: str, actor: Actor, inviting_suspended: bool, invited_suspended: bool
) -> TransitionDecision:
    """May ``actor`` take ``action`` on a case in ``state``? Anything not in ``EDGES`` is refused."""
    edge = find_edge(state, action, category)
    if edge is None:
        allowed = "、".join(dict.fromkeys(str(e.label) for e in edges_from(state) if category in e.categories)) or "无"
        return TransitionDecision(
            None,
            "invalid_transition",
            f"当前状态“{ConsultationState(state).label}”下不能进行该操作；可进行的操作：{allowed}。",
        )
    held = actor.inviting_roles if edge.side == Side.INVITING else actor.invited_roles
    if not (held & set(edge.roles) or (EXPERT in edge.roles and actor.is_assigned_expert)):
        who = "、".join(
            "受邀方指定专家" if r == EXPERT else str(StaffRole(r).label) for r in edge.roles
        )
        return TransitionDecision(
            edge, "permission_denied", f"“{edge.label}”只能由{Side(edge.side).label}的{who}操作。", status=403
        )
    if action != "cancel" and (inviting_suspended or invited_suspended):
        which = "邀请方" if inviting_suspended else "受邀方"
        check = Check("JL-F5", gettext_noop("第三十四条"), gettext_noop("暂停期间不得继续开展远程医疗服务（仅可取消）"), False, f"{which}已暂停")
        return TransitionDecision(edge, "JL-F5", check.text, reasons=(check,))
    return TransitionDecision(edge)


# --- JL-C2: the 24-hour rule -------------------------------------------------------------------


def undiagnosed_trigger_time(admitted_at: datetime, *, after_hours: int) -> datetime:
    """Art. 22 (1): "入住…之日起，超3日未明确诊断" — the moment the situation arises.

    The interpretation is the setting ``TELEMED_UNDIAGNOSED_AFTER_HOURS`` (default 72: three full
    days counted from the admission time, not from midnight).
    """
    return admitted_at + timedelta(hours=after_hours)


def upload_due(trigger_at: datetime) -> datetime:
    """Art. 22: upload within 24 hours of the trigger. Exactly 24 h; arithmetic in UTC, so it is
    the same across midnight, month ends and (were there any in China) DST changes."""
    return trigger_at + UPLOAD_WINDOW


def trigger_and_due(trigger: str, *, event_at: datetime, after_hours: int) -> tuple[datetime, datetime]:
    """(trigger time, due time) for each art. 22 trigger.

    (1) ``event_at`` is the admission time; (2) the end of the in-house/outside expert consultation;
    (3) the moment the patient or family asked.
    """
    if trigger == TriggerKind.UNDIAGNOSED:
        trigger_at = undiagnosed_trigger_time(event_at, after_hours=after_hours)
    elif trigger in (TriggerKind.EXPERT_CONSULT_FAILED, TriggerKind.PATIENT_REQUEST):
        trigger_at = event_at
    else:
        raise ValueError(f"unknown art. 22 trigger {trigger!r}")
    return trigger_at, upload_due(trigger_at)


def is_on_time(*, delivered_at: datetime, due_at: datetime) -> bool:
    """Delivered at or before the due moment counts; one microsecond later does not."""
    return delivered_at <= due_at


def missing_material(kinds_present: Iterable[str]) -> list[str]:
    present = set(kinds_present)
    return [k for k in REQUIRED_MATERIAL if k not in present]


def material_check(kinds_present: Iterable[str]) -> Check:
    """JL-C2: the request must carry the condition summary, medical records and test reports."""
    missing = missing_material(kinds_present)
    return Check(
        "JL-C2",
        gettext_noop("第二十二条"),
        gettext_noop("须上传患者病情、病历资料和检验检查报告"),
        not missing,
        gettext_noop("缺少：%(items)s") if missing else "",
        {"items": "、".join(str(DocumentKind(k).label) for k in missing)} if missing else None,
    )


def reminders_due(*, due_at: datetime, now: datetime, offsets_hours: Iterable[int], already_sent: Iterable[int]) -> list[int]:
    """Which reminders (hours before the deadline) should go out now and have not yet."""
    sent = set(already_sent)
    return sorted(
        (h for h in offsets_hours if h not in sent and now >= due_at - timedelta(hours=h) and now < due_at),
        reverse=True,
    )


# --- JL-C3, JL-C4: before the request leaves ------------------------------------------------


def invitation_checks(*, reason: str, purpose: str, case_summary: str, wanted_scope: str, needs_modality: bool, modality: str) -> list[Check]:
    """JL-C4: the invitation states reason, purpose, case summary, speciality and title wanted."""
    missing = [
        label
        for label, value in (("申请理由", reason), ("会诊目的", purpose), ("病例摘要", case_summary), ("所需专业", wanted_scope))
        if not (value or "").strip()
    ]
    checks = [
        Check("JL-C4", gettext_noop("国家远程医疗服务管理规范"), gettext_noop("邀请须写明理由、目的、病例摘要和所需专业"), not missing, ("缺少：" + "、".join(missing)) if missing else "")
    ]
    if needs_modality:
        checks.append(Check("JL-C1", gettext_noop("第三条"), gettext_noop("远程医学影像诊断须注明影像类别"), bool(modality)))
    return checks


def consent_checks(consent, *, participants_ok: bool) -> list[Check]:
    """JL-C3 (art. 20, 21, 23; PIPL art. 29) before records leave the inviting facility.

    ``consent`` is None or an object with signer_name, relation, signed_at, signed_copy_sha256,
    e_signature_reference, sensitive_info_consent. ``participants_ok``: at least one attending
    physician of the inviting facility passes JL-P1..P3 (and P6).
    """
    has_consent = consent is not None and bool(consent.signer_name) and bool(consent.relation) and consent.signed_at is not None
    has_evidence = consent is not None and bool(consent.signed_copy_sha256 or consent.e_signature_reference)
    return [
        Check("JL-C3", gettext_noop("第二十一条、第二十三条"), gettext_noop("须签署远程医疗服务知情同意书（签署人、与患者关系、时间）"), has_consent),
        Check("JL-C3", gettext_noop("第二十三条"), gettext_noop("知情同意书须有签署件或电子签名"), has_evidence),
        Check(
            "JL-C3",
            gettext_noop("个人信息保护法第二十九条"),
            gettext_noop("向受邀方提供敏感个人信息须取得单独同意"),
            consent is not None and bool(consent.sensitive_info_consent),
        ),
        Check("JL-C3", gettext_noop("第二十三条"), gettext_noop("须至少有1名邀请方执业医师参与"), participants_ok),
    ]


# --- Dates that cannot be true (JL-C3, JL-C4) -----------------------------------------------------

# A clock a few minutes ahead (a partner system's, a clinic PC's) is not a false date.
CLOCK_SKEW = timedelta(minutes=5)
# JL-C3 (art. 23): consent is signed for this request, shortly before the records leave; a signing
# time more than a year back is a typing error or an old form reused, and is refused. The portal's
# choice where the measures name no period (RULES.md: "makes the choice … and documents it").
CONSENT_MAX_AGE = timedelta(days=365)


def requested_time_check(requested_time: datetime | None, *, now: datetime) -> Check:
    """JL-C4: the time the inviting side wants the consultation cannot already be past."""
    ok = requested_time is None or requested_time >= now - CLOCK_SKEW
    return Check("JL-C4", gettext_noop("国家远程医疗服务管理规范"), gettext_noop("期望会诊时间不能早于当前时间"), ok,
                 "" if ok else f"所填时间 {_beijing(requested_time)}")


def schedule_time_check(scheduled_for: datetime, *, now: datetime) -> Check:
    """JL-C4: the invited side schedules the session for now or later, never in the past."""
    ok = scheduled_for >= now - CLOCK_SKEW
    return Check("JL-C4", gettext_noop("国家远程医疗服务管理规范"), gettext_noop("会诊时间不能早于当前时间"), ok, "" if ok else f"所填时间 {_beijing(scheduled_for)}")


def consent_time_checks(signed_at: datetime, *, now: datetime) -> list[Check]:
    """JL-C3 (art. 23): a consent is signed before it is recorded, and not longer ago than
    ``CONSENT_MAX_AGE``."""
    not_future = signed_at <= now + CLOCK_SKEW
    recent = signed_at >= now - CONSENT_MAX_AGE
    return [
        Check("JL-C3", gettext_noop("第二十三条"), gettext_noop("知情同意书签署时间不能晚于当前时间"), not_future, "" if not_future else f"所填时间 {_beijing(signed_at)}"),
        Check("JL-C3", "第二十三条", f"知情同意书签署时间不能早于 {CONSENT_MAX_AGE.days} 天前（请为本次申请重新签署）", recent,
              "" if recent else f"所填时间 {_beijing(signed_at)}"),
    ]


def _beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") + "（北京时间）"


# --- The video link ---------------------------------------------------------------------------------

VIDEO_LINK_SCHEMES = ("http", "https")


def is_web_link(text: str) -> bool:
    """An ``http(s)://`` address and nothing else: never ``javascript:``, ``data:`` or a file path,
    which a browser would run or open when the case page shows the link."""
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    text = (text or "").strip()
    if not text or any(not ch.isprintable() or ch.isspace() for ch in text):
        return False
    try:
        URLValidator(schemes=list(VIDEO_LINK_SCHEMES))(text)
    except ValidationError:
        return False
    return True


# --- JL-C5: documents ---------------------------------------------------------------------------

# The real-type detection is shared by every upload of the portal (telemed.files); a case document
# is judged by these rules with the JL-C5 messages below.
ALLOWED_TYPES = files.ALLOWED_TYPES
detect_content_type = files.detect_content_type
MAX_DOCUMENT_BYTES = 200 * 1024 * 1024  # a CT series exported as one DICOM file can be large


def document_checks(*, size: int, content_type: str | None) -> list[Check]:
    return [
        Check(
            "JL-C5",
            gettext_noop("第二十九条"),
            gettext_noop("文件类型须为 PDF、JPEG、PNG、TIFF、DICOM、文本或 XML"),
            content_type in ALLOWED_TYPES,
            "" if content_type in ALLOWED_TYPES else "无法识别或不允许的文件类型",
        ),
        Check(
            "JL-C5",
            "第二十九条",
            f"单个文件不超过 {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB",
            0 < size <= MAX_DOCUMENT_BYTES,
            "空文件" if size <= 0 else ("" if size <= MAX_DOCUMENT_BYTES else f"{size / 1024 / 1024:.1f} MB"),
        ),
    ]


# --- JL-C7: responsibility -----------------------------------------------------------------------


@dataclass(frozen=True)
class Responsibility:
    article: str
    inviting: str
    invited: str


def responsibility_for(category: str) -> Responsibility:
    """Art. 28 for opinion services, art. 29 for diagnosis services."""
    if category == ServiceCategory.DIAGNOSIS:
        return Responsibility(
            "JL-C7 第二十九条",
            "对上传的影像、心电、病理、检验等数据（标本）质量承担责任",
            "对出具的诊断报告内容承担相应责任",
        )
    return Responsibility(
        "JL-C7 第二十八条",
        "承担诊疗责任；受邀方意见作为诊疗的重要参考依据",
        "提供诊疗建议，作为邀请方诊疗的参考",
    )


def rating_check(score: int) -> Check:
    return Check("JL-O5", gettext_noop("第四十六条第三项"), gettext_noop("满意度评分须为 1 到 5 的整数"), isinstance(score, int) and 1 <= score <= 5, str(score))


# --- JL-C4 "promptly" (及时): the invited side's response clock ------------------------------------


@dataclass(frozen=True)
class ResponseClock:
    """How long a sent request has waited for the invited side's answer, against its target."""

    waited: timedelta
    target: timedelta
    passed: bool

    @property
    def waited_minutes(self) -> int:
        return int(self.waited.total_seconds() // 60)

    @property
    def target_minutes(self) -> int:
        return int(self.target.total_seconds() // 60)


def response_clock(*, urgency: str, sent_at: datetime, now: datetime, targets_minutes: dict[str, int]) -> ResponseClock:
    """JL-C4: the invited side accepts or declines "promptly" — within ``targets_minutes[urgency]``
    (``settings.TELEMED_RESPONSE_TARGET_MINUTES``) of the request being sent. The target is passed
    only once the wait is longer than it: at exactly the target the answer is still on time."""
    target = timedelta(minutes=targets_minutes[urgency])
    waited = max(now - sent_at, timedelta(0))
    return ResponseClock(waited=waited, target=target, passed=waited > target)


# --- The case page's "下一步": the deadline that applies to an action now ---------------------------


@dataclass(frozen=True)
class StepDeadline:
    """When an action offered on a case is due, and under which rule."""

    due_at: datetime
    rule: str
    label: str


# The acts that answer a request awaiting the invited side (JL-C4), and the inviting side's acts that
# complete what the JL-C2 24-hour obligation asks (the request sent with its material).
ANSWERS = ("accept", "decline", "return_material")
OBLIGATION_ACTS = ("send", "document", "consent", "participant")


def step_deadline(
    *, action: str, state: str, urgency: str, sent_at: datetime | None, scheduled_for: datetime | None,
    obligation_due_at: datetime | None, targets_minutes: dict[str, int],
) -> StepDeadline | None:
    """The deadline that applies to ``action`` on a case in ``state`` (None when none does):

    - JL-C4: answering a sent request is due ``targets_minutes[urgency]`` after it was sent;
    - JL-C2: on a draft or returned request, the inviting side's acts are due when the open 24-hour
      upload obligation of the patient falls due (``obligation_due_at``);
    - starting the session is due at the scheduled time (JL-C4 排期).

    Which actions are offered is decided by ``EDGES`` (``decide_transition``), never here.
    """
    if action in ANSWERS and state == S.SENT and sent_at is not None:
        return StepDeadline(sent_at + timedelta(minutes=targets_minutes[urgency]), "JL-C4", gettext_lazy("及时受理或退回、拒绝"))
    if action in OBLIGATION_ACTS and state in (S.DRAFT, S.RETURNED) and obligation_due_at is not None:
        return StepDeadline(obligation_due_at, "JL-C2", gettext_lazy("24小时内上传会诊资料"))
    if action == "start_session" and scheduled_for is not None:
        return StepDeadline(scheduled_for, "JL-C4", gettext_lazy("排定的会诊时间"))
    return None


# --- JL-C9: masking ---------------------------------------------------------------------------------


def mask_number(value: str) -> str:
    """JL-C9 (art. 36, GB/T 35273): keep the first 3 and the last 4 characters, star the rest.

    ``220102196005011234`` → ``220***********1234``; ``13812341234`` → ``138****1234``. A value
    too short to keep 7 characters visible is starred entirely.
    """
    if not value:
        return ""
    if len(value) <= 7:
        return "*" * len(value)
    return f"{value[:3]}{'*' * (len(value) - 7)}{value[-4:]}"


def number_suffix(value: str) -> str:
    """JL-C9: the last 4 characters of an identity number — the part the mask leaves visible, and so
    the only part a search may match (``Patient.id_last4``, kept apart so that the full number can
    be encrypted later without losing the search). Too short a number (masked entirely) has none."""
    value = (value or "").strip().upper()
    return value[-4:] if len(value) > 7 else ""


# --- JL-C10 (art. 9): two-way referral through a green channel --------------------------------
# The facility that receives the patient offers the place (department, appointment or bed, time);
# the facility the patient leaves confirms it and records the transfer. Up: the invited facility
# receives, the inviting one sends; down (rehabilitation, follow-up): the reverse. The steps are
# one table, as ``EDGES``; anything not in it is refused.

R = ReferralState
REFERRAL_ROLES = (StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM)
REFERRAL_AFTER_STATES = (S.SIGNED, S.CLOSED)  # a signed opinion or report exists


@dataclass(frozen=True)
class ReferralEdge:
    source: str
    action: str
    target: str
    party: str
    label: str


REFERRAL_EDGES: tuple[ReferralEdge, ...] = (
    ReferralEdge(R.OFFERED, "confirm", R.CONFIRMED, ReferralParty.SENDING, "确认转诊安排"),
    ReferralEdge(R.OFFERED, "decline", R.DECLINED, ReferralParty.SENDING, "谢绝（须说明理由）"),
    ReferralEdge(R.OFFERED, "cancel", R.CANCELLED, ReferralParty.RECEIVING, "撤回（须说明理由）"),
    ReferralEdge(R.CONFIRMED, "transfer", R.TRANSFERRED, ReferralParty.SENDING, "登记患者已转出"),
    ReferralEdge(R.CONFIRMED, "cancel", R.CANCELLED, ReferralParty.SENDING, "取消转诊（须说明理由）"),
    ReferralEdge(R.CONFIRMED, "cancel", R.CANCELLED, ReferralParty.RECEIVING, "取消转诊（须说明理由）"),
)
REFERRAL_ACTIONS = tuple(dict.fromkeys(e.action for e in REFERRAL_EDGES))


def referral_parties(direction: str, *, inviting_id: int, invited_id: int) -> tuple[int, int]:
    """(sending, receiving) facility ids: up goes from the inviting to the invited facility."""
    return (inviting_id, invited_id) if direction == ReferralDirection.UP else (invited_id, inviting_id)


@dataclass(frozen=True)
class ReferralDecision:
    edge: ReferralEdge | None
    code: str = ""  # "" when allowed
    message: str = ""
    status: int = 400

    @property
    def allowed(self) -> bool:
        return not self.code


def _f5(sending_suspended: bool, receiving_suspended: bool) -> str:
    which = "转出方" if sending_suspended else "接收方"
    return f"JL-F5 第三十四条: 暂停期间不得继续开展远程医疗服务（{which}已暂停），转诊仅可取消。"


def decide_referral_step(
    *, state: str, action: str, sending_roles: frozenset[str], receiving_roles: frozenset[str],
    sending_suspended: bool, receiving_suspended: bool,
) -> ReferralDecision:
    """JL-C10: may a user holding these roles take ``action`` on a referral in ``state``?"""
    edges = [e for e in REFERRAL_EDGES if e.source == state and e.action == action]
    if not edges:
        allowed = "、".join(dict.fromkeys(e.label for e in REFERRAL_EDGES if e.source == state)) or "无"
        return ReferralDecision(
            None, "invalid_transition",
            f"JL-C10 第九条: 转诊状态“{ReferralState(state).label}”下不能进行该操作；可进行的操作：{allowed}。",
        )
    for edge in edges:
        held = sending_roles if edge.party == ReferralParty.SENDING else receiving_roles
        if held & set(REFERRAL_ROLES):
            break
    else:
        parties = "或".join(str(ReferralParty(e.party).label) for e in edges)
        return ReferralDecision(edges[0], "permission_denied", f"JL-C10: “{edges[0].label}”只能由{parties}的远程医疗管理人员操作。", 403)
    if action != "cancel" and (sending_suspended or receiving_suspended):
        return ReferralDecision(edge, "JL-F5", _f5(sending_suspended, receiving_suspended))
    return ReferralDecision(edge)


def decide_referral_offer(
    *, direction: str, receiving_roles: frozenset[str], consultation_state: str, recommends_transfer: bool,
    up_transferred: bool, open_in_direction: bool, sending_suspended: bool, receiving_suspended: bool,
) -> ReferralDecision:
    """JL-C10: may a user offer a referral in ``direction`` on this case now (the time aside)?

    Up: only once a signed opinion or report (its current version) recommends transfer. Down:
    only after the patient was referred up and the transfer recorded. One open referral per
    direction at a time.
    """
    if not receiving_roles & set(REFERRAL_ROLES):
        who = "受邀方" if direction == ReferralDirection.UP else "邀请方"
        return ReferralDecision(None, "permission_denied", f"JL-C10: 转诊安排由接收患者的{who}远程医疗管理人员提供。", 403)
    if direction == ReferralDirection.UP and not (consultation_state in REFERRAL_AFTER_STATES and recommends_transfer):
        return ReferralDecision(
            None, "referral_not_recommended",
            "JL-C10 第九条: 只有已签发且建议转诊的会诊意见或诊断报告（现行版本）才能开通绿色通道上转。",
        )
    if direction == ReferralDirection.DOWN and not up_transferred:
        return ReferralDecision(
            None, "referral_down_too_early", "JL-C10 第九条: 患者经本病例上转并已登记转出后，才能下转康复或随访。"
        )
    if open_in_direction:
        return ReferralDecision(
            None, "referral_open_exists", "JL-C10: 本病例已有一项进行中的同向转诊，请先办结或取消。"
        )
    if sending_suspended or receiving_suspended:
        return ReferralDecision(None, "JL-F5", _f5(sending_suspended, receiving_suspended))
    return ReferralDecision(None)


def referral_time_ok(scheduled_for: datetime, *, now: datetime) -> bool:
    """JL-C10: the appointment or bed is for now or later, never in the past (a clock a few minutes
    ahead is not a false date)."""
    return scheduled_for >= now - CLOCK_SKEW
