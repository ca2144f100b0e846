"""Complaints about a facility's telemedicine (JL-O6), the oversight side of the audit app.

Imported by ``audit.models`` so that Django finds the tables; kept apart so that the log's own
models stay what they are. A complaint is never deleted (JL-C8): its steps are appended rows.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from facilities.choices import StaffRole
from telemed import crypto
from telemed.fields import EncryptedTextField
from telemed.scope import Scope

from .choices import ComplainantRelation, ComplaintChannel, ComplaintState, ComplaintStepKind

# JL-O6: who handles a complaint at the facility (and so may read it there).
HANDLERS = (StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR)


class ComplaintQuerySet(models.QuerySet):
    def on_old_data_key(self):
        """Complaints whose phone was written under another key or cipher than the current one
        (JL-A2, ``manage.py rotate_data_key``)."""
        prefix = crypto.current_prefix()
        return self.annotate(phone_raw=Cast("complainant_phone", output_field=models.TextField())).filter(
            ~Q(phone_raw="") & ~Q(phone_raw__startswith=prefix))

    def visible_to(self, user):
        """JL-O6, JL-O1: the facility's administrators and coordinators see its complaints, regulators
        those of facilities in their division and below; anyone else none (the three administrators see no
        complaint: 三员分立, JL-A2). Other staff of
        the facility (a complaint may name them) do not."""
        scope = Scope.of(user)
        if scope.is_provincial_regulator:
            return self.all()
        condition = Q(facility_id__in=scope.facilities_with_role(*HANDLERS))
        for prefix in scope.prefixes:
            condition |= Q(facility__division__code__startswith=prefix)
        return self.filter(condition)


class Complaint(models.Model):
    """JL-O6: a complaint about a facility, from the public form or entered by its staff."""

    tracking_number = models.CharField(_("投诉编号"), max_length=20, unique=True)
    facility = models.ForeignKey("facilities.Facility", verbose_name=_("被投诉机构"), on_delete=models.PROTECT,
                                 related_name="complaints")
    consultation = models.ForeignKey("consultations.Consultation", verbose_name=_("远程医疗申请编号"), null=True,
                                     blank=True, on_delete=models.PROTECT, related_name="complaints")
    complainant_name = models.CharField(_("投诉人姓名"), max_length=50)
    complainant_phone = EncryptedTextField(_("联系电话"), plain_max_length=20)  # JL-A2: encrypted at rest
    relation = models.CharField(_("与患者关系"), max_length=10, choices=ComplainantRelation.choices)
    text = models.TextField(_("投诉内容"))
    channel = models.CharField(_("投诉渠道"), max_length=12, choices=ComplaintChannel.choices)
    received_at = models.DateTimeField(_("受理时间"))
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    ack_due_at = models.DateTimeField(_("确认收到期限"))
    answer_due_at = models.DateTimeField(_("答复期限"))
    state = models.CharField(_("状态"), max_length=14, choices=ComplaintState.choices, default=ComplaintState.RECEIVED)
    acknowledged_at = models.DateTimeField(_("确认收到时间"), null=True, blank=True)
    answered_at = models.DateTimeField(_("答复时间"), null=True, blank=True)
    answer = models.TextField(_("答复内容"), blank=True)
    substantiated = models.BooleanField(_("投诉属实"), null=True, blank=True)

    objects = ComplaintQuerySet.as_manager()

    class Meta:
        verbose_name = _("投诉")
        verbose_name_plural = _("投诉")
        ordering = ["-received_at", "-pk"]
        indexes = [
            # The list: per facility (staff) or across a division (regulators, through the facility),
            # filtered by state, newest first; the per-year count of substantiated complaints.
            models.Index(fields=["facility", "state", "-received_at"], name="complaint_facility_state_idx"),
            models.Index(fields=["state", "-received_at"], name="complaint_state_received_idx"),
            models.Index(fields=["facility", "substantiated", "received_at"], name="complaint_substantiated_idx"),
        ]

    def __str__(self) -> str:
        return self.tracking_number


class ComplaintStep(models.Model):
    """One step of a complaint, appended: acknowledgement, investigation note, answer, a regulator's
    note or override of the finding."""

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="steps")
    kind = models.CharField(_("环节"), max_length=12, choices=ComplaintStepKind.choices)
    at = models.DateTimeField(_("时间"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("办理人"), null=True, blank=True,
                           on_delete=models.PROTECT, related_name="+")
    by_regulator = models.BooleanField(_("监管部门"), default=False)
    text = models.TextField(_("内容"), blank=True)
    substantiated = models.BooleanField(_("认定属实"), null=True, blank=True)

    class Meta:
        verbose_name = _("投诉办理记录")
        verbose_name_plural = _("投诉办理记录")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["complaint", "at"], name="complaint_step_order_idx")]

    def __str__(self) -> str:
        return f"{self.complaint_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"
