"""Indexes for reading the log by case and by patient (case timelines, FHIR ``patient=`` search).

PostgreSQL only: expression indexes on two keys of the JSON details. SQLite (development) scans.
"""

from django.db import migrations

CREATE = """
CREATE INDEX IF NOT EXISTS audit_event_consultation_idx ON audit_auditevent ((details->>'consultation'));
CREATE INDEX IF NOT EXISTS audit_event_patient_idx ON audit_auditevent ((details->>'patient_id'));
"""
DROP = """
DROP INDEX IF EXISTS audit_event_consultation_idx;
DROP INDEX IF EXISTS audit_event_patient_idx;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_seals_and_verification_runs")]
    operations = [migrations.RunPython(forwards, backwards)]
