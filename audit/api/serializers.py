"""Serializers of the audit API: responsibility (JL-C7) and seals (JL-C8).

A seal's snapshot is never rendered (it holds unmasked identity numbers): only its SHA-256 and
the result of comparing it with the live record. User accounts appear as display names.
Write serializers check shapes only; an empty reason or a missing party is refused by
``audit.records`` with the rule's ID (JL-C8), so those fields are optional here.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from consultations.models import Consultation, ResponsibilityRecord
from telemed.api import ScopedPrimaryKeyRelatedField

from ..models import AuditCheckpoint, Seal
from ..selectors import OCCASION_LABELS


def _display(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


class FacilityNameSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ActSerializer(serializers.Serializer):
    """One audit event done under a responsibility record (``audit.selectors.Act``)."""

    sequence = serializers.IntegerField(source="event.sequence", allow_null=True)  # issue 11: null until chained
    occurred_at = serializers.DateTimeField(source="event.occurred_at")
    event_type = serializers.CharField(source="event.event_type", allow_blank=True)
    event_label = serializers.CharField(source="label", allow_blank=True)
    outcome = serializers.CharField(source="event.outcome", allow_blank=True)
    actor_id = serializers.IntegerField(source="event.actor_id", allow_null=True)
    actor = serializers.CharField(source="event.actor_label", help_text="操作人（记录时的姓名和用户名）", allow_blank=True)
    acting_facility_id = serializers.IntegerField(source="event.acting_facility_id", allow_null=True)
    acting_division_code = serializers.CharField(source="event.acting_division_code", allow_blank=True)  # "" for staff
    acting_for = serializers.CharField(help_text="所代表的机构或卫生健康行政部门", allow_blank=True)
    object_type = serializers.CharField(source="event.object_type", allow_blank=True)
    object_id = serializers.CharField(source="event.object_id", allow_blank=True)
    details = serializers.JSONField(source="event.details")


class ResponsibilityRecordSerializer(serializers.ModelSerializer):
    """JL-C7 (art. 28, 29): what each facility answers for, and the acts done under the record."""

    consultation_number = serializers.CharField(source="consultation.number")
    consultation_sealed = serializers.BooleanField(help_text="JL-C8: 该申请目前处于封存状态")
    occasion_label = serializers.SerializerMethodField()
    inviting_facility = FacilityNameSerializer()
    invited_facility = FacilityNameSerializer()
    acted_by = serializers.SerializerMethodField()
    acts = serializers.SerializerMethodField(help_text="本记录之后、下一条记录之前该申请的审计事件（按序号）")

    class Meta:
        model = ResponsibilityRecord
        fields = [
            "id",
            "consultation",
            "consultation_number",
            "consultation_sealed",
            "recorded_at",
            "occasion",
            "occasion_label",
            "article",
            "inviting_facility",
            "inviting_answers_for",
            "invited_facility",
            "invited_answers_for",
            "acted_by",
            "acts",
        ]
        read_only_fields = fields

    def get_occasion_label(self, record) -> str:
        return OCCASION_LABELS.get(record.occasion, record.occasion)

    def get_acted_by(self, record) -> str:
        return _display(record.acted_by)

    @extend_schema_field(ActSerializer(many=True))
    def get_acts(self, record) -> list:
        acts = self.context.get("acts", {}).get(record.pk, [])
        return ActSerializer(acts, many=True).data


class SealVerificationSerializer(serializers.Serializer):
    intact = serializers.BooleanField(help_text="现行病历与封存快照一致")
    differences = serializers.ListField(child=serializers.CharField(), help_text="不一致的部分（路径）")
    live_sha256 = serializers.CharField()


class SealSerializer(serializers.ModelSerializer):
    consultation_number = serializers.CharField(source="consultation.number", read_only=True)
    is_open = serializers.SerializerMethodField()
    sealed_by = serializers.SerializerMethodField()
    unsealed_by = serializers.SerializerMethodField()

    class Meta:
        model = Seal
        fields = [
            "id",
            "consultation",
            "consultation_number",
            "is_open",
            "reason",
            "sealed_at",
            "sealed_by",
            "inviting_party_name",
            "inviting_party_role",
            "invited_party_name",
            "invited_party_role",
            "snapshot_sha256",
            "unsealed_at",
            "unsealed_by",
            "unseal_reason",
            "unseal_inviting_party_name",
            "unseal_inviting_party_role",
            "unseal_invited_party_name",
            "unseal_invited_party_role",
        ]
        read_only_fields = fields

    def get_is_open(self, seal) -> bool:
        return seal.unsealed_at is None

    def get_sealed_by(self, seal) -> str:
        return _display(seal.sealed_by)

    def get_unsealed_by(self, seal) -> str:
        return _display(seal.unsealed_by)


class SealDetailSerializer(SealSerializer):
    verification = serializers.SerializerMethodField(help_text="JL-C8: 与现行病历比对的结果")

    class Meta(SealSerializer.Meta):
        fields = [*SealSerializer.Meta.fields, "verification"]
        read_only_fields = fields

    @extend_schema_field(SealVerificationSerializer)
    def get_verification(self, seal) -> dict:
        result = self.context["verification"]
        return SealVerificationSerializer(result).data


class _PartiesSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    inviting_party_name = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    inviting_party_role = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    invited_party_name = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    invited_party_role = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")


class SealCreateSerializer(_PartiesSerializer):
    """JL-C8 (art. 32, 37): seal a consultation for a dispute, with both parties present."""

    consultation = ScopedPrimaryKeyRelatedField(queryset=Consultation.objects.all(), help_text="申请 id")


class SealReleaseSerializer(_PartiesSerializer):
    """JL-C8 (art. 37): unseal, with both parties present again."""


class AuditCheckpointSerializer(serializers.ModelSerializer):
    """A signed checkpoint of the audit log (JL-A1; issue 11), as listed; ``download`` gives the document."""

    class Meta:
        model = AuditCheckpoint
        fields = ["id", "size", "head_hash", "signed_at", "signature_algorithm", "key_id", "public_key", "signature"]
        read_only_fields = fields
