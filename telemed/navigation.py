"""The navigation a user sees: only what their roles may use.

The 通知 entry carries the number of unread notifications. Counting them is one query, and a page
outside the consultation work area must not pay for it on every request (their query counts are
budgeted), so the count is kept in the session: the start page and every consultations page (where
notifications lead, and where they are marked read) count afresh and remember the number; the other
pages show the number remembered. Either way the navigation's cost does not depend on how many
notifications there are.
"""

from django.urls import reverse
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


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    scope = Scope.of(user)
    items = [(_("首页"), reverse("home"))]
    if scope.facilities_with_role(*CLINICAL):
        items.append((_("远程会诊"), reverse("consultations:list") + "?side=inviting"))
        items.append((_("收件箱"), reverse("consultations:list") + "?side=invited"))
        items.append((_("上传义务"), reverse("consultations:obligation-list")))
    if scope.facilities_with_role(*CLINICAL) or scope.is_regulator:
        items.append((_("双向转诊"), reverse("consultations:referral-list")))
    if scope.is_regulator:
        items.append((_("违规记录"), reverse("consultations:violation-list")))
    if scope.facility_roles or scope.is_regulator or scope.is_operator:
        items.append((_("医疗机构"), reverse("facilities:facility-list")))
        items.append((_("合作协议"), reverse("facilities:agreement-list")))
        items.append((_("医务人员"), reverse("facilities:physician-list")))
    if scope.facilities_with_role(StaffRole.COORDINATOR, StaffRole.FACILITY_ADMIN) or scope.is_regulator:
        items.append((_("值班安排"), reverse("facilities:duty-list")))
    if scope.is_regulator or scope.facilities_with_role(StaffRole.FACILITY_ADMIN):
        items.append((_("评估验收"), reverse("facilities:application-list")))
        items.append((_("暂停与恢复"), reverse("facilities:suspension-list")))
    if scope.facilities_with_role(StaffRole.FINANCE, StaffRole.FACILITY_ADMIN) or scope.is_operator:
        items.append((_("费用结算"), reverse("billing:statement-list")))
    if scope.is_regulator or scope.is_operator:
        items.append((_("结算统计"), reverse("billing:regulator-totals")))
    items.append((_("价格标准"), reverse("billing:standard-list")))
    if scope.facilities_with_role(*CLINICAL):
        items.append((_("我的绩效"), reverse("billing:my-payouts")))  # JL-B6: a person's own payout lines
    if scope.facility_roles or scope.is_regulator or scope.is_operator:
        items.append((_("责任认定"), reverse("audit:responsibility-list")))
    if scope.facilities_with_role(StaffRole.COORDINATOR) or scope.is_regulator or scope.is_operator:
        items.append((_("封存病历"), reverse("audit:seal-list")))
    if scope.is_regulator or scope.is_operator:
        items.append((_("审计链校验"), reverse("audit:chain")))
    items.append(
        (_notifications_label(unread_notifications(request)), reverse("consultations:notification-list"))
    )
    # JL-A2: the security administrator's page. The page itself asks for the permission
    # facilities.release_lockout; operators hold it (superusers), and asking has_perm here would
    # cost every page two queries — move this test with the permission when duties are split.
    if scope.is_operator:
        items.append((_("登录锁定"), reverse("facilities:lockout-list")))
    if scope.is_operator:
        items.append((_("系统管理"), reverse("admin:index")))
    return {"nav_items": items, "scope": scope}
