"""The project's own tables (plumbing, nothing domain-specific)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """A partner's ``Idempotency-Key`` and the answer it got (``telemed.idempotency``).

    ``principal`` is whoever sent it (a hash of the credential, or the signed-in user), so two
    partners can never see each other's answers. ``fingerprint`` covers the method, path, query,
    content type and body, so the same key with a different request is refused.
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", _("处理中")
        DONE = "done", _("已完成")

    principal = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=500, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("幂等键")
        verbose_name_plural = _("幂等键")
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_once")]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class SignedInSession(models.Model):
    """The one browser session a privileged user may have (JL-A2, ``telemed.sessions``): signing in
    again ends the session recorded here."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40)
    signed_in_at = models.DateTimeField()

    class Meta:
        verbose_name = _("当前登录会话")
        verbose_name_plural = _("当前登录会话")

    def __str__(self) -> str:
        return f"{self.user_id} {self.signed_in_at:%Y-%m-%d %H:%M}"


# --- Webhooks (issue 14; docs/architecture.md "Webhooks") ---------------------------------------


class WebhookSubscriptionQuerySet(models.QuerySet):
    def visible_to(self, user):
        """A facility's administrators and partner systems see its subscriptions (STYLE 3).

        Regulators see none: a subscription is a facility's own integration, not a regulated act.
        """
        from facilities.choices import StaffRole

        from .scope import Scope

        scope = Scope.of(user)
        admin_of = scope.facilities_with_role(StaffRole.FACILITY_ADMIN)
        partner_of = scope.facilities_with_role(StaffRole.PARTNER_SYSTEM)
        # A partner system (its old token, or a partner application acting as it) sees the
        # facility-wide subscriptions and its own applications' ones, never another application's.
        return self.filter(
            models.Q(facility_id__in=admin_of)
            | models.Q(facility_id__in=partner_of, client__isnull=True)
            | models.Q(facility_id__in=partner_of, client__user=user)
        )


class WebhookSubscription(models.Model):
    """Where one facility — or one partner application of it — wants its events POSTed. ``secret``
    signs every delivery (HMAC-SHA256); it is kept as it is because signing needs it, and shown only
    once, in the answer that creates it.

    ``client`` (issue 14): the partner application that owns the subscription (made by it over the
    API, or chosen by the facility administrator on the page); it receives only the events its scopes
    let it read, and nothing once it is revoked or expired. Empty: facility-wide, as before."""

    facility = models.ForeignKey("facilities.Facility", on_delete=models.PROTECT, related_name="webhook_subscriptions",
                                 verbose_name=_("医疗机构"))
    client = models.ForeignKey("telemed.PartnerClient", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="webhook_subscriptions", verbose_name=_("对接应用"))
    created_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("创建人"))
    created_at = models.DateTimeField(_("创建时间"))
    description = models.CharField(_("说明"), max_length=200, blank=True)
    target_url = models.URLField(_("接收地址"), max_length=500)
    event_types = models.JSONField(_("订阅的事件类型"), default=list)
    secret = models.CharField(max_length=100)
    active = models.BooleanField(_("启用"), default=True)
    disabled_at = models.DateTimeField(_("停用时间"), null=True, blank=True)
    disabled_reason = models.CharField(_("停用原因"), max_length=300, blank=True)
    failure_count = models.PositiveIntegerField(_("连续失败次数"), default=0)

    objects = WebhookSubscriptionQuerySet.as_manager()

    class Meta:
        verbose_name = _("事件推送订阅")
        verbose_name_plural = _("事件推送订阅")
        indexes = [
            models.Index(fields=["facility", "-created_at"], name="webhook_sub_facility_idx"),
            models.Index(fields=["facility"], name="webhook_sub_active_idx", condition=models.Q(active=True)),
        ]

    def __str__(self) -> str:
        return self.target_url


class WebhookEvent(models.Model):
    """The outbox: one event, written in the transaction of the change it reports."""

    id = models.UUIDField(primary_key=True, editable=False)
    event_type = models.CharField(_("事件类型"), max_length=60)
    resource_type = models.CharField(max_length=40)
    resource_id = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField(_("发生时间"))

    class Meta:
        verbose_name = _("推送事件")
        verbose_name_plural = _("推送事件")

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"


class WebhookDeliveryQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(subscription__in=WebhookSubscription.objects.visible_to(user))


class WebhookDelivery(models.Model):
    """One event to one subscription: its attempts and the receiver's last answer."""

    class State(models.TextChoices):
        PENDING = "pending", _("待发送")
        FAILED = "failed", _("失败，待重试")
        DELIVERED = "delivered", _("已送达")
        ABANDONED = "abandoned", _("已放弃")

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    # "<resource type>:<id>": deliveries of one resource to one subscription go out in id order.
    resource_key = models.CharField(max_length=90)
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试时间"))
    last_attempt_at = models.DateTimeField(_("最近尝试时间"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("最近响应状态码"), null=True, blank=True)
    last_response = models.CharField(_("最近响应内容（节选）"), max_length=500, blank=True)
    last_error = models.CharField(_("最近错误"), max_length=500, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("推送记录")
        verbose_name_plural = _("推送记录")
        constraints = [models.UniqueConstraint(fields=["subscription", "event"], name="webhook_delivery_once")]
        indexes = [
            # The sweep: due deliveries, oldest first.
            models.Index(fields=["next_attempt_at", "id"], name="webhook_delivery_due_idx",
                         condition=models.Q(state__in=["pending", "failed"])),
            # Order per resource: an earlier open delivery of the same resource holds a later one back.
            models.Index(fields=["subscription", "resource_key", "id"], name="webhook_delivery_order_idx",
                         condition=models.Q(state__in=["pending", "failed"])),
            # The delivery log of one subscription, newest first.
            models.Index(fields=["subscription", "-id"], name="webhook_delivery_log_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscription_id} ({self.state})"
from .oauth.models import PartnerClient  # noqa: E402,F401 - issue 14: the partner applications table
