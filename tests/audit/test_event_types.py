"""One typed catalogue of audit event types (JL-A1; STYLE "a typed event catalogue")."""

import ast
from pathlib import Path

import pytest

from audit.choices import EventType
from audit.models import AuditEvent
from audit.services import audit_event_append

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", "tests", "migrations", "node_modules", ".git"}


def _sources():
    for path in ROOT.rglob("*.py"):
        if not SKIP.intersection(path.relative_to(ROOT).parts):
            yield path


def _loose(node) -> bool:
    """A string literal or f-string where an event type belongs."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.IfExp):
        return _loose(node.body) or _loose(node.orelse)
    return False


def test_jl_a1_no_loose_event_type_literal_outside_tests():
    """Every ``event_type=`` in the code base names an ``EventType`` member, never a string."""
    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.keyword) and node.arg in ("event_type", "event", "event_type__in") and _loose(node.value):
                offenders.append(f"{path.relative_to(ROOT)}:{node.value.lineno}")
            # consultations' ``_audit(actor, consultation, event_type, …)`` takes it positionally
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_audit" and len(node.args) > 2 and _loose(node.args[2]):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_jl_a1_every_event_type_has_one_chinese_label():
    assert len(set(EventType.values)) == len(EventType)
    for member in EventType:
        label = str(member.label)
        assert label and label != member.value and any("\u4e00" <= ch <= "\u9fff" for ch in label), member


@pytest.mark.django_db
def test_jl_a1_an_event_type_outside_the_catalogue_is_refused():
    with pytest.raises(ValueError, match="EventType"):
        audit_event_append(actor=None, event_type="consultation.teleport")
    assert not AuditEvent.objects.exists()
    event = audit_event_append(actor=None, event_type=EventType.RECORD_SEAL)
    assert AuditEvent.objects.get(pk=event.pk).event_type == "record.seal"  # the stored value is unchanged
