"""Issue 12, English mode complete: the main pages of every role, rendered in English, show no
Chinese character outside data.

What counts as data: every text a user or the seeded world stored (names of facilities, divisions,
people and patients, free text of cases, document titles, audit details, notification and violation
texts, which another change renders at display time) is read back from the database and removed
from the page before the check — except the names of the built-in art. 3 services
(``ServiceType``), which are the portal's own vocabulary and must be translated. The language
switcher's "简体中文" (a language named in itself) is allowed. Scripts and styles are ignored; the
visible text and the ``title``, ``aria-label``, ``placeholder`` and ``alt`` attributes are checked.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from billing import rules as billing_rules
from billing import services as billing_services
from billing.models import Statement
from consultations import services
from consultations.choices import TriggerKind
from tests.billing import complete, priced, register_account
from tests.consultations.test_pages import in_session
from tests.factories import regulator

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")  # Chinese characters (ideographs)
ALLOWED = ("简体中文",)
CHECKED_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
NOT_DATA = {"facilities.servicetype"}  # the portal's own vocabulary: translated, never stripped


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in CHECKED_ATTRIBUTES and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def stored_data() -> list[str]:
    """Every stored text with a Chinese character (longest first), but the built-in vocabulary."""
    found: set[str] = set()
    for model in apps.get_models():
        if model._meta.label_lower in NOT_DATA or model._meta.proxy:
            continue
        fields = [f.name for f in model._meta.concrete_fields
                  if isinstance(f, models.CharField | models.TextField | models.JSONField) and not f.choices]
        if not fields:
            continue
        for row in model._default_manager.values_list(*fields):
            for value in row:
                for text in _strings(value):
                    if CJK.search(text):
                        found.add(text)
                        found.update(line.strip() for line in text.splitlines() if line.strip())
    return sorted(found, key=len, reverse=True)


def chinese_outside_data(html: str, data: list[str]) -> list[str]:
    parser = _Text()
    parser.feed(html)
    text = "\n".join(parser.parts)
    for value in data:
        text = text.replace(value, " ")
    for allowed in ALLOWED:
        text = text.replace(allowed, " ")
    found = []
    for match in CJK.finditer(text):
        start, end = max(match.start() - 30, 0), match.end() + 30
        found.append(re.sub(r"\s+", " ", text[start:end]).strip())
    return found


@pytest.fixture
def english_world(world):
    """The test world with work in every corner: cases in several states, a JL-C2 obligation, a
    closed and charged case, last month's statement and payout report, regulators."""
    billing = priced(world)
    patient = world.patient(name="赵六")
    services.obligation_open(actor=world.clinician, patient=patient, trigger=TriggerKind.PATIENT_REQUEST,
                             event_at=timezone.now() - dt.timedelta(hours=3), details={"requested_by": "家属"})
    draft = world.draft(patient=patient)
    sent = world.sent()
    session = in_session(world)
    charge = complete(world)
    register_account(billing)
    month = billing_rules.month_of(timezone.now())
    with time_machine.travel(billing_rules.period_bounds(month)[1] + dt.timedelta(hours=3), tick=False):
        billing_services.statements_draft(period_start=month)
    statement = Statement.objects.get(invited=world.invited)
    province = regulator("220000", username="province")
    return {
        "world": world, "billing": billing, "draft": draft, "sent": sent, "session": session, "charge": charge,
        "statement": statement, "province": province, "month": month,
    }


def pages_of(ew) -> list[tuple[object, str]]:
    w = ew["world"]
    b = ew["billing"]
    case = ew["session"].pk
    facility = w.invited.pk
    pages = [
        (w.clinician, "/"),
        (w.clinician, reverse("consultations:list") + "?side=inviting"),
        (w.clinician, reverse("consultations:detail", args=[ew["draft"].pk])),
        (w.clinician, reverse("consultations:detail", args=[case])),
        (w.clinician, reverse("consultations:obligation-list")),
        (w.clinician, reverse("consultations:referral-list")),
        (w.invited_coordinator, "/"),
        (w.invited_coordinator, reverse("consultations:list") + "?side=invited"),
        (w.invited_coordinator, reverse("consultations:detail", args=[ew["sent"].pk])),
        (w.expert, reverse("consultations:assigned")),
        (w.expert, reverse("consultations:detail", args=[case])),
        (w.expert, reverse("billing:my-payouts")),
        (b.invited_finance, "/"),
        (b.invited_finance, reverse("billing:statement-list")),
        (b.invited_finance, reverse("billing:statement-detail", args=[ew["statement"].pk])),
        (b.invited_finance, reverse("billing:charge-list")),
        (b.invited_finance, reverse("billing:payout-list")),
        (b.invited_finance, reverse("billing:price-list")),
        (b.invited_finance, reverse("billing:account-list")),
        (b.invited_finance, reverse("billing:allocation-list")),
        (ew["province"], "/"),
        (ew["province"], reverse("facilities:metrics")),
        (ew["province"], reverse("facilities:facility-list")),
        (ew["province"], reverse("facilities:facility-detail", args=[facility])),
        (ew["province"], reverse("facilities:agreement-list")),
        (ew["province"], reverse("facilities:physician-list")),
        (ew["province"], reverse("facilities:service-type-list")),
        (ew["province"], reverse("facilities:suspension-list")),
        (ew["province"], reverse("consultations:violation-list")),
        (ew["province"], reverse("audit:responsibility-list")),
        (ew["province"], reverse("audit:seal-list")),
        (ew["province"], reverse("audit:chain")),
        (ew["province"], reverse("billing:standard-list")),
        (ew["province"], reverse("billing:regulator-totals")),
    ]
    return pages


def test_english_mode_shows_no_chinese_outside_data_on_the_main_pages_of_every_role(client, english_world):
    """Issue 12: every main page of every role, in English, has no Chinese character but data."""
    problems = {}
    for user, path in pages_of(english_world):
        client.force_login(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        response = client.get(path, follow=True)
        if response.status_code != 200 or response["Content-Language"] != "en":
            problems[f"{user.username} {path}"] = [f"status {response.status_code}, language {response.get('Content-Language')}"]
            continue
        found = chinese_outside_data(response.content.decode(), stored_data())
        if found:
            problems[f"{user.username} {path}"] = found
    assert not problems, "\n".join(f"{page}:\n  " + "\n  ".join(dict.fromkeys(found)) for page, found in problems.items())


def test_the_check_itself_finds_chinese_and_skips_data():
    """The checker must be able to fail: an untranslated label is found, stored data is not."""
    html = '<p>Patient <span title="患者">张三</span></p><script>var x = "脚本";</script><a aria-label="返回">x</a>'
    found = chinese_outside_data(html, ["张三"])
    assert len(found) == 2 and "患者" in found[0] and "返回" in found[1]
    assert not any("张三" in f or "脚本" in f for f in found)
    unstripped = chinese_outside_data(html, [])
    assert len(unstripped) == 3 and "张三" in unstripped[1]


def test_built_in_service_names_are_translated_but_a_regulators_own_name_is_data():
    from django.utils import translation

    from facilities.models import ServiceType

    imaging = ServiceType.objects.get(code="imaging")
    with translation.override("en"):
        assert imaging.label == "Remote medical imaging diagnosis" and str(imaging) == imaging.label
        assert ServiceType.objects.get(code="consultation").label == "Remote consultation"  # a service, not the menu
    with translation.override("zh-hans"):
        assert imaging.label == "远程医学影像诊断"
    renamed = ServiceType(code="imaging", name="远程影像（本省试点）", built_in=True)
    with translation.override("en"):
        assert renamed.label == "远程影像（本省试点）"



def test_rule_texts_follow_the_reader_but_the_audit_log_keeps_them_in_chinese():
    """Issue 12: a rule check reads in English for an English reader; what is stored stays Chinese."""
    from django.utils import translation

    from consultations import rules as case_rules

    with translation.override("en"):
        check = case_rules.material_check([])
        assert check.text.startswith("JL-C2 Art. 22: ") and not CJK.search(check.text.replace("、", ""))
        stored = check.as_dict()
    assert stored["label"] == "须上传患者病情、病历资料和检验检查报告" and stored["article"] == "第二十二条"
    assert stored["text"].startswith("JL-C2 第二十二条: 须上传") and "params" not in stored
