"""SMS backends (issue 12): the portal sends text messages through one pluggable class.

``TELEMED_SMS_BACKEND`` names it by dotted path (default :class:`ConsoleSmsBackend`, which only
logs). A provider's backend subclasses :class:`BaseSmsBackend` and implements ``send_messages``:

* it receives a list of :class:`SmsMessage` (``to``: an 11-digit mainland mobile number, already
  validated; ``text``: the rendered notification, plain text) — one batch of the delivery task;
* it returns one :class:`SmsResult` per message, in the same order: ``ok`` and, when not ok, a
  short ``error`` (no secret, no phone number: it is stored on the delivery row and shown to
  operators); ``provider_id`` may carry the provider's message id;
* it may raise instead (the network is down): every message of the batch is then recorded as
  failed with the exception's text and retried with back-off — it never reaches the workflow.

The backend is built once per batch with the keyword arguments of ``TELEMED_SMS_OPTIONS`` (a JSON
object from the environment: account, signature, template id …). See docs/architecture.md
"Notifications".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

from .rules import mask_phone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsMessage:
    to: str
    text: str


@dataclass(frozen=True)
class SmsResult:
    ok: bool
    error: str = ""
    provider_id: str = ""


class BaseSmsBackend:
    """The interface a provider implements (see the module docstring)."""

    def __init__(self, **options):
        self.options = options

    def send_messages(self, messages: list[SmsMessage]) -> list[SmsResult]:  # pragma: no cover - interface
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """The default: writes each message to the log (the number masked, JL-C9) and reports it sent."""

    def send_messages(self, messages: list[SmsMessage]) -> list[SmsResult]:
        for message in messages:
            logger.info("SMS to %s: %s", mask_phone(message.to), message.text)
        return [SmsResult(ok=True) for _message in messages]


class LocmemSmsBackend(BaseSmsBackend):
    """For tests: keeps the messages in ``LocmemSmsBackend.outbox`` (like Django's locmem mail)."""

    outbox: list[SmsMessage] = []

    def send_messages(self, messages: list[SmsMessage]) -> list[SmsResult]:
        type(self).outbox.extend(messages)
        return [SmsResult(ok=True) for _message in messages]


def get_backend() -> BaseSmsBackend:
    return import_string(settings.TELEMED_SMS_BACKEND)(**settings.TELEMED_SMS_OPTIONS)
