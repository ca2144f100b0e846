"""The case page's responsibility records (JL-C7) and ratings (JL-O5), built by ``responsibility_rows``
and ``rating_rows`` in Python since issue 11: the section must be, byte for byte, what its template
loops made (kept in ``case_responsibility_template.html``), in both languages, hostile text included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.template import engines
from django.template.loader import render_to_string
from django.utils import translation

from consultations.models import Rating, ResponsibilityRecord
from facilities.models import Facility

HOSTILE = "<script>alert('x')</script> & \"引号\" \u202eRTL\u202c \x07"
AT = dt.datetime(2026, 12, 7, 16, 5, 9, tzinfo=dt.UTC)
TEMPLATE = (Path(__file__).parent / "case_responsibility_template.html").read_text()
CASE = SimpleNamespace(pk=42)


def _records() -> list[ResponsibilityRecord]:
    ours, theirs = Facility(name=HOSTILE), Facility(name="吉林大学第一医院 & <b>")
    return [
        ResponsibilityRecord(recorded_at=AT, occasion="accepted", article="JL-C7 第二十八条", inviting_facility=ours,
                             invited_facility=theirs, inviting_answers_for=HOSTILE, invited_answers_for="会诊意见\n第二行"),
        ResponsibilityRecord(recorded_at=dt.datetime(2026, 1, 2, 3, 4, 5), occasion="signed", article=HOSTILE,
                             inviting_facility=theirs, invited_facility=ours, inviting_answers_for="",
                             invited_answers_for=HOSTILE),
        ResponsibilityRecord(recorded_at=AT, occasion="not-an-occasion<b>", article="", inviting_facility=ours,
                             invited_facility=ours, inviting_answers_for="x", invited_answers_for="y"),
    ]


def _ratings() -> list[Rating]:
    return [
        Rating(rater_kind="clinician", score=5, comment=HOSTILE, recorded_at=AT),
        Rating(rater_kind="patient", score=1, comment="", recorded_at=dt.datetime(2026, 1, 2, 3, 4, 5)),
        Rating(rater_kind="other<b>", score=3, comment="满意\n很好", recorded_at=AT),
    ]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize(
    "records, ratings",
    [(_records(), _ratings()), ([], []), (_records()[:1], []), ([], _ratings()[:1])],
    ids=["hostile", "empty", "records-only", "ratings-only"],
)
def test_the_responsibility_section_is_what_its_template_loops_made(language, records, ratings):
    context = {"c": CASE, "responsibilities": records, "ratings": ratings, "forms": {}}
    with translation.override(language):
        expected = engines["django"].from_string(TEMPLATE).render(context)
        built = render_to_string("consultations/_case_responsibility.html", context)
    assert built == expected


def test_hostile_text_in_the_responsibility_rows_is_escaped():
    html = render_to_string("consultations/_case_responsibility.html",
                            {"c": CASE, "responsibilities": _records(), "ratings": _ratings(), "forms": {}})
    assert "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;引号&quot;" in html
    assert "2026-12-08 00:05" in html and "2026-01-02 03:04" in html  # Shanghai time; a naive time as it is
    assert 'aria-label="5/5"' in html and "not-an-occasion&lt;b&gt;" in html
