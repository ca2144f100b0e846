"""JL-C11: each service type's report template, held as data; the built-in ones filled in.

The provincial regulator may change a template later (``consultations.services.reports``); this
migration sets the starting sections of the art. 3 services and leaves added ones alone.
"""

from django.db import migrations, models

OPINION = [
    {"key": "history", "label": "病史摘要"},
    {"key": "assessment", "label": "病情评估"},
    {"key": "plan", "label": "诊疗计划"},
]
TEMPLATES = {
    "consultation": {"sections": OPINION},
    "outpatient": {"sections": OPINION},
    "case_discussion": {"sections": OPINION},
    "pathology": {"sections": [
        {"key": "gross", "label": "大体所见"},
        {"key": "microscopic", "label": "镜下所见"},
        {"key": "diagnosis", "label": "病理诊断"},
    ]},
    "imaging": {
        "sections": [
            {"key": "technique", "label": "检查方法"},
            {"key": "findings", "label": "影像所见"},
            {"key": "impression", "label": "诊断意见"},
        ],
        "modalities": {
            "ecg": [
                {"key": "rhythm", "label": "心律"},
                {"key": "intervals", "label": "间期与电轴"},
                {"key": "conclusion", "label": "心电图诊断"},
            ],
        },
    },
    "laboratory": {"sections": [
        {"key": "specimen", "label": "标本情况"},
        {"key": "results", "label": "检验结果"},
        {"key": "interpretation", "label": "结果解读"},
    ]},
}


def fill(apps, schema_editor):
    ServiceType = apps.get_model("facilities", "ServiceType")
    for service_type in ServiceType.objects.filter(code__in=list(TEMPLATES)):
        if not service_type.report_template:
            service_type.report_template = TEMPLATES[service_type.code]
            service_type.save(update_fields=["report_template"])


class Migration(migrations.Migration):

    dependencies = [
        ('facilities', '0009_assistance_credit_data'),
    ]

    operations = [
        migrations.AddField(
            model_name='servicetype',
            name='report_template',
            field=models.JSONField(blank=True, default=dict, help_text='意见/报告的分栏（如影像：检查方法、影像所见、诊断意见）；可按影像类别另设（如心电图）。', verbose_name='报告模板'),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
