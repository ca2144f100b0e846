"""The notification texts, as data (issue 12): a stored row keeps a message key and its parameters,
and the text is rendered through gettext when it is shown, in the reader's language.

A notification row stores ``message_key`` and ``params`` (plain JSON: numbers, names, times already
formatted in Beijing time); :func:`render` looks the key up here and formats the translated template.
Parameters named in ``labels`` hold a choice's stored value (``emergency``) and are shown with that
choice's label in the reader's language (急诊 / Emergency). Rows written before the catalogue existed
have no key; they keep their stored Chinese text, which is what :func:`render` falls back to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import models
from django.utils.translation import gettext_lazy as _

from consultations.choices import OpinionKind, ReferralDirection, Urgency
from facilities.choices import SuspensionCause

from .choices import NotificationKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    kind: str
    subject: object
    body: tuple = ()
    labels: dict[str, type[models.TextChoices]] = field(default_factory=dict)
    # Parameters naming a patient: shown in full in the portal, masked (王**) in e-mail and SMS,
    # which leave the portal's access control (JL-C9).
    private: tuple[str, ...] = ()


K = NotificationKind

MESSAGES: dict[str, Message] = {
    # Requests (JL-C4) and their progress
    "consultation.sent": Message(K.REQUEST, _("新的远程医疗申请 %(n)s：%(s)s（来自 %(f)s）")),
    "consultation.sent_duty_gap": Message(
        K.REQUEST, _("新的远程医疗申请 %(n)s：%(s)s（来自 %(f)s）"), (_("JL-F4 第二十四条提示：当前无该专业值班人员，请尽快安排。"),)
    ),
    "consultation.urgent_on_duty": Message(
        K.URGENT, _("急诊申请 %(n)s：%(s)s（来自 %(f)s），请立即处理"),
        (_("JL-F4 第二十四条：您正在值班，受邀方收到一份急诊远程医疗申请。"),),
    ),
    "consultation.accepted": Message(K.REQUEST, _("申请 %(n)s 已被 %(f)s 受理")),
    "consultation.declined": Message(K.RETURNED, _("申请 %(n)s 被拒绝：%(r)s")),
    "consultation.returned": Message(K.RETURNED, _("申请 %(n)s 资料被退回补充：%(r)s")),
    "consultation.assigned": Message(K.REQUEST, _("您被指定为申请 %(n)s 的会诊专家")),
    "consultation.scheduled": Message(K.REQUEST, _("申请 %(n)s 已排期：%(t)s")),
    "consultation.response_overdue": Message(
        K.DEADLINE,
        _("JL-C4 提醒：申请 %(number)s（%(urgency)s）已等待 %(waited)d 分钟，超过受理时限 %(target)d 分钟"),
        (_("受邀方应及时受理或说明理由拒绝（JL-C4）。请尽快处理该申请。"),),
        {"urgency": Urgency},
    ),
    "opinion.signed": Message(K.REPORT_SIGNED, _("申请 %(n)s 的%(k)s已签发（第 %(v)d 版）"), labels={"k": OpinionKind}),
    # JL-C2: the 24-hour upload obligations
    "obligation.reminder": Message(
        K.DEADLINE,
        _("JL-C2 提醒：患者 %(name)s 的远程会诊资料须在 %(due)s 前上传（剩余不到 %(h)d 小时）"),
        (_("依据《吉林省远程医疗服务管理办法（试行）》第二十二条，须在24小时内将患者病情、病历资料和检验报告上传受邀方。"),),
        private=("name",),
    ),
    "obligation.violated": Message(K.DEADLINE, _("JL-C2 超时：患者 %(name)s 的资料未在24小时内上传，已记录违规"), private=("name",)),
    # JL-C10: two-way referral
    "referral.offered": Message(K.REFERRAL, _("申请 %(n)s：%(d)s，%(dept)s %(t)s，请确认"), labels={"d": ReferralDirection}),
    "referral.confirmed": Message(K.REFERRAL, _("申请 %(n)s 的转诊安排已确认")),
    "referral.transferred": Message(K.REFERRAL, _("申请 %(n)s 的患者已转出，请按约接收")),
    "referral.declined": Message(K.REFERRAL, _("申请 %(n)s 的转诊安排被谢绝：%(r)s")),
    "referral.cancelled": Message(K.REFERRAL, _("申请 %(n)s 的转诊已取消：%(r)s")),
    # JL-A2: a stored value that does not decrypt reaches the security administrators.
    "security.data_undecryptable": Message(
        K.SYSTEM, _("JL-A2：数据无法解密（%(o)s.%(f)s，记录 %(r)s）"),
        (_("密钥缺失或数据已被篡改；详情见审计日志 security.data_undecryptable。"),),
    ),
    # JL-O7 (art. 34): a stop-and-report reaches the regulators over the facility at once.
    "facility.suspension_reported": Message(
        K.SYSTEM, _("%(f)s 已暂停远程医疗服务并报告（%(c)s）"), (_("情况说明：%(d)s"),), {"c": SuspensionCause},
    ),
    # JL-F5/JL-O7 (art. 34): the facility learns at once that its licensing regulator lifted the suspension.
    "facility.suspension_lifted": Message(
        K.SYSTEM, _("%(f)s 的远程医疗服务暂停已由 %(g)s 解除，可以恢复服务"), (_("解除理由：%(r)s"),),
    ),
    # JL-O2 (art. 26, 27): the reviewer learns of a sampled case to score; the facility of its scores.
    "qc.review_assigned": Message(
        K.SYSTEM, _("质控评审：请在 %(d)s 前对抽中病例 %(n)s 评分（JL-O2）"),
    ),
    "qc.feedback_received": Message(
        K.SYSTEM, _("质控反馈：病例 %(n)s 得分 %(t)s，请在 %(d)s 前答复整改情况（JL-O2）"),
    ),
    # Webhooks (issue 14)
    "webhook.disabled": Message(
        K.SYSTEM, _("事件推送订阅已自动停用：%(url)s"),
        (_("连续 %(n)d 次推送均在多次重试后失败，已自动停用。"), _("请检查接收方后新建订阅。")),
    ),
}


def kind_of(message_key: str) -> str:
    return MESSAGES[message_key].kind


def mask_name(name: str) -> str:
    return (name[:1] + "*" * max(1, len(name) - 1)) if name else ""


def _shown(message: Message, params: dict, *, outside: bool) -> dict:
    shown = dict(params)
    if outside:
        for name in message.private:
            if name in shown:
                shown[name] = mask_name(str(shown[name]))
    for name, choices in message.labels.items():
        if name in shown:
            shown[name] = str(dict(choices.choices).get(shown[name], shown[name]))
    return shown


def render(message_key: str, params: dict | None, *, fallback_subject: str = "", fallback_body: str = "",
           outside: bool = False) -> tuple[str, str]:
    """``(subject, body)`` of a notification in the active language (``outside``: for e-mail and
    SMS, the patient's name masked).

    A row without a key (written before issue 12) or whose key or parameters no longer fit shows
    its stored text: a display never fails over a notification."""
    message = MESSAGES.get(message_key or "")
    if message is None:
        return fallback_subject, fallback_body
    try:
        shown = _shown(message, params or {}, outside=outside)
        subject = str(message.subject) % shown
        body = "".join(str(part) % shown if "%(" in str(part) else str(part) for part in message.body)
    except (KeyError, TypeError, ValueError) as error:
        logger.warning("notification %s not rendered: %s", message_key, error)
        return fallback_subject or message_key, fallback_body
    return subject, body
