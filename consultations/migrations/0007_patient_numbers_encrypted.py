"""JL-A2 (GB/T 22239-2019 8.1.4.8): identity and phone numbers encrypted at rest, searched by blind index.

The columns become text holding ``telemed.crypto`` ciphertext; the existing rows are encrypted in
batches under the current data key (``TELEMED_DATA_KEYS``), and their blind indexes filled. Reversible:
going back decrypts them in place.
"""

from django.db import migrations, models
from django.db.models import TextField, Value
from django.db.models.functions import Cast

import telemed.fields
from telemed import crypto

BATCH = 500
FIELDS = ("id_number", "phone")
AAD = {name: f"consultations_patient.{name}" for name in FIELDS}


def _raw_rows(Patient, after: int):
    raw = {f"{name}_raw": Cast(name, output_field=TextField()) for name in FIELDS}
    return list(
        Patient.objects.filter(pk__gt=after).order_by("pk").annotate(**raw).values_list("pk", *raw)[:BATCH]
    )


def _is_ciphertext(value: str) -> bool:
    return value.startswith(crypto.FORMAT_VERSION + ".") and value.count(".") == 3


def encrypt_existing(apps, schema_editor):
    Patient = apps.get_model("consultations", "Patient")
    after = 0
    while rows := _raw_rows(Patient, after):
        for pk, *values in rows:
            plain = dict(zip(FIELDS, values, strict=True))
            if any(_is_ciphertext(v) for v in plain.values() if v):
                continue
            Patient.objects.filter(pk=pk).update(
                **{name: Value(crypto.encrypt(value, aad=AAD[name]), output_field=TextField()) for name, value in plain.items()},
                **{f"{name}_index": crypto.blind_index(value, purpose=name) for name, value in plain.items()},
            )
        after = rows[-1][0]


def decrypt_existing(apps, schema_editor):
    Patient = apps.get_model("consultations", "Patient")
    after = 0
    while rows := _raw_rows(Patient, after):
        for pk, *values in rows:
            stored = dict(zip(FIELDS, values, strict=True))
            Patient.objects.filter(pk=pk).update(
                **{name: Value(crypto.decrypt(value, aad=AAD[name]) if _is_ciphertext(value) else value,
                               output_field=TextField()) for name, value in stored.items()},
            )
        after = rows[-1][0]


class Migration(migrations.Migration):

    dependencies = [
        ('consultations', '0006_patient_id_last4'),
        ('facilities', '0007_metric_facts'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='patient',
            name='patient_facility_id_idx',
        ),
        migrations.AddField(
            model_name='patient',
            name='id_number_index',
            field=telemed.fields.BlindIndexField(source='id_number', verbose_name='身份证件号码检索码'),
        ),
        migrations.AddField(
            model_name='patient',
            name='phone_index',
            field=telemed.fields.BlindIndexField(source='phone', verbose_name='联系电话检索码'),
        ),
        migrations.AlterField(
            model_name='patient',
            name='id_number',
            field=telemed.fields.EncryptedTextField(blank=True, plain_max_length=30, verbose_name='身份证件号码'),
        ),
        migrations.AlterField(
            model_name='patient',
            name='phone',
            field=telemed.fields.EncryptedTextField(blank=True, plain_max_length=20, verbose_name='联系电话'),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing, elidable=False),
        migrations.AddIndex(
            model_name='patient',
            index=models.Index(fields=['facility', 'id_number_index'], name='patient_facility_idbi_idx'),
        ),
        migrations.AddIndex(
            model_name='patient',
            index=models.Index(fields=['facility', 'phone_index'], name='patient_facility_phonebi_idx'),
        ),
    ]
