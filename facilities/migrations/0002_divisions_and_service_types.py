"""Load GB/T 2260 divisions (Jilin in full, other provinces at province level) and the art. 3 services."""

import csv
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "divisions.csv"

# JL-C1 (art. 3). ``needs_modality``: imaging diagnosis names 影像/超声/核医学/心电图/肌电图/脑电图.
SERVICE_TYPES = [
    ("consultation", "远程会诊", "opinion", False, 10),
    ("outpatient", "远程门诊", "opinion", False, 20),
    ("case_discussion", "远程病例讨论", "opinion", False, 30),
    ("pathology", "远程病理诊断", "diagnosis", False, 40),
    ("imaging", "远程医学影像诊断", "diagnosis", True, 50),
    ("laboratory", "远程检验诊断", "diagnosis", False, 60),
]


def load(apps, schema_editor):
    Division = apps.get_model("facilities", "Division")
    ServiceType = apps.get_model("facilities", "ServiceType")
    with DATA.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # Parents first: provinces, then cities, then counties.
    order = {"province": 0, "city": 1, "county": 2}
    for row in sorted(rows, key=lambda r: (order[r["level"]], r["code"])):
        Division.objects.update_or_create(
            code=row["code"],
            defaults={"name": row["name"], "level": row["level"], "parent_id": row["parent_code"] or None},
        )
    for code, name, category, needs_modality, sort_order in SERVICE_TYPES:
        ServiceType.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "category": category,
                "needs_modality": needs_modality,
                "built_in": True,
                "sort_order": sort_order,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("facilities", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
