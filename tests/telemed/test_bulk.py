"""Issue 11: ``telemed.bulk.insert_rows`` writes what ``bulk_create`` would (on SQLite and on
PostgreSQL, whose path sends one array literal per column), in row order, skipping conflicts when
asked, and refuses a column list that leaves a field without a value."""

import pytest
from django.utils import timezone

from consultations.models import Notification
from telemed.bulk import insert_rows, instances

pytestmark = pytest.mark.django_db

COLUMNS = ("user_id", "created_at", "kind", "message_key", "params", "subject", "body", "link", "read_at", "dedupe_key")


def test_insert_rows_round_trips_awkward_values_in_order(world):
    now = timezone.now()
    awkward = ['引号"与\\反斜杠', "NULL", "", "逗号,{花括号}", "换行\n制表\t"]
    rows = [(world.clinician.pk, now, "deadline", "obligation.violated", {"name": text, "n": [1, None]}, text, text, "/x/", None, f"k{i}")
            for i, text in enumerate(awkward)]
    ids = [pk for pk, in insert_rows(Notification, COLUMNS, rows)]
    assert ids == sorted(ids)
    stored = {n.pk: n for n in Notification.objects.filter(pk__in=ids)}
    for pk, text in zip(ids, awkward, strict=True):
        n = stored[pk]
        assert (n.subject, n.body, n.params, n.read_at, n.created_at) == (text, text, {"name": text, "n": [1, None]}, None, now)


def test_insert_rows_skips_conflicting_rows_and_returns_the_others(world):
    now = timezone.now()
    row = (world.clinician.pk, now, "deadline", "obligation.violated", {}, "", "", "", None, "once")
    assert len(insert_rows(Notification, COLUMNS, [row], skip_conflicts=True)) == 1
    other = (*row[:-1], "twice")
    written = insert_rows(Notification, COLUMNS, [row, other, other], returning=("id", "dedupe_key"), skip_conflicts=True)
    assert [key for _, key in written] == ["twice"]
    assert Notification.objects.filter(dedupe_key__in=["once", "twice"]).count() == 2


def test_insert_rows_and_instances_refuse_a_field_left_out(world):
    with pytest.raises(ValueError, match="dedupe_key"):
        insert_rows(Notification, COLUMNS[:-1], [])
    with pytest.raises(ValueError, match="dedupe_key"):
        instances(Notification, [{"id": 1, **dict.fromkeys(COLUMNS[:-1])}])
