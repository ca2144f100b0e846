"""Patients, admissions, the 24-hour obligations, requests, consent, documents, opinions (JL-C1..C7, JL-O5).

Tables and constraints; the state graph and deadline arithmetic are in ``rules.py`` and every write
is in ``services.py``. Clinical rows are never deleted (JL-C8): foreign keys PROTECT.
"""

from __future__ import annotations

import datetime
import functools

from django.conf import settings
from django.db import models
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from facilities.choices import ImagingModality, PracticeScope, Title
from telemed import crypto
from telemed.changes import ChangeStampedModel, ChangeStampedQuerySet
from telemed.fields import BlindIndexField, EncryptedTextField
from telemed.scope import ScopedQuerySet

from .choices import (
    ConsentRelation,
    ConsultationState,
    DocumentKind,
    ObligationState,
    OpinionKind,
    RaterKind,
    ReferralDirection,
    ReferralKind,
    ReferralState,
    Sex,
    Side,
    TriggerKind,
    Urgency,
)
from .rules import is_web_link

ENCRYPTED_PATIENT_FIELDS = ("id_number", "phone")


class PatientQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"

    @staticmethod
    def number_q(term: str) -> Q:
        """Patients whose identity or phone number is ``term`` in full, through the blind indexes (JL-A2;
        a partial number finds nobody, JL-C9). Empty for an empty term."""
        ids = crypto.blind_index_candidates(term, purpose="id_number")
        phones = crypto.blind_index_candidates(term, purpose="phone")
        if not ids:
            return Q(pk__in=[])
        return Q(id_number_index__in=ids) | Q(phone_index__in=phones)

    def on_old_data_key(self):
        """Rows with a number written under another key or cipher than the current one (rotate_data_key)."""
        prefix = crypto.current_prefix()
        raw = {f"{name}_raw": Cast(name, output_field=models.TextField()) for name in ENCRYPTED_PATIENT_FIELDS}
        stale = Q()
        for name in raw:
            stale |= ~Q(**{name: ""}) & ~Q(**{f"{name}__startswith": prefix})
        return self.annotate(**raw).filter(stale)


class Patient(models.Model):
    """A patient as known to the inviting facility (its own patient index)."""

    facility = models.ForeignKey("facilities.Facility", verbose_name=_("就诊机构"), on_delete=models.PROTECT, related_name="patients")
    name = models.CharField(_("姓名"), max_length=50)
    sex = models.CharField(_("性别"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("出生日期"))
    # JL-A2 (GB/T 22239-2019 8.1.4.8): encrypted at rest, plain in Python; searched by the blind indexes.
    id_number = EncryptedTextField(_("身份证件号码"), plain_max_length=30, blank=True)
    # JL-C9: the last 4 characters of the identity number (``rules.number_suffix``), for the search;
    # the masked number shows them anyway, so they are the only part kept in the clear.
    id_last4 = models.CharField(_("证件号码后4位"), max_length=4, blank=True, editable=False)
    phone = EncryptedTextField(_("联系电话"), plain_max_length=20, blank=True)
    id_number_index = BlindIndexField(_("身份证件号码检索码"), source="id_number")
    phone_index = BlindIndexField(_("联系电话检索码"), source="phone")
    medical_record_number = models.CharField(_("病案号/门诊号"), max_length=40, blank=True)
    external_id = models.CharField(_("对接系统患者编号"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("建档时间"), auto_now_add=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        verbose_name = _("患者")
        verbose_name_plural = _("患者")
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["facility", "id_number_index"], name="patient_facility_idbi_idx"),
            models.Index(fields=["facility", "phone_index"], name="patient_facility_phonebi_idx"),
            models.Index(fields=["id_last4"], name="patient_id_last4_idx", condition=~Q(id_last4="")),
            models.Index(fields=["medical_record_number"], name="patient_record_number_idx", condition=~Q(medical_record_number="")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["facility", "external_id"], condition=~Q(external_id=""), name="patient_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return self.name


class AdmissionQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class Admission(models.Model):
    """An inpatient episode: JL-C2 trigger (1) runs from ``admitted_at`` until a diagnosis is confirmed."""

    facility = models.ForeignKey("facilities.Facility", verbose_name=_("机构"), on_delete=models.PROTECT, related_name="admissions")
    patient = models.ForeignKey(Patient, verbose_name=_("患者"), on_delete=models.PROTECT, related_name="admissions")
    inpatient_number = models.CharField(_("住院号"), max_length=40)
    ward = models.CharField(_("科室/病区"), max_length=50, blank=True)
    admitted_at = models.DateTimeField(_("入院时间"))
    diagnosis_confirmed_at = models.DateTimeField(_("明确诊断时间"), null=True, blank=True)
    diagnosis = models.CharField(_("明确诊断"), max_length=200, blank=True)
    discharged_at = models.DateTimeField(_("出院时间"), null=True, blank=True)
    external_id = models.CharField(_("对接系统住院编号"), max_length=64, blank=True)
    undiagnosed_obligation_opened = models.BooleanField(default=False, editable=False)

    objects = AdmissionQuerySet.as_manager()

    class Meta:
        verbose_name = _("住院")
        verbose_name_plural = _("住院")
        ordering = ["-admitted_at"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "inpatient_number"], name="admission_unique_number"),
        ]
        indexes = [
            # The sweep looks only at open, undiagnosed episodes whose obligation is not yet open.
            models.Index(
                fields=["admitted_at"],
                name="admission_awaiting_dx_idx",
                condition=Q(diagnosis_confirmed_at__isnull=True, discharged_at__isnull=True, undiagnosed_obligation_opened=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient.name} {self.inpatient_number}"


class ConsultationQuerySet(ChangeStampedQuerySet, ScopedQuerySet):
    scope_facility_field = ("inviting_id", "invited_id")
    scope_division_field = ("inviting__division__code", "invited__division__code")

    def visible_to(self, user, *, now=None):
        """The cases ``user`` may see (JL-C6), with the JL-O2 grants of their reviews current at ``now``
        (the current time when None; ``qc_granted``). The invited side sees a request only once it has
        been sent; drafts stay home."""
        from telemed.scope import Scope

        queryset = super().visible_to(user)
        scope = Scope.of(user)
        if scope.is_provincial_regulator:
            return queryset
        if not scope.is_regulator:
            queryset = queryset.filter(Q(inviting_id__in=scope.facility_ids) | ~Q(state=ConsultationState.DRAFT))
        if user is None or not getattr(user, "is_authenticated", False):
            return queryset
        return queryset | self.filter(self.qc_granted(user, now=now))

    @staticmethod
    def staff_only(user, side: str) -> bool:
        """Whether ``visible_to(user)`` on ``side`` is ``staff_on_side``'s short condition: ``user`` is
        facility staff and nothing else (no regulated division) and ``side`` is one of the two."""
        from telemed.scope import Scope

        scope = Scope.of(user)
        return bool(scope.facility_roles) and not scope.regulated and side in (Side.INVITING, Side.INVITED)

    def on_side(self, user, side: str, states=()):
        """``visible_to(user)`` on one ``side`` ("inviting": sent by the user's facilities, "invited":
        their inbox, "": both) in ``states`` (all when empty): what a work list shows. For facility
        staff the short condition of ``staff_on_side``, else ``visible_to`` filtered."""
        from telemed.scope import Scope

        scope = Scope.of(user)
        if self.staff_only(user, side):
            return self.staff_on_side(scope.facility_ids, user=user, side=side, states=states)
        queryset = self.visible_to(user)
        if side == Side.INVITING:
            queryset = queryset.filter(inviting_id__in=scope.facility_ids)
        elif side == Side.INVITED:
            queryset = queryset.filter(invited_id__in=scope.facility_ids)
        return queryset.filter(state__in=list(states)) if states else queryset

    def staff_on_side(self, facility_ids, *, user, side: str, states=(), now=None):
        """``visible_to(user)`` on one ``side`` (in ``states`` when given) for ``user``, facility staff
        of ``facility_ids`` and nothing else (``staff_only``), written as the short condition it
        reduces to. Issue 11: PostgreSQL took longer to plan the general ``OR`` (with the JL-O2 grant
        subqueries) than to run it, and Django to build it. For facilities F, ``visible_to`` is
        ``inviting ∈ F ∨ (invited ∈ F ∧ state ≠ draft) ∨ qc_granted``, so
          - the inviting side (∧ inviting ∈ F) is ``inviting ∈ F``;
          - the invited side (∧ invited ∈ F) is ``invited ∈ F ∧ (inviting ∈ F ∨ state ≠ draft ∨ qc_granted)``,
            and only ``invited ∈ F`` when none of ``states`` is a draft (drafts stay home).
        ``now``: the time of the JL-O2 review period (``qc_granted``)."""
        ids = list(facility_ids)
        if side == Side.INVITING:
            queryset = self.filter(inviting_id__in=ids)
        else:
            queryset = self.filter(invited_id__in=ids)
            if not states or ConsultationState.DRAFT in states:
                queryset = queryset.filter(
                    Q(inviting_id__in=ids) | ~Q(state=ConsultationState.DRAFT) | self.qc_granted(user, now=now)
                )
        return queryset.filter(state__in=list(states)) if states else queryset

    @staticmethod
    def qc_granted(user, *, now=None) -> Q:
        """JL-O2 (art. 26): the cases a quality-control reviewer was granted (a django-guardian object
        permission, ``view_consultation``, given by ``audit.qc.qc_reviewer_assign``) — while the draw's
        review period lasts (at ``now``, the current time when None) and never beyond it. No extra
        query: two subqueries in the same SQL (``QCGranted``)."""
        from django.utils import timezone

        return Q(QCGranted(user.pk, timezone.now() if now is None else now))


@functools.cache
def _view_grants():
    """The django-guardian rows granting ``view_consultation`` (their object as a bigint), for
    ``qc_granted`` to filter by user: built once a process, since its two joins cost every page that
    scopes cases ~0.5 ms to build (issue 11). Never evaluated here; ``filter`` returns a copy."""
    from django.db.models import BigIntegerField
    from django.db.models.functions import Cast
    from guardian.models import UserObjectPermission

    return UserObjectPermission.objects.filter(
        permission__codename="view_consultation", content_type__app_label="consultations", content_type__model="consultation",
    ).annotate(granted_pk=Cast("object_pk", BigIntegerField())).values("granted_pk")


_USER_MARK = -7_340_097  # no user has this id: where the user's id goes in ``_grant_statements``
_NOW_MARK = datetime.datetime(2000, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)


@functools.lru_cache(maxsize=8)
def _grant_statements(alias: str, vendor: str) -> tuple[tuple[str, tuple, tuple, tuple], ...]:
    """The two subqueries of ``QCGranted`` — the user's ``view_consultation`` grants and the cases of
    their reviews whose period lasts — compiled once per database: (SQL, parameters, the user's
    places, the time's places) each. Neither refers to the outer query, so each is written with its
    own table names inside the outer statement."""
    from django.db import connections

    from audit.models import QCReview

    now = connections[alias].ops.adapt_datetimefield_value(_NOW_MARK)
    statements = []
    for queryset in (
        _view_grants().using(alias).filter(user_id=_USER_MARK),
        QCReview.objects.using(alias).filter(reviewer_id=_USER_MARK, draw__review_until__gt=_NOW_MARK).values("consultation_id"),
    ):
        sql, params = queryset.query.get_compiler(using=alias).as_sql()
        user_at = tuple(i for i, value in enumerate(params) if isinstance(value, int) and value == _USER_MARK)
        now_at = tuple(i for i, value in enumerate(params) if isinstance(value, type(now)) and value == now)
        if len(user_at) != 1:
            raise RuntimeError("a JL-O2 grant subquery does not have one place for the user")
        statements.append((sql, tuple(params), user_at, now_at))
    if statements[1][3] == () or statements[0][3] != ():
        raise RuntimeError("the JL-O2 review subquery does not have one place for the time")
    return tuple(statements)


class QCGranted(models.Func):
    """``qc_granted``'s condition (JL-O2): ``pk`` among the user's ``view_consultation`` grants and
    among the cases of their current reviews, each as ``PkAmong`` writes it. Issue 11: built from two
    querysets, ``PkAmong`` resolved again (a clone of a three-table join) at every ``filter`` of a
    scoped queryset and compiled again at every statement; here the subqueries are compiled once
    per database (``_grant_statements``) and the user's id and the time bound to them. The text is
    the subqueries' own (table names, no outer reference): the same rows."""

    output_field = models.BooleanField()

    def __init__(self, user_id: int, now):
        super().__init__(models.F("pk"))
        self.user_id, self.now = user_id, now

    def _subqueries(self, connection):
        now = connection.ops.adapt_datetimefield_value(self.now)
        for sql, params, user_at, now_at in _grant_statements(connection.alias, connection.vendor):
            bound = list(params)
            for at in user_at:
                bound[at] = self.user_id
            for at in now_at:
                bound[at] = now
            yield sql, bound

    def _among(self, compiler, connection, template: str):
        pk, pk_params = compiler.compile(self.source_expressions[0])
        parts, params = [], []
        for sql, bound in self._subqueries(connection):
            parts.append(template.format(pk=pk, sub=f"({sql})"))
            params += [*pk_params, *bound]
        return f"({parts[0]} AND {parts[1]})", tuple(params)

    def as_sql(self, compiler, connection, **extra_context):
        return self._among(compiler, connection, "{pk} IN {sub}")

    def as_postgresql(self, compiler, connection, **extra_context):
        return self._among(compiler, connection, "{pk} = ANY(ARRAY{sub})")


class PkAmong(models.Func):
    """``pk IN (subquery)``, written on PostgreSQL as ``id = ANY(ARRAY(subquery))`` (issue 11).

    Same rows. The subquery then runs once, before the scan, as an array parameter, so the ``OR``
    that ``visible_to`` builds with a facility's own cases stays an index condition (a ``BitmapOr``
    of the facility indexes and the primary key); a plain ``IN (subquery)`` is a hashed subplan
    evaluated per row, and it turned every unfiltered list and its ``COUNT(*)`` into a scan of all
    the cases (the partner API's list grew with history)."""

    output_field = models.BooleanField()

    def __init__(self, queryset):
        super().__init__(models.F("pk"), models.Subquery(queryset))

    def as_sql(self, compiler, connection, **extra_context):
        pk, pk_params = compiler.compile(self.source_expressions[0])
        sub, sub_params = compiler.compile(self.source_expressions[1])
        return f"{pk} IN {sub}", (*pk_params, *sub_params)

    def as_postgresql(self, compiler, connection, **extra_context):
        pk, pk_params = compiler.compile(self.source_expressions[0])
        sub, sub_params = compiler.compile(self.source_expressions[1])
        return f"{pk} = ANY(ARRAY{sub})", (*pk_params, *sub_params)


# The inbox's order (JL-C4, ``selectors.work_list_order``): awaiting acceptance first, the most urgent
# first, the earliest requested time, then the time sent. Its open requests (the 待处理 tab) have an index
# in this order (issue 11), so that the first page does not sort every open request.
AWAITING_ACCEPTANCE_FIRST = Case(
    When(state=ConsultationState.SENT, then=Value(0)), default=Value(1), output_field=IntegerField()
)
URGENCY_RANK = Case(
    When(urgency=Urgency.EMERGENCY, then=Value(0)),
    When(urgency=Urgency.URGENT, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)
INBOX_ORDER = (AWAITING_ACCEPTANCE_FIRST, URGENCY_RANK, F("requested_time").asc(nulls_last=True), F("sent_at").asc(), F("id").asc())
INBOX_OPEN_STATES = (
    ConsultationState.SENT, ConsultationState.ACCEPTED, ConsultationState.SCHEDULED, ConsultationState.IN_SESSION
)


class Consultation(ChangeStampedModel):
    """A request from an inviting facility to an invited facility (JL-C1, JL-C4)."""

    number = models.CharField(_("申请编号"), max_length=30, unique=True)
    inviting = models.ForeignKey("facilities.Facility", verbose_name=_("邀请方"), on_delete=models.PROTECT, related_name="requests_sent")
    invited = models.ForeignKey("facilities.Facility", verbose_name=_("受邀方"), on_delete=models.PROTECT, related_name="requests_received")
    agreement = models.ForeignKey("facilities.CooperationAgreement", verbose_name=_("合作协议"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    service_type = models.ForeignKey("facilities.ServiceType", verbose_name=_("服务项目"), on_delete=models.PROTECT, related_name="+")
    modality = models.CharField(_("影像类别"), max_length=20, choices=ImagingModality.choices, blank=True)
    patient = models.ForeignKey(Patient, verbose_name=_("患者"), on_delete=models.PROTECT, related_name="consultations")
    admission = models.ForeignKey(Admission, verbose_name=_("住院"), null=True, blank=True, on_delete=models.PROTECT, related_name="consultations")
    # JL-C4: the invitation's contents.
    reason = models.TextField(_("申请理由"))
    purpose = models.TextField(_("会诊目的"))
    requested_time = models.DateTimeField(_("期望会诊时间"), null=True, blank=True)
    case_summary = models.TextField(_("病例摘要"))
    wanted_scope = models.CharField(_("所需专业"), max_length=30, choices=PracticeScope.choices)
    wanted_title = models.PositiveSmallIntegerField(_("所需职称（最低）"), choices=Title.choices, default=Title.ASSOCIATE_CHIEF_PHYSICIAN)
    urgency = models.CharField(_("紧急程度"), max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE)

    state = models.CharField(_("状态"), max_length=12, choices=ConsultationState.choices, default=ConsultationState.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("创建时间"))
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("受理时间"), null=True, blank=True)
    decline_reason = models.TextField(_("拒绝理由"), blank=True)
    return_reason = models.TextField(_("退回理由"), blank=True)
    scheduled_for = models.DateTimeField(_("会诊时间"), null=True, blank=True)
    video_link = models.CharField(_("视频会议室/链接"), max_length=300, blank=True)
    session_started_at = models.DateTimeField(_("会诊开始时间"), null=True, blank=True)
    signed_at = models.DateTimeField(_("签发时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    cancel_reason = models.TextField(_("取消原因"), blank=True)
    duty_gap_flag = models.BooleanField(_("无值班人员提示（JL-F4）"), default=False)
    # JL-C4 "promptly": the ``sent_at`` of the sending whose response target has been passed and
    # reminded; the reminder sweep claims a case by setting it (compare-and-swap), once per sending.
    response_reminded_for = models.DateTimeField(_("已提醒超时受理（JL-C4）"), null=True, blank=True, editable=False)

    objects = ConsultationQuerySet.as_manager()

    class Meta:
        verbose_name = _("远程医疗申请")
        verbose_name_plural = _("远程医疗申请")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["inviting", "state"], name="consult_inviting_state_idx"),
            # Issue 11: the inbox counts its drafts (visible only with the inviting side's facility or a
            # JL-O2 grant by id) from this index alone, as the other states: an index-only scan.
            models.Index(fields=["invited", "state"], include=["inviting", "id"], name="consult_invited_state_idx"),
            # The lists' sort order (newest first), per side and for regulators' division-wide lists.
            models.Index(fields=["inviting", "-created_at"], name="consult_inviting_created_idx"),
            models.Index(fields=["invited", "-created_at"], name="consult_invited_created_idx"),
            models.Index(fields=["-created_at"], name="consult_created_idx"),
            # Issue 11: the inbox's open requests in its order (``INBOX_ORDER``): the first page reads 25
            # entries instead of sorting every open request of the hospital.
            # ``requested_time`` ascending is NULLS LAST in a PostgreSQL index already (SQLite takes no
            # NULLS LAST in an index).
            models.Index(
                F("invited"), AWAITING_ACCEPTANCE_FIRST, URGENCY_RANK, "requested_time", "sent_at", "id",
                name="consult_inbox_open_order_idx", condition=Q(state__in=INBOX_OPEN_STATES),
            ),
            # JL-C4: the response-clock sweep reads the requests awaiting acceptance by the time sent.
            models.Index(fields=["sent_at"], name="consult_awaiting_sent_idx", condition=Q(state="sent")),
            # JL-O4: the yearly assistance-time report reads the services signed in a year.
            models.Index(fields=["signed_at"], name="consult_signed_idx", condition=Q(signed_at__isnull=False)),
            # Issue 14: a partner's sync reads by (updated_at, id) (telemed.pagination).
            models.Index(fields=["updated_at", "id"], name="consult_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.patient.name}"

    @property
    def video_url(self) -> str:
        """The video link if it is a web address the case page may show as a link, else ""."""
        return self.video_link.strip() if is_web_link(self.video_link) else ""


class ObligationQuerySet(ChangeStampedQuerySet, ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class Obligation(ChangeStampedModel):
    """JL-C2 (art. 22): upload within 24 hours of a trigger, or a violation is recorded."""

    facility = models.ForeignKey("facilities.Facility", verbose_name=_("邀请方"), on_delete=models.PROTECT, related_name="obligations")
    patient = models.ForeignKey(Patient, verbose_name=_("患者"), on_delete=models.PROTECT, related_name="obligations")
    admission = models.ForeignKey(Admission, null=True, blank=True, on_delete=models.PROTECT, related_name="obligations")
    trigger = models.CharField(_("触发情形"), max_length=30, choices=TriggerKind.choices)
    trigger_at = models.DateTimeField(_("触发时间"))
    due_at = models.DateTimeField(_("上传截止时间"))
    trigger_details = models.JSONField(_("触发情况"), default=dict, blank=True)
    state = models.CharField(_("状态"), max_length=10, choices=ObligationState.choices, default=ObligationState.OPEN)
    consultation = models.ForeignKey(Consultation, null=True, blank=True, on_delete=models.PROTECT, related_name="obligations")
    met_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    withdrawn_reason = models.TextField(_("撤销原因"), blank=True)
    reminders_sent = models.JSONField(_("已发送提醒"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ObligationQuerySet.as_manager()

    class Meta:
        verbose_name = _("24小时上传义务")
        verbose_name_plural = _("24小时上传义务")
        ordering = ["due_at"]
        indexes = [
            # The sweep reads only open obligations by due time: its cost does not grow with history.
            models.Index(fields=["due_at"], name="obligation_open_due_idx", condition=Q(state="open")),
            models.Index(fields=["facility", "state"], name="obligation_facility_state_idx"),
            # Issue 14: a partner's sync reads by (updated_at, id) (telemed.pagination).
            models.Index(fields=["updated_at", "id"], name="obligation_updated_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["admission", "trigger"], condition=Q(trigger="undiagnosed"), name="one_undiagnosed_obligation_per_admission"
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient.name} {self.get_trigger_display()} {self.due_at:%Y-%m-%d %H:%M}"


class ViolationQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class Violation(models.Model):
    """A missed JL-C2 deadline, recorded against the inviting facility and shown to its regulators."""

    facility = models.ForeignKey("facilities.Facility", verbose_name=_("机构"), on_delete=models.PROTECT, related_name="violations")
    obligation = models.OneToOneField(Obligation, on_delete=models.PROTECT, related_name="violation")
    rule = models.CharField(_("依据"), max_length=10, default="JL-C2")
    due_at = models.DateTimeField(_("截止时间"))
    recorded_at = models.DateTimeField(_("记录时间"))
    # Issue 12: the text is rendered when shown, in the reader's language, from the obligation it
    # records (``text``); ``description`` keeps the Chinese text of rows recorded before that.
    message_key = models.CharField(_("情况（消息）"), max_length=60, blank=True)
    description = models.TextField(_("情况（旧记录）"), blank=True)

    objects = ViolationQuerySet.as_manager()

    class Meta:
        verbose_name = _("违规记录")
        verbose_name_plural = _("违规记录")
        ordering = ["-due_at"]
        indexes = [
            # Regulators' start page and violation list: newest deadline first, per facility or division.
            models.Index(fields=["-due_at"], name="violation_due_idx"),
            models.Index(fields=["facility", "-due_at"], name="violation_facility_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.facility} {self.rule} {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def patient_id(self) -> int:
        """The patient the violation names, through its obligation (JL-C8: the access log records it).
        A property, not an annotation: an annotated join stays in the paginator's ``COUNT(*)``, which
        then reads every obligation (issue 11); ``violation_list`` already joins the obligation."""
        return self.obligation.patient_id

    @property
    def text(self) -> str:
        """What happened, in the active language (``violation_list`` joins the obligation and patient)."""
        obligation = self.obligation
        return violation_text(
            message_key=self.message_key, description=self.description, due_at=self.due_at,
            trigger=obligation.get_trigger_display(), patient_name=obligation.patient.name,
        )


# Issue 12: violation texts by message key, rendered when shown (``Violation.text``).
VIOLATION_UPLOAD_MISSED = "jl_c2.upload_missed"
VIOLATION_MESSAGES = {
    VIOLATION_UPLOAD_MISSED: _("JL-C2 第二十二条: %(trigger)s，患者 %(name)s 的资料未在 %(due)s 前上传受邀方。"),
}


def violation_text(*, message_key: str, description: str, due_at, trigger, patient_name: str) -> str:
    """A violation's text in the active language (``Violation.text``; the violation pages build it
    from the values they read, ``consultations.violation_rows``). ``trigger``: the trigger's label."""
    template = VIOLATION_MESSAGES.get(message_key)
    if template is None:
        return description
    return str(template) % {"trigger": trigger, "name": patient_name, "due": f"{timezone.localtime(due_at):%Y-%m-%d %H:%M}"}


class Consent(models.Model):
    """JL-C3 (art. 20, 21, 23; 个人信息保护法 art. 29): informed consent before records leave."""

    consultation = models.OneToOneField(Consultation, on_delete=models.PROTECT, related_name="consent")
    signer_name = models.CharField(_("签署人"), max_length=50)
    relation = models.CharField(_("与患者关系"), max_length=20, choices=ConsentRelation.choices)
    signed_at = models.DateTimeField(_("签署时间"))
    signed_copy = models.FileField(_("知情同意书签署件"), upload_to="consent/%Y/%m/", blank=True)
    signed_copy_sha256 = models.CharField(max_length=64, blank=True)
    e_signature_reference = models.CharField(_("电子签名凭证"), max_length=200, blank=True)
    sensitive_info_consent = models.BooleanField(_("同意向受邀方提供敏感个人信息"), default=False)
    sensitive_info_consented_at = models.DateTimeField(_("敏感个人信息单独同意时间"), null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Recorded again only as a new version; the one it replaces is kept as a ConsentVersion (JL-C3).
    version = models.PositiveSmallIntegerField(_("版本"), default=1)
    recorded_at = models.DateTimeField(_("记录时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("知情同意")
        verbose_name_plural = _("知情同意")

    def __str__(self) -> str:
        return f"{self.signer_name}（{self.get_relation_display()}）"


class ConsentVersion(models.Model):
    """An earlier version of a case's consent, kept unchanged when it was recorded again (JL-C3,
    art. 23: what the patient agreed to, and when, stays on record)."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="consent_versions")
    version = models.PositiveSmallIntegerField(_("版本"))
    signer_name = models.CharField(_("签署人"), max_length=50)
    relation = models.CharField(_("与患者关系"), max_length=20, choices=ConsentRelation.choices)
    signed_at = models.DateTimeField(_("签署时间"))
    signed_copy = models.FileField(_("知情同意书签署件"), blank=True)
    signed_copy_sha256 = models.CharField(max_length=64, blank=True)
    e_signature_reference = models.CharField(_("电子签名凭证"), max_length=200, blank=True)
    sensitive_info_consent = models.BooleanField(_("同意向受邀方提供敏感个人信息"), default=False)
    sensitive_info_consented_at = models.DateTimeField(_("敏感个人信息单独同意时间"), null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("记录时间"), null=True, blank=True)
    superseded_at = models.DateTimeField(_("被替代时间"))
    superseded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("知情同意历史版本")
        verbose_name_plural = _("知情同意历史版本")
        ordering = ["consultation", "-version"]
        constraints = [models.UniqueConstraint(fields=["consultation", "version"], name="consent_version_once")]

    def __str__(self) -> str:
        return f"v{self.version} {self.signer_name}"


class Participant(models.Model):
    """A physician on a case: the inviting side's attending physician(s) or an assigned expert."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="participants")
    physician = models.ForeignKey("facilities.Physician", verbose_name=_("医师"), on_delete=models.PROTECT, related_name="participations")
    side = models.CharField(_("所属方"), max_length=10, choices=Side.choices)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(_("加入时间"))

    class Meta:
        verbose_name = _("参与医师")
        verbose_name_plural = _("参与医师")
        ordering = ["side", "added_at"]
        constraints = [models.UniqueConstraint(fields=["consultation", "physician", "side"], name="participant_once")]

    def __str__(self) -> str:
        return f"{self.physician.name}（{self.get_side_display()}）"


class Document(models.Model):
    """JL-C5 (art. 29): uploaded material with its fingerprint; the inviting side answers for it."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(_("资料类别"), max_length=20, choices=DocumentKind.choices)
    title = models.CharField(_("名称"), max_length=200)
    file = models.FileField(_("文件"), upload_to="documents/%Y/%m/")
    original_name = models.CharField(_("原文件名"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("大小（字节）"))
    content_type = models.CharField(_("检测到的类型"), max_length=100)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(_("上传时间"))
    returned_at = models.DateTimeField(_("退回时间"), null=True, blank=True)
    return_reason = models.TextField(_("退回理由"), blank=True)

    class Meta:
        verbose_name = _("病历资料")
        verbose_name_plural = _("病历资料")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.title


class Opinion(models.Model):
    """JL-C6: a signed opinion or report; immutable; a correction is a new version pointing back."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="opinions")
    kind = models.CharField(_("类别"), max_length=10, choices=OpinionKind.choices)
    version = models.PositiveSmallIntegerField(_("版本"))
    content = models.TextField(_("内容"))
    signed_by = models.ForeignKey("facilities.Physician", verbose_name=_("签发专家"), on_delete=models.PROTECT, related_name="+")
    signed_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(_("签发时间"))
    content_sha256 = models.CharField(_("签发内容哈希"), max_length=64)
    supersedes = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by")
    correction_reason = models.TextField(_("更正理由"), blank=True)
    # JL-C10 (art. 9): part of what is signed (in the content hash when set).
    recommends_transfer = models.BooleanField(_("建议转诊"), default=False)
    transfer_reason = models.CharField(_("建议转诊理由"), max_length=200, blank=True)
    # JL-C11: the structured form (sections of the service type's template, ICD-10 diagnoses,
    # recommendations; ``report_rules.canonical_structure``), signed with the content (JL-C6).
    # Empty for a free-text opinion, whose canonical signed form is unchanged.
    structure = models.JSONField(_("结构化内容"), default=dict, blank=True)

    class Meta:
        verbose_name = _("会诊意见/诊断报告")
        verbose_name_plural = _("会诊意见/诊断报告")
        ordering = ["consultation", "version"]
        constraints = [models.UniqueConstraint(fields=["consultation", "version"], name="opinion_version_once")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("JL-C6: 已签发的意见/报告不可修改，请签发更正版本")
        super().save(*args, **kwargs)

    @property
    def is_structured(self) -> bool:
        return bool(self.structure)


class ResponsibilityRecord(models.Model):
    """JL-C7 (art. 28, 29): which facility answers for what, recorded at acceptance and at signing."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="responsibilities")
    recorded_at = models.DateTimeField(_("记录时间"))
    occasion = models.CharField(_("时点"), max_length=20)
    article = models.CharField(_("依据"), max_length=30)
    inviting_facility = models.ForeignKey("facilities.Facility", on_delete=models.PROTECT, related_name="+")
    invited_facility = models.ForeignKey("facilities.Facility", on_delete=models.PROTECT, related_name="+")
    inviting_answers_for = models.TextField(_("邀请方承担"))
    invited_answers_for = models.TextField(_("受邀方承担"))
    acted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("责任认定记录")
        verbose_name_plural = _("责任认定记录")
        ordering = ["recorded_at", "id"]

    def __str__(self) -> str:
        return f"{self.consultation.number} {self.occasion} {self.article}"


class Rating(models.Model):
    """JL-O5 (art. 46.3): satisfaction of the inviting physician and the patient."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="ratings")
    rater_kind = models.CharField(_("评价人"), max_length=10, choices=RaterKind.choices)
    score = models.PositiveSmallIntegerField(_("评分（1–5）"))
    comment = models.TextField(_("评价"), blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("记录时间"))

    class Meta:
        verbose_name = _("满意度评价")
        verbose_name_plural = _("满意度评价")
        constraints = [
            models.UniqueConstraint(fields=["consultation", "rater_kind"], name="one_rating_per_rater_kind"),
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="rating_score_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.consultation.number} {self.get_rater_kind_display()} {self.score}"


class ReferralQuerySet(ScopedQuerySet):
    """Seen by both facilities of the case and their regulators (JL-C10, JL-O1)."""

    scope_facility_field = ("sending_id", "receiving_id")
    scope_division_field = ("sending__division__code", "receiving__division__code")


class Referral(models.Model):
    """JL-C10 (art. 9): a two-way referral of a case's patient through the green channel.

    Up: to the invited facility, offered by it after a signed opinion or report recommends
    transfer; down: back to the inviting facility for rehabilitation or follow-up. The receiving
    facility offers, the sending one confirms and records the transfer (``rules.REFERRAL_EDGES``).
    """

    consultation = models.ForeignKey(Consultation, verbose_name=_("远程医疗申请"), on_delete=models.PROTECT, related_name="referrals")
    opinion = models.ForeignKey(Opinion, verbose_name=_("建议转诊的意见/报告"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(_("转诊方向"), max_length=8, choices=ReferralDirection.choices)
    sending = models.ForeignKey("facilities.Facility", verbose_name=_("转出机构"), on_delete=models.PROTECT, related_name="+")
    receiving = models.ForeignKey("facilities.Facility", verbose_name=_("接收机构"), on_delete=models.PROTECT, related_name="+")
    department = models.CharField(_("接收科室"), max_length=100)
    kind = models.CharField(_("安排方式"), max_length=12, choices=ReferralKind.choices)
    scheduled_for = models.DateTimeField(_("预约/入院时间"))
    note = models.TextField(_("说明"), blank=True)
    state = models.CharField(_("状态"), max_length=12, choices=ReferralState.choices, default=ReferralState.OFFERED)
    offered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    offered_at = models.DateTimeField(_("提供时间"))
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    transferred_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    transferred_at = models.DateTimeField(_("转出时间"), null=True, blank=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(_("谢绝/取消时间"), null=True, blank=True)
    end_reason = models.TextField(_("谢绝/取消理由"), blank=True)

    objects = ReferralQuerySet.as_manager()

    class Meta:
        verbose_name = _("双向转诊")
        verbose_name_plural = _("双向转诊")
        ordering = ["-offered_at", "-id"]
        indexes = [
            # The list: each side's rows by state and direction, newest first; regulators by state.
            models.Index(fields=["sending", "state", "direction", "-offered_at"], name="referral_sending_idx"),
            models.Index(fields=["receiving", "state", "direction", "-offered_at"], name="referral_receiving_idx"),
            models.Index(fields=["state", "direction", "-offered_at"], name="referral_state_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["consultation", "direction"], condition=Q(state__in=["offered", "confirmed"]),
                name="referral_one_open_per_direction",
            ),
            models.CheckConstraint(condition=~Q(sending=models.F("receiving")), name="referral_two_facilities"),
        ]

    def __str__(self) -> str:
        return f"{self.consultation.number} {self.get_direction_display()} {self.get_state_display()}"


class Notification(models.Model):
    """An in-app message (reminders of JL-C2 deadlines, requests arriving, opinions signed).

    Issue 12: the text is not stored; ``message_key`` and ``params`` are, and ``title``/``text``
    render them through gettext in the reader's language (``notifications.messages``). ``subject``
    and ``body`` hold the Chinese text of rows written before that, shown as they were. Each
    e-mail/SMS sending of it is a ``notifications.NotificationDelivery``.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    created_at = models.DateTimeField(_("时间"))
    kind = models.CharField(_("类别"), max_length=20, blank=True)
    message_key = models.CharField(_("消息"), max_length=60, blank=True)
    params = models.JSONField(_("消息参数"), default=dict, blank=True)
    subject = models.CharField(_("标题（旧记录）"), max_length=200, blank=True)
    body = models.TextField(_("内容（旧记录）"), blank=True)
    link = models.CharField(_("链接"), max_length=300, blank=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)
    dedupe_key = models.CharField(max_length=120, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_created_idx"),
            models.Index(fields=["user"], name="notification_unread_idx", condition=Q(read_at__isnull=True)),
        ]
        constraints = [
            models.UniqueConstraint(fields=["user", "dedupe_key"], condition=~Q(dedupe_key=""), name="notification_once")
        ]

    def __str__(self) -> str:
        return self.title

    def rendered(self) -> tuple[str, str]:
        from notifications.messages import render

        return render(self.message_key, self.params, fallback_subject=self.subject, fallback_body=self.body)

    @property
    def title(self) -> str:
        return self.rendered()[0]

    @property
    def text(self) -> str:
        return self.rendered()[1]
