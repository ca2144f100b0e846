"""The navigation a user sees: only what their roles may use.

The 通知 entry carries the number of unread notifications. Counting them is one query, and a page
outside the consultation work area must not pay for it on every request (their query counts are
budgeted), so the count is kept in the session: the start page and every consultations page (where
notifications lead, and where they are marked read) count afresh and remember the number; the other
pages show the number remembered. Either way the navigation's cost does not depend on how many
notifications there are.

The menu itself depends on nothing but the kinds of role a user holds (``MenuRoles``), the language
and the URL prefix, so it is built once per process for each such combination (issue 11: building it
took some forty ``reverse()`` calls and a few hundred translations on every page); only the 通知
entry, which carries the user's own count, is filled in per request.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import translation
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from facilities.choices import StaffRole

from .scope import Scope

UNREAD_SESSION_KEY = "telemed.unread_notifications"
COUNTING_NAMESPACES = ("consultations",)
CLINICAL = (StaffRole.CLINICIAN, StaffRole.COORDINATOR)


def _counts_here(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and (match.namespace in COUNTING_NAMESPACES or match.url_name == "home")


def unread_notifications(request) -> int | None:
    """The user's unread notifications: counted on the work pages, remembered elsewhere."""
    if _counts_here(request):
        from consultations.selectors import notification_unread_count

        count = notification_unread_count(user=request.user)
        if request.session.get(UNREAD_SESSION_KEY) != count:
            request.session[UNREAD_SESSION_KEY] = count
        return count
    return request.session.get(UNREAD_SESSION_KEY)


def _notifications_label(count: int | None):
    if not count:
        return _("通知")
    return format_html('{} <span class="nav-count" aria-label="{}">{}</span>', _("通知"), _("未读"), count)


# The regulators' menu, grouped (issue 9): a regulator sees some fifteen entries, too many for one
# row. Each entry names its group; staff keep the flat row they know.
GROUP_START, GROUP_SUPERVISION, GROUP_FACILITIES, GROUP_FEES, GROUP_RECORDS = (
    _("常用"), _("监管统计"), _("机构与人员"), _("费用"), _("病历与审计"),
)
GROUPS = (GROUP_START, GROUP_SUPERVISION, GROUP_FACILITIES, GROUP_FEES, GROUP_RECORDS)
NOTIFICATIONS = object()  # the place of the 通知 entry, whose label is the user's own


@dataclass(frozen=True)
class MenuRoles:
    """All of a user's scope that the menu depends on, and so the key of the built menu."""

    staff_roles: frozenset[str]  # the roles held in any facility
    administered: int | None  # the first facility the user administers (its statistics entry)
    regulator: bool
    admin_roles: frozenset[str]  # 三员分立 (JL-A2)

    @classmethod
    def of(cls, scope: Scope) -> MenuRoles:
        administered = scope.facilities_with_role(StaffRole.FACILITY_ADMIN)
        return cls(
            staff_roles=frozenset(role for roles in scope.facility_roles.values() for role in roles),
            administered=administered[0] if administered else None,
            regulator=scope.is_regulator,
            admin_roles=scope.admin_roles,
        )

    def has(self, *roles: str) -> bool:
        return not self.staff_roles.isdisjoint(roles)


def _entries(roles: MenuRoles) -> list[tuple[object, object, str]]:
    """The menu's (group, label, url) entries for these roles, the 通知 label left as ``NOTIFICATIONS``."""
    entries: list[tuple[object, object, str]] = []
    regulator, staff = roles.regulator, bool(roles.staff_roles)

    def add(group, label, url):
        entries.append((group, label, url))

    add(GROUP_START, _("首页"), reverse("home"))
    if roles.has(*CLINICAL):
        add(GROUP_START, _("远程会诊"), reverse("consultations:list") + "?side=inviting")
        add(GROUP_START, _("收件箱"), reverse("consultations:list") + "?side=invited")
        add(GROUP_START, _("上传义务"), reverse("consultations:obligation-list"))
    if roles.has(StaffRole.CLINICIAN):  # experts are clinicians of the invited side
        add(GROUP_START, _("分配给我"), reverse("consultations:assigned"))
    if staff or regulator:  # issue 12: patients and cases in scope (JL-C8, JL-C9)
        add(GROUP_RECORDS if regulator else GROUP_START, _("查找"), reverse("consultations:search"))
    if regulator:
        add(GROUP_SUPERVISION, _("监管统计"), reverse("facilities:metrics"))
    elif roles.has(StaffRole.FACILITY_ADMIN):
        add(GROUP_SUPERVISION, _("本机构统计"), reverse("facilities:metrics-facility", args=[roles.administered]))
    if roles.has(*CLINICAL) or regulator:
        add(GROUP_SUPERVISION if regulator else GROUP_START, _("双向转诊"), reverse("consultations:referral-list"))
    if regulator:
        add(GROUP_SUPERVISION, _("违规记录"), reverse("consultations:violation-list"))
        add(GROUP_SUPERVISION, _("质量控制"), reverse("audit:qc-plan-list"))  # JL-O2 (art. 26, 27)
        add(GROUP_SUPERVISION, _("年度评价"), reverse("facilities:evaluation-list"))  # JL-O3 (art. 45-47)
    elif roles.has(StaffRole.FACILITY_ADMIN):
        add(GROUP_START, _("年度评价"), reverse("facilities:evaluation-list"))  # JL-O3: its published results
    if roles.has(StaffRole.CLINICIAN, StaffRole.COORDINATOR, StaffRole.FACILITY_ADMIN):
        # JL-O2: the reviewer's cases to score, the facility's scores and feedback to answer.
        add(GROUP_START, _("质控评审"), reverse("audit:qc-review-list"))
    if staff or regulator:
        add(GROUP_FACILITIES, _("医疗机构"), reverse("facilities:facility-list"))
        add(GROUP_FACILITIES, _("合作协议"), reverse("facilities:agreement-list"))
        add(GROUP_FACILITIES, _("医务人员"), reverse("facilities:physician-list"))
    if roles.has(StaffRole.COORDINATOR, StaffRole.FACILITY_ADMIN) or regulator:
        add(GROUP_FACILITIES, _("值班安排"), reverse("facilities:duty-list"))
    if regulator or roles.has(StaffRole.FACILITY_ADMIN):
        add(GROUP_FACILITIES, _("评估验收"), reverse("facilities:application-list"))
        add(GROUP_FACILITIES, _("暂停与恢复"), reverse("facilities:suspension-list"))
    if regulator or roles.has(StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR):
        add(GROUP_FACILITIES, _("设备与软件"), reverse("facilities:asset-list"))  # JL-O7 (art. 33)
        # JL-O6: complaints about the facility, handled by its administrators and coordinators
        add(GROUP_SUPERVISION if regulator else GROUP_START, _("投诉办理"), reverse("audit:complaint-list"))
    if regulator or roles.has(StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR):
        # JL-O6: 双随机一公开 random inspections and the facilities' credit records
        group = GROUP_SUPERVISION if regulator else GROUP_START
        add(group, _("随机抽查"), reverse("audit:inspection-list"))
        add(group, _("信用记录"), reverse("audit:credit-list"))
    if roles.has(StaffRole.FACILITY_ADMIN):
        add(GROUP_FACILITIES, _("事件推送"), reverse("webhooks:list"))  # issue 14
    if roles.has(StaffRole.FACILITY_ADMIN) or regulator:
        add(GROUP_FACILITIES, _("对接应用"), reverse("partner-clients:list"))  # issue 14: OAuth2 clients
    if roles.has(StaffRole.FINANCE, StaffRole.FACILITY_ADMIN):
        add(GROUP_FEES, _("费用结算"), reverse("billing:statement-list"))
    if regulator:
        add(GROUP_SUPERVISION, _("结算统计"), reverse("billing:regulator-totals"))
    add(GROUP_FEES, _("价格标准"), reverse("billing:standard-list"))
    if roles.has(*CLINICAL):
        add(GROUP_FEES, _("我的绩效"), reverse("billing:my-payouts"))  # JL-B6: a person's own payout lines
    if regulator or roles.has(StaffRole.FACILITY_ADMIN, StaffRole.CLINICIAN):
        # JL-O4: administrators and regulators see their facilities' lines, a physician their own.
        add(GROUP_SUPERVISION if regulator else GROUP_START, _("帮扶时间"), reverse("facilities:assistance"))
    if staff or regulator:
        add(GROUP_RECORDS, _("责任认定"), reverse("audit:responsibility-list"))
    if roles.has(StaffRole.COORDINATOR) or regulator:
        add(GROUP_RECORDS, _("封存病历"), reverse("audit:seal-list"))
    if regulator:
        add(GROUP_RECORDS, _("审计链校验"), reverse("audit:chain"))
    add(GROUP_START, NOTIFICATIONS, reverse("consultations:notification-list"))
    # JL-A2 三员分立: each administrator's own pages (the roles are in the scope already: no query).
    if "audit_admin" in roles.admin_roles:
        add(GROUP_RECORDS, _("审计链校验"), reverse("audit:chain"))
    if "security_admin" in roles.admin_roles:
        add(GROUP_RECORDS, _("登录锁定"), reverse("facilities:lockout-list"))
    if roles.admin_roles:
        add(GROUP_RECORDS, _("系统管理"), reverse("admin:index"))
    return entries


@dataclass(frozen=True)
class Menu:
    items: tuple[tuple[object, str], ...]  # (label, url); the 通知 label is ``NOTIFICATIONS``
    groups: tuple[tuple[str, tuple[int, ...]], ...]  # (group label, indexes into items): regulators only
    notifications: int  # the index of the 通知 entry


@functools.lru_cache(maxsize=512)
def _menu(roles: MenuRoles, language: str | None, prefix: str, urlconf) -> Menu:
    """The menu for these roles in this language under this URL prefix (what ``reverse`` reads)."""
    entries = _entries(roles)
    items = tuple((label if label is NOTIFICATIONS else str(label), url) for _group, label, url in entries)
    groups = ()
    if roles.regulator:
        groups = tuple(
            (str(group), members)
            for group in GROUPS
            if (members := tuple(i for i, (g, _label, _url) in enumerate(entries) if g is group))
        )
    notifications = next(i for i, (_label, _url) in enumerate(items) if _label is NOTIFICATIONS)
    return Menu(items=items, groups=groups, notifications=notifications)


def fixed_url(name: str) -> str:
    """``reverse(name)`` for a route without arguments, reversed once per process and URL prefix
    (issue 11: the page frame links to eight of them on every page)."""
    return _fixed_url(name, get_script_prefix(), get_urlconf())


@functools.lru_cache(maxsize=64)
def _fixed_url(name: str, prefix: str, urlconf) -> str:
    return reverse(name)


@receiver(setting_changed)
def _forget_built(*, setting, **kwargs):
    if setting in ("ROOT_URLCONF", "FORCE_SCRIPT_NAME", "LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS"):
        _menu.cache_clear()
        _fixed_url.cache_clear()


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    scope = Scope.of(user)
    menu = _menu(MenuRoles.of(scope), translation.get_language(), get_script_prefix(), get_urlconf())
    items = list(menu.items)
    items[menu.notifications] = (_notifications_label(unread_notifications(request)), items[menu.notifications][1])
    groups = [(group, [items[i] for i in members]) for group, members in menu.groups]
    return {"nav_items": items, "nav_groups": groups, "scope": scope}
