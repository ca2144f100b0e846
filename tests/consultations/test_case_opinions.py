"""The case page's opinion or report, each version built by ``opinion_articles`` in Python since issue 11:
the section must be, byte for byte, what the loop of ``_case_opinion.html`` made with
``_opinion_body.html`` included for each version (both kept in ``case_opinion_template.html``), in both
languages, hostile text and odd JSON (JL-C11) included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.template import engines
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from consultations.models import Opinion
from facilities.models import Physician

HOSTILE = "<script>alert('x')</script> & \"引号\" \u202eRTL\u202c \x07"
AT = dt.datetime(2026, 12, 7, 16, 5, 9, tzinfo=dt.UTC)
TEMPLATE = (Path(__file__).parent / "case_opinion_template.html").read_text()

STRUCTURES = {
    "free-text": {},
    "structured": {
        "sections": [{"label": HOSTILE, "text": f"{HOSTILE}\n\n第二段\n第三行"}, {"label": "空", "text": ""},
                     {"label": "无文字"}, {"text": "无标题"}, {"label": 12345, "text": 3.5}],
        "diagnoses": [{"text": HOSTILE, "code": "I21.9"}, {"text": "肺炎", "code": HOSTILE}, {"code": "J18"}, {}],
        "recommendations": f"{HOSTILE}\r\n复查",
    },
    "no-recommendations": {"sections": [], "diagnoses": [{"text": "肺炎", "code": None}], "recommendations": ""},
    "odd-json": {"sections": "ab", "diagnoses": None, "recommendations": 0, "other": 1},
    "list": ["not", "a", "dict"],
    "sections-dict": {"sections": {"text": "x"}, "diagnoses": [["text"], "code", 7]},
}


def _opinion(pk, version, structure, **extra) -> Opinion:
    values = dict(pk=pk, consultation_id=42, kind="opinion", version=version, content=f"{HOSTILE}\n意见第二行\n\n第二段",
                  signed_by=Physician(name=HOSTILE, title=3), signed_at=AT, content_sha256="ab<" * 22,
                  structure=structure)
    values.update(extra)
    return Opinion(**values)


def _versions(structure) -> list[Opinion]:
    first = _opinion(1, 1, structure, recommends_transfer=True, transfer_reason=HOSTILE)
    second = _opinion(2, 2, structure, kind="report", supersedes_id=1, correction_reason=HOSTILE,
                      signed_by=Physician(name="王医生", title=99), signed_at=dt.datetime(2026, 1, 2, 3, 4, 5))
    second.supersedes_version = 1
    third = _opinion(3, 3, structure, kind="x<y>", supersedes_id=2, correction_reason="", content="", content_sha256="")
    third.supersedes_version = None
    return [first, second, third]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("structure", list(STRUCTURES.values()), ids=list(STRUCTURES))
@pytest.mark.parametrize("shown", ["all", "one", "none"])
def test_the_opinion_section_is_what_its_template_loop_made(language, structure, shown):
    opinions = {"all": _versions(structure), "one": _versions(structure)[:1], "none": []}[shown]
    context = {"c": None, "consultation": None, "opinions": opinions, "latest_opinion": opinions[-1] if opinions else None,
               "forms": {}}
    with translation.override(language):
        expected = engines["django"].from_string(TEMPLATE).render(context)
        built = render_to_string("consultations/_case_opinion.html", context)
    assert built == expected


def test_hostile_text_in_the_opinions_is_escaped():
    opinions = _versions(STRUCTURES["structured"])
    html = render_to_string("consultations/_case_opinion.html",
                            {"opinions": opinions, "latest_opinion": opinions[-1], "forms": {}})
    assert "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;引号&quot;" in html
    assert "2026-12-08 00:05:09" in html and "2026-01-02 03:04:05" in html  # Shanghai time; a naive time as it is
    assert html.count("opinion-superseded") == 2 and f'href="{reverse("consultations:opinion-print", args=[42, 3])}"' in html
