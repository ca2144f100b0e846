"""Enqueue a Celery task from a request (STYLE 5): after the commit, and a broker outage is an answer.

``enqueue_on_commit(task, on_failure=..., **kwargs)`` sends the task only once the caller's
transaction has committed (a worker never picks up a row that is not there yet, and a rolled-back
request sends nothing). When the broker cannot be reached, ``on_failure(error)`` runs first — it
marks the work as not sent, in its own transaction, so that it can be asked for again — and then
``BrokerUnavailable`` is raised: the page shows its Chinese message, the API answers 503 with the
stable code ``broker_unavailable``. The periodic sweeps stay the source of truth; this only keeps
a user's explicit request from vanishing silently or failing as a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

from .errors import ApplicationError

logger = logging.getLogger(__name__)

BROKER_UNAVAILABLE = "broker_unavailable"


class BrokerUnavailable(ApplicationError):
    def __init__(self, task_name: str):
        super().__init__(
            BROKER_UNAVAILABLE,
            _("后台任务队列暂时无法连接，本次操作已记录但未能开始，请稍后重试。"),
            {"task": task_name},
            status=503,
        )


def send_now(task, *, on_failure: Callable[[Exception], Any] | None = None, **kwargs) -> None:
    """Send ``task`` with ``kwargs``; on a broker outage run ``on_failure`` and raise ``BrokerUnavailable``."""
    try:
        task.apply_async(kwargs=kwargs)
    except (OperationalError, OSError) as error:
        logger.warning("broker unavailable, %s not sent: %s", task.name, error)
        if on_failure is not None:
            on_failure(error)
        raise BrokerUnavailable(task.name) from error


def enqueue_on_commit(task, *, on_failure: Callable[[Exception], Any] | None = None, **kwargs) -> None:
    """Send ``task`` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: send_now(task, on_failure=on_failure, **kwargs))
