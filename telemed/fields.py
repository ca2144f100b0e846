"""Model fields for sensitive numbers encrypted at rest (JL-A2; GB/T 22239-2019 8.1.4.8).

``EncryptedTextField`` reads and writes plain strings in Python — ``patient.id_number`` is the number —
while the column holds ``telemed.crypto`` ciphertext bound to its table and column. Ciphertext cannot
be compared, so the field refuses every lookup but ``isnull``: search goes through its
``BlindIndexField``, which ``pre_save`` fills from the source field (``Patient.objects.number_q``).
A ``QuerySet.update()`` of the source must set the index too (``rotate_data_key`` does).
"""

from __future__ import annotations

from django import forms
from django.db import models

from telemed import crypto


class EncryptedTextField(models.TextField):
    """Plain text in Python, authenticated ciphertext in the column (JL-A2)."""

    def __init__(self, *args, plain_max_length: int | None = None, **kwargs):
        self.plain_max_length = plain_max_length
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.plain_max_length is not None:
            kwargs["plain_max_length"] = self.plain_max_length
        return name, path, args, kwargs

    @property
    def associated_data(self) -> str:
        return f"{self.model._meta.db_table}.{self.column}"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        try:
            return crypto.decrypt(value, aad=self.associated_data)
        except crypto.UndecryptableError as error:
            # JL-A2: which column failed, and (privately) the value that did, so that the refusal
            # can name the record — telemed.undecryptable turns it into a clear answer, not a 500.
            error.field, error.stored = self, value
            raise

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return value
        return crypto.encrypt(value, aad=self.associated_data)

    def get_lookup(self, lookup_name):
        # Ciphertext never equals ciphertext: an equality filter would silently find nothing.
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def formfield(self, **kwargs):
        return super().formfield(**{"max_length": self.plain_max_length, "widget": forms.TextInput, **kwargs})


class BlindIndexField(models.CharField):
    """The keyed digest (HMAC) of ``source``'s normalised value, recomputed at every save."""

    def __init__(self, *args, source: str = "", **kwargs):
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        for key, default in (("max_length", 64), ("blank", True), ("editable", False)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = crypto.blind_index(getattr(model_instance, self.source) or "", purpose=self.source)
        setattr(model_instance, self.attname, value)
        return value
