"""STYLE: a template tag never writes, not even an audit event; reads are logged by the views (JL-C8)."""

import ast
from pathlib import Path

import pytest

from audit.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
WRITERS = {"audit_event_append", "record_access", "record_list_access", "audit_refusal"}


def test_jl_c8_no_template_tag_writes_an_audit_event():
    offenders = []
    for path in ROOT.glob("*/templatetags/*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            called = node.func.attr if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in [*names, called] if n in WRITERS]
    assert offenders == []


@pytest.mark.django_db
def test_jl_c8_rendering_the_home_panel_writes_nothing(world, rf):
    """JL-C8: the panel's template renders what the view logged; rendering it again writes nothing."""
    from django.template.loader import render_to_string

    from consultations.selectors import home_work_summary

    world.sent()
    request = rf.get("/")
    request.user, request.session = world.clinician, {}
    before = AuditEvent.objects.count()
    render_to_string("home.html", {"work": home_work_summary(user=world.clinician)}, request=request)
    assert AuditEvent.objects.count() == before
