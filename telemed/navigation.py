"""The navigation a user sees: only what their roles may use."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from facilities.choices import StaffRole

from .scope import Scope


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    scope = Scope.of(user)
    items = [(_("首页"), reverse("home"))]
    if scope.facility_roles or scope.is_regulator or scope.is_operator:
        items.append((_("医疗机构"), reverse("facilities:facility-list")))
        items.append((_("合作协议"), reverse("facilities:agreement-list")))
        items.append((_("医务人员"), reverse("facilities:physician-list")))
    if scope.facilities_with_role(StaffRole.COORDINATOR, StaffRole.FACILITY_ADMIN) or scope.is_regulator:
        items.append((_("值班安排"), reverse("facilities:duty-list")))
    if scope.is_regulator or scope.facilities_with_role(StaffRole.FACILITY_ADMIN):
        items.append((_("评估验收"), reverse("facilities:application-list")))
        items.append((_("暂停与恢复"), reverse("facilities:suspension-list")))
    if scope.is_operator:
        items.append((_("系统管理"), reverse("admin:index")))
    return {"nav_items": items, "scope": scope}
