"""The tamper-evident audit log (JL-A1).

Every row carries a hash (SHA-256, or SM3 under 密评; the one used is recorded in ``hash_algorithm``)
over its own content and the previous row's hash. Rows are only ever
inserted: the ORM refuses updates and deletes here, and on PostgreSQL a trigger refuses them in
the database too (migration 0002). ``audit.services.audit_event_append`` is the one writer.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import HashAlgorithm, Outcome, QCPeriod


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an audit event (JL-A1)."""


class DetailText(models.Func):
    """One key of an event's details as text, spelled the way the expression indexes of migration
    0004 are (``details ->> 'consultation'``) so that PostgreSQL uses them; a plain
    ``details__consultation=…`` lookup compiles to ``details -> 'consultation' = '"…"'::jsonb``, which
    no index serves, and the case timeline scanned the whole log. Compare it with strings."""

    output_field = models.TextField()

    def __init__(self, key: str):
        super().__init__(models.F("details"))
        self.key = key

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} ->> %s)", [*params, self.key]

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"CAST(json_extract({sql}, %s) AS TEXT)", [*params, f"$.{self.key}"]


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("JL-A1: 审计日志只能追加，不能修改")

    def delete(self):
        raise AppendOnlyError("JL-A1: 审计日志只能追加，不能删除")

    def _raw_delete(self, using):
        raise AppendOnlyError("JL-A1: 审计日志只能追加，不能删除")

    # Issue 11: events not yet chained have no sequence; they come after the chained ones (by id, the
    # order the sequencer will give them), and first when the newest come first.
    def chain_order(self):
        return self.order_by(models.F("sequence").asc(nulls_last=True), "id")

    def newest_first(self):
        return self.order_by(models.F("sequence").desc(nulls_first=True), "-id")


class AuditEvent(models.Model):
    GENESIS_HASH = "0" * 64

    # Issue 11: empty until the sequencer chains the event (``audit.services.audit_chain_sequence``).
    sequence = models.BigIntegerField(_("序号"), unique=True, null=True, blank=True, editable=False)
    occurred_at = models.DateTimeField(_("时间"), db_index=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(_("操作人（记录时）"), max_length=200, blank=True)
    acting_facility_id = models.BigIntegerField(_("所代表机构"), null=True, blank=True, db_index=True)
    acting_division_code = models.CharField(_("所代表行政区划"), max_length=6, blank=True)
    ip_address = models.GenericIPAddressField(_("网络地址"), null=True, blank=True)
    request_id = models.CharField(_("请求编号"), max_length=64, blank=True, db_index=True)
    channel = models.CharField(_("渠道"), max_length=100, blank=True)
    event_type = models.CharField(_("事件类型"), max_length=80, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=80, blank=True)
    object_id = models.CharField(_("对象编号"), max_length=64, blank=True)
    facility_ids = models.JSONField(_("涉及机构"), default=list, blank=True)
    outcome = models.CharField(_("结果"), max_length=10, choices=Outcome.choices)
    details = models.JSONField(_("详情"), default=dict, blank=True)
    hash_algorithm = models.CharField(
        _("哈希算法"), max_length=10, choices=HashAlgorithm.choices, default=HashAlgorithm.SHA256, editable=False
    )
    # Issue 11: the writer's hash of the content (without the sequence); "" for events written before.
    leaf_hash = models.CharField(_("内容哈希"), max_length=64, blank=True, default="", editable=False)
    prev_hash = models.CharField(_("前一事件哈希"), max_length=64, unique=True, null=True, blank=True, editable=False)
    hash = models.CharField(_("哈希"), max_length=64, unique=True, null=True, blank=True, editable=False)
    # When the sequencer chained it (not hashed: the delay is measured with it, docs/performance.md).
    sequenced_at = models.DateTimeField(_("入链时间"), null=True, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("审计事件")
        verbose_name_plural = _("审计事件")
        # Newest first; events not yet chained (no sequence) are the newest of all.
        ordering = [models.F("sequence").desc(nulls_first=True), "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            # Issue 11: the sequencer's queue — only the few committed events not yet chained.
            models.Index(fields=["id"], condition=models.Q(sequence__isnull=True), name="audit_unsequenced_idx"),
        ]

    def __str__(self) -> str:
        place = f"#{self.sequence}" if self.sequence is not None else "待入链"
        return f"{place} {self.event_type} {self.object_type}:{self.object_id} {self.outcome}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("JL-A1: 审计日志只能追加，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("JL-A1: 审计日志只能追加，不能删除")


class SealQuerySet(models.QuerySet):
    def visible_to(self, user):
        from consultations.models import Consultation

        return self.filter(consultation__in=Consultation.objects.visible_to(user).values("pk"))


class Seal(models.Model):
    """JL-C8 (art. 32, 37): a record frozen for a dispute, with both parties and a hashed snapshot.

    While ``unsealed_at`` is empty the consultation is read-only for everyone and every access to
    it is logged with a reason. Unsealing records both parties again.
    """

    consultation = models.ForeignKey("consultations.Consultation", on_delete=models.PROTECT, related_name="seals")
    reason = models.TextField(_("封存原因"))
    sealed_at = models.DateTimeField(_("封存时间"))
    sealed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    inviting_party_name = models.CharField(_("邀请方在场人"), max_length=50)
    inviting_party_role = models.CharField(_("邀请方在场人身份"), max_length=50)
    invited_party_name = models.CharField(_("受邀方（或患方）在场人"), max_length=50)
    invited_party_role = models.CharField(_("受邀方（或患方）在场人身份"), max_length=50)
    snapshot = models.JSONField(_("封存快照"))
    snapshot_sha256 = models.CharField(_("快照哈希"), max_length=64)
    unsealed_at = models.DateTimeField(_("启封时间"), null=True, blank=True)
    unsealed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    unseal_reason = models.TextField(_("启封原因"), blank=True)
    unseal_inviting_party_name = models.CharField(_("启封时邀请方在场人"), max_length=50, blank=True)
    unseal_inviting_party_role = models.CharField(_("启封时邀请方在场人身份"), max_length=50, blank=True)
    unseal_invited_party_name = models.CharField(_("启封时受邀方（或患方）在场人"), max_length=50, blank=True)
    unseal_invited_party_role = models.CharField(_("启封时受邀方（或患方）在场人身份"), max_length=50, blank=True)

    objects = SealQuerySet.as_manager()

    class Meta:
        verbose_name = _("封存记录")
        verbose_name_plural = _("封存记录")
        ordering = ["-sealed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["consultation"], condition=models.Q(unsealed_at__isnull=True), name="one_open_seal_per_consultation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.consultation_id} {self.sealed_at:%Y-%m-%d}"


class VerificationRun(models.Model):
    """A background walk of the audit chain (JL-A1), with progress for the regulators' page."""

    class State(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("校验中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("出错")

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("发起时间"))
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("最近心跳"), null=True, blank=True)
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.QUEUED)
    total = models.BigIntegerField(_("事件总数"), default=0)
    checked = models.BigIntegerField(_("已校验"), default=0)
    intact = models.BooleanField(_("完整"), null=True)
    broken_sequence = models.BigIntegerField(_("断点序号"), null=True, blank=True)
    problem = models.TextField(_("问题"), blank=True)

    class Meta:
        verbose_name = _("审计链校验")
        verbose_name_plural = _("审计链校验")
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.requested_at:%Y-%m-%d %H:%M} {self.get_state_display()}"

    @property
    def in_progress(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    def is_stale(self, now) -> bool:
        """Queued or running, but silent for longer than ``TELEMED_VERIFY_TIMEOUT_SECONDS``."""
        from . import rules

        return self.in_progress and rules.run_is_stale(
            heartbeat_at=self.heartbeat_at or self.started_at or self.requested_at, now=now,
            timeout_seconds=settings.TELEMED_VERIFY_TIMEOUT_SECONDS,
        )

    @property
    def percent(self) -> int:
        return 100 if self.state == self.State.DONE else (int(self.checked * 100 / self.total) if self.total else 0)


class AuditCheckpoint(models.Model):
    """A signed checkpoint of the audit log (JL-A1; issue 11): its size and the hash of its last event,
    signed with a key kept outside the database (``telemed.signing``). Regulators download and keep
    them; ``manage.py audit_verify --checkpoint FILE`` then detects a rewrite of the whole table, even
    one that recomputed every hash. Written only by ``audit.services.audit_checkpoint_sign``."""

    size = models.BigIntegerField(_("日志条数"), unique=True, editable=False)
    head_hash = models.CharField(_("末条事件哈希"), max_length=64, editable=False)
    signed_at = models.DateTimeField(_("签署时间"), editable=False)
    signature_algorithm = models.CharField(_("签名算法"), max_length=10, editable=False)
    key_id = models.CharField(_("签名密钥编号"), max_length=16, editable=False)
    public_key = models.CharField(_("公钥（Base64）"), max_length=120, editable=False)
    signature = models.CharField(_("签名（Base64）"), max_length=120, editable=False)

    class Meta:
        verbose_name = _("审计日志检查点")
        verbose_name_plural = _("审计日志检查点")
        ordering = ["-size"]
        indexes = [models.Index(fields=["-signed_at"], name="audit_checkpoint_signed_idx")]

    def __str__(self) -> str:
        return f"{self.size} {self.signed_at:%Y-%m-%d %H:%M}"


# --- Quality control (JL-O2, art. 26, 27) ---------------------------------------------------------
# Services in ``audit.qc``, pure rules (the draw, the score checks) in ``audit.rules``.


class QCChecklist(models.Model):
    """JL-O2 (art. 27): the provincial regulator's scoring checklist, as data. Each version is kept;
    a draw records the version its reviews are scored on. ``items``: ``[{"code", "text", "max_points"}]``."""

    version = models.PositiveIntegerField(_("版本"), unique=True)
    items = models.JSONField(_("评分项目"))
    defined_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    defined_at = models.DateTimeField(_("发布时间"))

    class Meta:
        verbose_name = _("质控评分表")
        verbose_name_plural = _("质控评分表")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version}"

    @property
    def max_total(self) -> int:
        return sum(int(item["max_points"]) for item in self.items)


class QCPlanQuerySet(models.QuerySet):
    def visible_to(self, user):
        """JL-O1: a regulator sees the plans of their division and the divisions below it."""
        from telemed.scope import Scope

        scope = Scope.of(user)
        if scope.is_provincial_regulator:
            return self.all()
        if not scope.prefixes:
            return self.none()
        condition = models.Q(pk__in=[])
        for prefix in scope.prefixes:
            condition |= models.Q(division__code__startswith=prefix)
        return self.filter(condition)


class QCPlan(models.Model):
    """JL-O2 (art. 26): a province's, city's or county's quality-control plan: which service types,
    what share of the finished cases (per mille), how often."""

    division = models.ForeignKey("facilities.Division", verbose_name=_("质控区划"), on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("计划名称"), max_length=100)
    service_types = models.ManyToManyField("facilities.ServiceType", verbose_name=_("服务项目"), related_name="+")
    share_per_mille = models.PositiveSmallIntegerField(_("抽样比例（‰）"))
    period = models.CharField(_("抽样周期"), max_length=10, choices=QCPeriod.choices)
    active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("制定时间"))

    objects = QCPlanQuerySet.as_manager()

    class Meta:
        verbose_name = _("质控计划")
        verbose_name_plural = _("质控计划")
        ordering = ["division_id", "-created_at"]
        indexes = [models.Index(fields=["division", "-created_at"], name="qc_plan_division_idx")]

    def __str__(self) -> str:
        return self.name


class QCDrawQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(plan__in=QCPlan.objects.visible_to(user).values("pk"))


class QCDraw(models.Model):
    """JL-O2 (art. 26): one period's sample. The seed, the population query's parameters and the ordered
    population are recorded, so that ``audit.rules.draw_sample`` reproduces the drawn cases."""

    plan = models.ForeignKey(QCPlan, verbose_name=_("质控计划"), on_delete=models.PROTECT, related_name="draws")
    period_start = models.DateField(_("周期开始"))
    period_end = models.DateField(_("周期结束（不含）"))
    seed = models.CharField(_("随机种子"), max_length=64, editable=False)
    population_query = models.JSONField(_("抽样总体条件"), editable=False)
    population_ids = models.JSONField(_("抽样总体（有序）"), editable=False)
    case_ids = models.JSONField(_("抽中病例"), editable=False)
    checklist = models.ForeignKey(QCChecklist, verbose_name=_("评分表"), on_delete=models.PROTECT, related_name="+")
    review_until = models.DateTimeField(_("评审截止（调阅授权到期）"))
    drawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    drawn_at = models.DateTimeField(_("抽样时间"))

    objects = QCDrawQuerySet.as_manager()

    class Meta:
        verbose_name = _("质控抽样")
        verbose_name_plural = _("质控抽样")
        ordering = ["-period_start", "-id"]
        constraints = [models.UniqueConstraint(fields=["plan", "period_start"], name="qc_draw_once_per_period")]
        indexes = [models.Index(fields=["review_until"], name="qc_draw_review_until_idx")]

    def __str__(self) -> str:
        return f"{self.plan} {self.period_start:%Y-%m}"

    @property
    def period_last_day(self):
        """The period's last day, for people: ``period_end`` is exclusive (issue 10: "12-01 — 01-01"
        read as if New Year's Day were in December's sample)."""
        import datetime as dt

        return self.period_end - dt.timedelta(days=1)


class QCReviewQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The regulators over the plan's division, the named reviewer, and the staff of the facility
        the feedback goes to (JL-O2); nobody else."""
        from telemed.scope import Scope

        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        scope = Scope.of(user)
        condition = models.Q(reviewer_id=user.pk) | models.Q(draw__in=QCDraw.objects.visible_to(user).values("pk"))
        if scope.facility_ids:
            condition |= models.Q(facility_id__in=scope.facility_ids)
        return self.filter(condition)


class QCReview(models.Model):
    """JL-O2 (art. 27): one sampled case: its reviewer, the scores per checklist item and the written
    feedback, and the facility's corrective-action answer, due ``answer_due``."""

    draw = models.ForeignKey(QCDraw, verbose_name=_("质控抽样"), on_delete=models.PROTECT, related_name="reviews")
    consultation = models.ForeignKey("consultations.Consultation", verbose_name=_("病例"), on_delete=models.PROTECT, related_name="+")
    facility = models.ForeignKey("facilities.Facility", verbose_name=_("反馈机构"), on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("质控专家"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField(_("指定时间"), null=True, blank=True)
    scores = models.JSONField(_("各项得分"), default=dict, blank=True)
    total = models.PositiveIntegerField(_("总分"), null=True, blank=True)
    feedback = models.TextField(_("反馈意见"), blank=True)
    submitted_at = models.DateTimeField(_("评分提交时间"), null=True, blank=True)
    answer_due = models.DateTimeField(_("整改答复期限"), null=True, blank=True)
    answer = models.TextField(_("整改情况"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    answered_at = models.DateTimeField(_("答复时间"), null=True, blank=True)

    objects = QCReviewQuerySet.as_manager()

    class Meta:
        verbose_name = _("质控评审")
        verbose_name_plural = _("质控评审")
        ordering = ["draw_id", "consultation_id"]
        constraints = [models.UniqueConstraint(fields=["draw", "consultation"], name="qc_review_once_per_case")]
        indexes = [
            models.Index(fields=["reviewer", "submitted_at"], name="qc_review_reviewer_idx"),
            models.Index(fields=["facility", "-submitted_at"], name="qc_review_facility_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.draw} #{self.consultation_id}"


from .complaint_models import Complaint, ComplaintStep  # noqa: E402, F401  JL-O6: the complaints' tables
from .inspection_models import InspectionPlan, InspectionResult, Inspector  # noqa: E402, F401  JL-O6: 双随机一公开
