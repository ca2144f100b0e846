"""The case page's head, built by ``case_head`` in Python since issue 11: byte for byte what
``_case_head.html`` (kept in ``case_head_template.html``) made with ``_state_badge.html``, for every
viewer side, state, urgency and alert (seal JL-C8, suspension JL-F5, duty gap JL-F4), in both
languages, hostile text included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.template import engines
from django.template.loader import render_to_string
from django.utils import translation

from consultations.choices import ConsultationState
from consultations.models import Consultation
from facilities.models import Facility, ServiceType

HOSTILE = "<script>alert('x')</script> & \"引号\" \u202eRTL\u202c \x07"
AT = dt.datetime(2026, 12, 7, 16, 5, 9, tzinfo=dt.UTC)
TEMPLATE = (Path(__file__).parent / "case_head_template.html").read_text()


def _case(state, **overrides) -> Consultation:
    values = dict(pk=42, number=f"JL-{HOSTILE}", state=state, urgency="routine", modality="radiology",
                  return_reason=f"{HOSTILE}\n第二行", decline_reason=HOSTILE, cancel_reason="取消\r\n理由", duty_gap_flag=False)
    values.update(overrides)
    case = Consultation(**values)
    case.service_type = ServiceType(code="other", name=HOSTILE, built_in=False)
    case.inviting, case.invited = Facility(name=HOSTILE), Facility(name="吉林大学第一医院 & <b>")
    case.inviting_suspended = case.invited_suspended = False
    return case


CASES = [_case(state) for state in [*ConsultationState.values, "not-a-state<b>"]] + [
    _case("returned", return_reason=""),
    _case("sent", urgency="urgent", modality=""),
    _case("sent", urgency="emergency", duty_gap_flag=True),
    _case("sent", urgency="x<y>"),
]


def _suspended(case, inviting, invited):
    case.inviting_suspended, case.invited_suspended = inviting, invited
    return case


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("viewer_side", ["inviting", "invited", "", "other"])
@pytest.mark.parametrize("sealed", [False, True])
@pytest.mark.parametrize("suspended", [(False, False), (True, False), (False, True), (True, True)])
def test_the_head_is_what_its_template_made(language, viewer_side, sealed, suspended):
    seal = SimpleNamespace(sealed_at=AT, reason=HOSTILE) if sealed else None
    with translation.override(language):
        for case in CASES:
            context = {"c": _suspended(case, *suspended), "viewer_side": viewer_side, "seal": seal}
            expected = engines["django"].from_string(TEMPLATE).render(context)
            built = render_to_string("consultations/_case_head.html", context)
            assert built == expected, (case.state, case.urgency)


def test_hostile_text_in_the_head_is_escaped():
    html = render_to_string("consultations/_case_head.html", {
        "c": _suspended(_case("declined", urgency="emergency", duty_gap_flag=True), True, True), "viewer_side": "invited",
        "seal": SimpleNamespace(sealed_at=AT, reason=HOSTILE)})
    assert "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;引号&quot;" in html
    assert "2026-12-08 00:05" in html and "badge-danger" in html and "?side=invited" in html
