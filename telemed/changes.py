"""Issue 14: every change to a synchronised row moves its ``updated_at`` — one helper, no exceptions.

A partner syncs consultations and obligations with ``?updated_since=`` (``telemed.pagination``); a
row changed without its ``updated_at`` moving would never reach the partner. So the stamp is not
left to each service: the two ways Django writes a row both set it here.

- ``ChangeStampedQuerySet.update(...)`` (the services' compare-and-swap moves) adds
  ``updated_at=now`` unless the caller set it;
- ``ChangeStampedModel.save(...)`` sets it and adds it to ``update_fields`` when those are given.

This is bookkeeping, not a rule: no business logic runs here (STYLE 2 still holds). ``bulk_update``
and raw SQL are not stamped — no writer uses them (tests/consultations/test_api_sync.py greps).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def stamp_change(fields: dict) -> dict:
    """The ``update()`` keyword arguments with ``updated_at`` set to now (unless already given)."""
    return {"updated_at": timezone.now(), **fields}


class ChangeStampedQuerySet(models.QuerySet):
    def update(self, **kwargs):
        return super().update(**stamp_change(kwargs))


class ChangeStampedModel(models.Model):
    updated_at = models.DateTimeField(_("最后变更时间"), default=timezone.now, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.updated_at = timezone.now()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "updated_at"}
        super().save(*args, **kwargs)
