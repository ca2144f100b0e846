"""Tables of the yearly evaluation (JL-O3, art. 45–47); the rules are in ``evaluation_rules`` and
every write in ``evaluation``. Imported by ``facilities.models``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .choices import EvaluationGrade


class EvaluationFormula(models.Model):
    """JL-O3 (art. 45): the weights and thresholds the province publishes, as data and versioned.
    A published version never changes; a year's results name the version they were computed with."""

    version = models.PositiveIntegerField(_("版本"), unique=True)
    weights = models.JSONField(_("权重"))
    thresholds = models.JSONField(_("标准"))
    document_number = models.CharField(_("文号"), max_length=100, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("发布人"), on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(_("发布时间"))

    class Meta:
        verbose_name = _("年度评价考核办法")
        verbose_name_plural = _("年度评价考核办法")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version}"


class EvaluationRoundQuerySet(models.QuerySet):
    def visible_to(self, user):
        """JL-O1: a regulator sees the rounds of their own division and below, and a round above
        it (the province's, their city's) only when it grades a facility of theirs; facility staff
        see the published rounds their facility is in; nobody else sees any. The results inside
        are narrowed again (``EvaluationResult.objects.visible_to``)."""
        from telemed.scope import Scope

        scope = Scope.of(user)
        if scope.is_provincial_regulator:
            return self.all()
        if not scope.regulated and not scope.facility_ids:
            return self.none()
        condition = Q(pk__in=[])
        for prefix in scope.prefixes:
            condition |= Q(division__code__startswith=prefix) | Q(pk__in=EvaluationResult.objects.filter(
                facility__division__code__startswith=prefix).values("round_id"))
        if scope.facility_ids:
            condition |= Q(published_at__isnull=False, pk__in=EvaluationResult.objects.filter(
                facility_id__in=scope.facility_ids).values("round_id"))
        return self.filter(condition)


class EvaluationRound(models.Model):
    """JL-O3: one division's evaluation of one year — the province's (county-level and above) or a
    city's (primary care), art. 45. Provisional grades are computed when it starts; it is published once."""

    year = models.PositiveSmallIntegerField(_("年度"))
    division = models.ForeignKey("facilities.Division", verbose_name=_("评价部门所在区划"), on_delete=models.PROTECT, related_name="+")
    formula = models.ForeignKey(EvaluationFormula, verbose_name=_("考核办法版本"), on_delete=models.PROTECT, related_name="rounds")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(_("启动时间"))
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(_("公布时间"), null=True, blank=True)

    objects = EvaluationRoundQuerySet.as_manager()

    class Meta:
        verbose_name = _("年度评价考核")
        verbose_name_plural = _("年度评价考核")
        ordering = ["-year", "division_id"]
        constraints = [models.UniqueConstraint(fields=["year", "division"], name="evaluation_round_once")]

    def __str__(self) -> str:
        return f"{self.year} {self.division_id}"

    @property
    def published(self) -> bool:
        return self.published_at is not None


class EvaluationResultQuerySet(models.QuerySet):
    def visible_to(self, user):
        """JL-O1: regulators see the results of the facilities of their division and below (a
        county regulator sees but does not grade); a facility's staff see its own results once
        published."""
        from telemed.scope import Scope

        scope = Scope.of(user)
        if scope.is_provincial_regulator:
            return self.all()
        condition = Q(pk__in=[])
        for prefix in scope.prefixes:
            condition |= Q(facility__division__code__startswith=prefix)
        if scope.facility_ids:
            condition |= Q(facility_id__in=scope.facility_ids, round__published_at__isnull=False)
        if not scope.regulated and not scope.facility_ids:
            return self.none()
        return self.filter(condition)


class EvaluationResult(models.Model):
    """JL-O3: one facility's result of one year: the figures it was computed from (a snapshot), the
    score and provisional grade, and the grade after the regulator's adjustment (with its reason)."""

    round = models.ForeignKey(EvaluationRound, verbose_name=_("年度评价考核"), on_delete=models.PROTECT, related_name="results")
    year = models.PositiveSmallIntegerField(_("年度"))
    facility = models.ForeignKey("facilities.Facility", verbose_name=_("机构"), on_delete=models.PROTECT, related_name="evaluations")
    inputs = models.JSONField(_("考核数据（快照）"))
    parts = models.JSONField(_("分项得分"))
    score = models.DecimalField(_("得分"), max_digits=4, decimal_places=1)
    provisional_grade = models.CharField(_("初评等次"), max_length=10, choices=EvaluationGrade.choices)
    grade = models.CharField(_("等次"), max_length=10, choices=EvaluationGrade.choices)
    adjusted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    adjusted_at = models.DateTimeField(_("调整时间"), null=True, blank=True)
    adjust_reason = models.TextField(_("调整理由"), blank=True)
    previous_grade = models.CharField(_("上一年度等次"), max_length=10, choices=EvaluationGrade.choices, blank=True)
    accountability = models.BooleanField(_("连续两年不合格（问责）"), default=False)
    principal_name = models.CharField(_("主要负责人"), max_length=50, blank=True)
    principal_barred = models.BooleanField(_("主要负责人不得参与当年评先选优"), default=False)

    objects = EvaluationResultQuerySet.as_manager()

    class Meta:
        verbose_name = _("年度评价考核结果")
        verbose_name_plural = _("年度评价考核结果")
        ordering = ["round_id", "facility__division_id", "facility__name"]
        constraints = [
            models.UniqueConstraint(fields=["year", "facility"], name="evaluation_result_once_a_year"),
            models.UniqueConstraint(fields=["round", "facility"], name="evaluation_result_once_per_round"),
        ]
        indexes = [models.Index(fields=["facility", "-year"], name="evaluation_facility_year_idx")]

    def __str__(self) -> str:
        return f"{self.year} {self.facility_id} {self.grade}"

    @property
    def adjusted(self) -> bool:
        return self.adjusted_at is not None
