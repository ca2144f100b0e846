"""Random inspections, 双随机一公开 (JL-O6): the regulators' inspector rosters, the plans, their seeded
draws and the result per drawn facility.

Imported by ``audit.models`` so that Django finds the tables. Nothing is deleted: an inspector leaves
the roster by ``active=False``; a plan's draw and results are appended and only move forward.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from telemed.scope import Scope

from .choices import FindingSeverity, InspectionResultState


def _division_condition(scope: Scope, path: str) -> Q:
    condition = Q(pk__in=[])
    for prefix in scope.prefixes:
        condition |= Q(**{f"{path}__startswith": prefix})
    return condition


class InspectorQuerySet(models.QuerySet):
    def visible_to(self, user):
        """JL-O1: the regulators over the roster's division; nobody else (the roster names people)."""
        scope = Scope.of(user)
        if scope.is_provincial_regulator:
            return self.all()
        if not scope.regulated:
            return self.none()
        return self.filter(_division_condition(scope, "division__code"))


class Inspector(models.Model):
    """JL-O6: a person a regulator names to its roster of inspectors (执法检查人员名录), with the
    facility they work at, if any — a draw never sends them to inspect it."""

    division = models.ForeignKey("facilities.Division", verbose_name=_("名录所属区划"), on_delete=models.PROTECT,
                                 related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("检查人员"), on_delete=models.PROTECT,
                             related_name="+")
    workplace = models.ForeignKey("facilities.Facility", verbose_name=_("工作单位（医疗机构）"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(_("在册"), default=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(_("列入时间"))
    removed_at = models.DateTimeField(_("移出时间"), null=True, blank=True)

    objects = InspectorQuerySet.as_manager()

    class Meta:
        verbose_name = _("检查人员")
        verbose_name_plural = _("检查人员名录")
        ordering = ["division_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["division", "user"], condition=Q(active=True), name="inspector_once_per_roster"),
        ]
        # The roster page and the draw: a division's active inspectors by id.
        indexes = [models.Index(fields=["division", "active", "id"], name="inspector_roster_idx")]

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


class InspectionPlanQuerySet(models.QuerySet):
    def visible_to(self, user):
        """JL-O1: the regulators over the plan's division see it; the staff of a drawn facility see a
        plan that drew them, and an inspector a plan that names them."""
        scope = Scope.of(user)
        if scope.is_provincial_regulator:
            return self.all()
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        condition = _division_condition(scope, "division__code")
        condition |= Q(pk__in=InspectionResult.objects.filter(inspectors=user).values("plan_id"))
        if scope.facility_ids:
            condition |= Q(pk__in=InspectionResult.objects.filter(facility_id__in=scope.facility_ids).values("plan_id"))
        return self.filter(condition)

    def published(self):
        return self.filter(published_at__isnull=False)


class InspectionPlan(models.Model):
    """JL-O6: a regulator's random-inspection plan: which facilities may be drawn (kinds and levels in
    its division), how many, how many inspectors each, in which period; then its draw (the seed and
    the candidate lists it drew from, ordered by id) and its publication."""

    division = models.ForeignKey("facilities.Division", verbose_name=_("监管部门（区划）"), on_delete=models.PROTECT,
                                 related_name="+")
    title = models.CharField(_("计划名称"), max_length=100)
    facility_kinds = models.JSONField(_("抽查机构类别"), default=list)
    facility_levels = models.JSONField(_("抽查机构级别"), default=list)
    facility_count = models.PositiveSmallIntegerField(_("抽查机构数"))
    inspectors_per_facility = models.PositiveSmallIntegerField(_("每个机构检查人员数"))
    period_start = models.DateField(_("检查开始日期"))
    period_end = models.DateField(_("检查截止日期"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("制定时间"))
    # The draw (双随机): blank until drawn; then never changed.
    seed = models.CharField(_("随机种子"), max_length=64, blank=True)
    facility_candidates = models.JSONField(_("候选机构（按编号排序）"), default=list, blank=True)
    inspector_candidates = models.JSONField(_("候选检查人员（名录编号与工作单位，按编号排序）"), default=list, blank=True)
    drawn_facilities = models.JSONField(_("抽中机构"), default=list, blank=True)
    drawn_assignments = models.JSONField(_("抽中检查人员（按机构）"), default=dict, blank=True)
    drawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    drawn_at = models.DateTimeField(_("抽取时间"), null=True, blank=True)
    # 一公开
    published_at = models.DateTimeField(_("公开时间"), null=True, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")

    objects = InspectionPlanQuerySet.as_manager()

    class Meta:
        verbose_name = _("随机抽查计划")
        verbose_name_plural = _("随机抽查计划")
        ordering = ["-period_start", "-pk"]
        indexes = [
            # The regulators' list (per division, newest first) and the public list (published, newest first).
            models.Index(fields=["division", "-period_start", "-id"], name="inspection_plan_division_idx"),
            models.Index(fields=["-published_at", "-id"], name="inspection_plan_published_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def scope_label(self) -> str:
        """The kinds and levels drawn from, as the pages show them ("综合医院、专科医院；二级、三级")."""
        from facilities.choices import FacilityKind, FacilityLevel

        kinds = "、".join(str(FacilityKind(k).label) for k in self.facility_kinds if k in FacilityKind.values)
        levels = "、".join(str(FacilityLevel(v).label) for v in self.facility_levels if v in FacilityLevel.values)
        return f"{kinds}；{levels}"

    @property
    def drawn(self) -> bool:
        return self.drawn_at is not None

    @property
    def published(self) -> bool:
        return self.published_at is not None


class InspectionResultQuerySet(models.QuerySet):
    def visible_to(self, user):
        """JL-O6, JL-O1: regulators over the plan's division, the inspectors named to it, and the
        inspected facility's staff."""
        scope = Scope.of(user)
        if scope.is_provincial_regulator:
            return self.all()
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        condition = _division_condition(scope, "plan__division__code") | Q(inspectors=user)
        if scope.facility_ids:
            condition |= Q(facility_id__in=scope.facility_ids)
        return self.filter(pk__in=self.model.objects.filter(condition).values("pk"))


class InspectionResult(models.Model):
    """JL-O6: one drawn facility of a plan: its inspectors, the findings (a public summary, details for
    the facility and its regulators), the rectification required and its deadline, and the facility's
    report of the rectification done."""

    plan = models.ForeignKey(InspectionPlan, verbose_name=_("抽查计划"), on_delete=models.PROTECT, related_name="results")
    facility = models.ForeignKey("facilities.Facility", verbose_name=_("被检查机构"), on_delete=models.PROTECT,
                                 related_name="inspection_results")
    inspectors = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("检查人员"), related_name="+", blank=True)
    state = models.CharField(_("状态"), max_length=12, choices=InspectionResultState.choices,
                             default=InspectionResultState.PENDING)
    severity = models.CharField(_("检查结论"), max_length=8, choices=FindingSeverity.choices, blank=True)
    summary = models.TextField(_("检查结果摘要（公开）"), blank=True)
    findings = models.TextField(_("检查发现（不公开）"), blank=True)
    rectification = models.TextField(_("整改要求"), blank=True)
    deadline = models.DateField(_("整改期限"), null=True, blank=True)
    inspected_on = models.DateField(_("检查日期"), null=True, blank=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    entered_at = models.DateTimeField(_("登记时间"), null=True, blank=True)
    rectification_report = models.TextField(_("整改情况"), blank=True)
    rectified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    rectified_at = models.DateTimeField(_("报告整改完成时间"), null=True, blank=True)

    objects = InspectionResultQuerySet.as_manager()

    class Meta:
        verbose_name = _("抽查结果")
        verbose_name_plural = _("抽查结果")
        ordering = ["plan_id", "facility_id"]
        constraints = [models.UniqueConstraint(fields=["plan", "facility"], name="inspection_result_once_per_facility")]
        indexes = [
            # A facility's results (its page, its credit record), newest first; the overdue flag by state and deadline.
            models.Index(fields=["facility", "-entered_at"], name="inspection_result_facility_idx"),
            models.Index(fields=["state", "deadline"], name="inspection_result_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} · {self.facility}"
