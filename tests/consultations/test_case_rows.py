"""The case page's documents and participating physicians, built by ``document_rows`` and
``participant_rows`` in Python since issue 11: each section must be, byte for byte, what its template
loops made (kept here as they were), in both languages, hostile text included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.template import engines
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from consultations.models import Document, Participant
from facilities.models import Physician

HOSTILE = "<script>alert('x')</script> & \"引号\" \u202eRTL\u202c \x07"
AT = dt.datetime(2026, 12, 7, 16, 5, 9, tzinfo=dt.UTC)

DOCUMENTS_LOOPS = '{% load i18n consultations_ui %}{# Case page: the material (JL-C2, JL-C5) and its upload form. #}\n<section class="card" id="documents">\n  <h2>{% trans "病历资料（JL-C5）" %}</h2>\n  <div class="table-wrap">\n  <table class="table">\n    <thead><tr>\n      <th scope="col">{% trans "名称" %}</th><th scope="col">{% trans "类别" %}</th><th scope="col" class="num">{% trans "大小" %}</th>\n      <th scope="col">{% trans "SHA-256" %}</th><th scope="col">{% trans "检测到的类型" %}</th><th scope="col">{% trans "上传人" %}</th>\n      <th scope="col">{% trans "上传时间" %}</th><th scope="col">{% trans "状态" %}</th>\n    </tr></thead>\n    <tbody>\n      {% for d in documents %}\n        <tr>\n          <td><a href="{% url \'consultations:document-download\' c.pk d.pk %}">{{ d.title }}</a>{% if d.original_name != d.title %}<br><span class="muted small">{{ d.original_name }}</span>{% endif %}</td>\n          <td>{{ d.get_kind_display }}</td>\n          <td class="num nowrap">{{ d.size|filesizeformat }}</td>\n          <td><span class="mono small" title="{{ d.sha256 }}">{{ d.sha256|slice:":12" }}…</span></td>\n          <td>{{ d.content_type|detected_type }}</td>\n          <td>{{ d.uploaded_by.get_full_name|default:d.uploaded_by.get_username }}</td>\n          <td class="nowrap">{{ d.uploaded_at|date:"Y-m-d H:i" }}</td>\n          <td>{% if d.returned_at %}<span class="badge badge-warn">{% trans "已退回" %}</span><br><span class="small">{{ d.return_reason }}</span>{% else %}<span class="badge badge-ok">{% trans "有效" %}</span>{% endif %}</td>\n        </tr>\n      {% empty %}\n        <tr><td colspan="8" class="empty">{% trans "尚未上传资料。" %}</td></tr>\n      {% endfor %}\n    </tbody>\n  </table>\n  </div>\n  <p class="muted small">{% trans "资料仅能通过本页下载，每次下载均记入调阅记录（JL-C8）。邀请方对上传资料的质量负责（第二十九条）。" %}</p>\n  {% if forms.document %}\n    <div class="panel">\n      <h3>{% trans "上传资料" %}</h3>\n      {% url \'consultations:document-upload\' c.pk as document_url %}\n      {% include "consultations/_action_form.html" with form=forms.document action_url=document_url button=_("上传") multipart=True grid=True %}\n    </div>\n  {% endif %}\n</section>\n'

PEOPLE_LOOPS = '{% load i18n consultations_ui %}{# Case page: participating physicians and the JL-C3 consent with its versions. #}\n<div class="grid-2">\n  <section class="card" id="participants">\n    <h2>{% trans "参与医师" %}</h2>\n    <div class="table-wrap">\n    <table class="table">\n      <thead><tr><th scope="col">{% trans "所属方" %}</th><th scope="col">{% trans "医师" %}</th><th scope="col">{% trans "职称" %}</th><th scope="col">{% trans "加入时间" %}</th></tr></thead>\n      <tbody>\n        {% for p in inviting_participants %}<tr><td>{% trans "邀请方经治医师" %}</td><td>{{ p.physician.name }}</td><td>{{ p.physician.get_title_display }}</td><td class="nowrap">{{ p.added_at|date:"Y-m-d H:i" }}</td></tr>{% endfor %}\n        {% for p in invited_participants %}<tr><td>{% trans "受邀方会诊专家" %}</td><td>{{ p.physician.name }}</td><td>{{ p.physician.get_title_display }}</td><td class="nowrap">{{ p.added_at|date:"Y-m-d H:i" }}</td></tr>{% endfor %}\n        {% if not inviting_participants and not invited_participants %}<tr><td colspan="4" class="empty">{% trans "尚无参与医师。" %}</td></tr>{% endif %}\n      </tbody>\n    </table>\n    </div>\n  </section>\n  <section class="card" id="consent">\n    <h2>{% trans "知情同意（JL-C3）" %}</h2>\n    {% if consent %}\n      <dl class="facts">\n        <dt>{% trans "签署人" %}</dt><dd>{{ consent.signer_name }}（{{ consent.get_relation_display }}）</dd>\n        <dt>{% trans "签署时间" %}</dt><dd>{{ consent.signed_at|date:"Y-m-d H:i" }}</dd>\n        <dt>{% trans "签署件" %}</dt>\n        <dd>{% if consent.signed_copy %}<a href="{% url \'consultations:consent-download\' c.pk %}">{% trans "下载" %}</a> <span class="mono small" title="{{ consent.signed_copy_sha256 }}">SHA-256 {{ consent.signed_copy_sha256|slice:":12" }}…</span>{% else %}—{% endif %}</dd>\n        <dt>{% trans "电子签名凭证" %}</dt><dd>{{ consent.e_signature_reference|default:"—" }}</dd>\n        <dt>{% trans "敏感个人信息单独同意" %}</dt>\n        <dd>{% if consent.sensitive_info_consent %}<span class="badge badge-ok">{% trans "已同意" %}</span> <span class="muted small">{{ consent.sensitive_info_consented_at|date:"Y-m-d H:i" }}</span>{% else %}<span class="badge badge-danger">{% trans "未取得" %}</span>{% endif %}</dd>\n        <dt>{% trans "版本" %}</dt><dd>{% blocktrans with n=consent.version %}第 {{ n }} 版{% endblocktrans %}</dd>\n      </dl>\n      {% with versions=consent_versions %}{% if versions %}\n        <details class="consent-history">\n          <summary>{% blocktrans count n=versions|length %}已替代的 {{ n }} 个版本（保留备查）{% plural %}已替代的 {{ n }} 个版本（保留备查）{% endblocktrans %}</summary>\n          <div class="table-wrap"><table class="table">\n            <thead><tr><th scope="col">{% trans "版本" %}</th><th scope="col">{% trans "签署人" %}</th><th scope="col">{% trans "签署时间" %}</th><th scope="col">{% trans "签署件" %}</th><th scope="col">{% trans "敏感个人信息单独同意" %}</th><th scope="col">{% trans "记录人" %}</th><th scope="col">{% trans "被替代" %}</th></tr></thead>\n            <tbody>\n            {% for v in versions %}\n              <tr>\n                <td>{{ v.version }}</td>\n                <td>{{ v.signer_name }}（{{ v.get_relation_display }}）</td>\n                <td>{{ v.signed_at|date:"Y-m-d H:i" }}</td>\n                <td>{% if v.signed_copy_sha256 %}<span class="mono small" title="{{ v.signed_copy_sha256 }}">SHA-256 {{ v.signed_copy_sha256|slice:":12" }}…</span>{% else %}{{ v.e_signature_reference|default:"—" }}{% endif %}</td>\n                <td>{% if v.sensitive_info_consent %}{% trans "已同意" %}{% else %}{% trans "未取得" %}{% endif %}</td>\n                <td>{{ v.recorded_by.get_full_name|default:v.recorded_by.get_username }}{% if v.recorded_at %} <span class="muted small">{{ v.recorded_at|date:"Y-m-d H:i" }}</span>{% endif %}</td>\n                <td>{{ v.superseded_at|date:"Y-m-d H:i" }} · {{ v.superseded_by.get_full_name|default:v.superseded_by.get_username }}</td>\n              </tr>\n            {% endfor %}\n            </tbody>\n          </table></div>\n        </details>\n      {% endif %}{% endwith %}\n    {% else %}\n      <p class="muted">{% trans "尚未记录知情同意。" %}</p>\n    {% endif %}\n  </section>\n</div>\n'


def _user(first="", last="", username="u1"):
    return get_user_model()(first_name=first, last_name=last, username=username)


def _documents() -> list[Document]:
    return [
        Document(pk=1, kind="medical_record", title=HOSTILE, original_name=HOSTILE, sha256="a" * 64, size=123456,
                 content_type="application/pdf", uploaded_by=_user("若溪", "高"), uploaded_at=AT),
        Document(pk=22, kind="other", title="x.pdf", original_name="x.pdf", sha256=HOSTILE, size=0,
                 content_type=HOSTILE, uploaded_by=_user(username=HOSTILE), uploaded_at=dt.datetime(2026, 1, 2, 3, 4, 5),
                 returned_at=AT, return_reason=HOSTILE),
        Document(pk=333, kind="not-a-kind<b>", title="", original_name="y", sha256="", size=10**12,
                 content_type="image/jpeg", uploaded_by=_user(HOSTILE, HOSTILE), uploaded_at=None, returned_at=None),
    ]


def _participants() -> list[Participant]:
    return [
        Participant(physician=Physician(name=HOSTILE, title=1), added_at=AT),
        Participant(physician=Physician(name="王医生", title=99), added_at=None),
        Participant(physician=Physician(name="李&医生", title=2), added_at=dt.datetime(2026, 1, 2, 3, 4, 5)),
    ]


CASE = SimpleNamespace(pk=42)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("documents", [_documents(), _documents()[:1], []], ids=["hostile", "one", "empty"])
def test_the_documents_section_is_what_its_template_loops_made(language, documents):
    context = {"c": CASE, "documents": documents, "forms": {}}
    with translation.override(language):
        expected = engines["django"].from_string(DOCUMENTS_LOOPS).render(context)
        built = render_to_string("consultations/_case_documents.html", context)
    assert built == expected


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize(
    "inviting, invited",
    [(_participants(), _participants()[1:]), ([], []), (_participants()[:1], []), ([], _participants())],
    ids=["hostile", "empty", "inviting-only", "invited-only"],
)
def test_the_people_section_is_what_its_template_loops_made(language, inviting, invited):
    context = {"c": CASE, "inviting_participants": inviting, "invited_participants": invited, "consent": None}
    with translation.override(language):
        expected = engines["django"].from_string(PEOPLE_LOOPS).render(context)
        built = render_to_string("consultations/_case_people.html", context)
    assert built == expected


def test_hostile_text_in_the_rows_is_escaped():
    page = render_to_string("consultations/_case_documents.html", {"c": CASE, "documents": _documents(), "forms": {}})
    people = render_to_string("consultations/_case_people.html", {"c": CASE, "inviting_participants": _participants(),
                                                                    "invited_participants": [], "consent": None})
    for html in (page, people):
        assert "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;引号&quot;" in html
    assert "2026-12-08 00:05" in page and "2026-01-02 03:04" in page  # Shanghai time; a naive time as it is
    assert f'href="{reverse("consultations:document-download", args=[42, 22])}"' in page


SUMMARY_TEMPLATE = (Path(__file__).parent / "case_summary_template.html").read_text()


def _case(**overrides):
    from consultations.models import Admission, Consultation, Patient
    from facilities.models import ServiceType

    patient = Patient(name=HOSTILE, sex="1", birth_date=dt.date(1960, 5, 1), id_number="220102196005011234",
                      phone="13812341234", medical_record_number=HOSTILE)
    values = dict(
        pk=42, patient=patient, service_type=ServiceType(code="other", name=HOSTILE, category="x<y"),
        modality="radiology", wanted_scope="internal", wanted_title=3, requested_time=AT, reason=f"{HOSTILE}\nline 2",
        purpose="明确诊断\r\n\r\n第二段", case_summary=f"{HOSTILE}\n\n第二段\n第三行", created_at=AT, sent_at=AT,
        accepted_at=dt.datetime(2026, 1, 2, 3, 4, 5), scheduled_for=None, session_started_at=None, signed_at=AT, closed_at=None,
        agreement_id=7, admission=Admission(inpatient_number=HOSTILE, ward="三病区", admitted_at=AT, diagnosis=HOSTILE,
                                            diagnosis_confirmed_at=AT),
    )
    values.update(overrides)
    case = Consultation(**{k: v for k, v in values.items() if k not in ("patient", "service_type", "admission")})
    case.patient, case.service_type = values["patient"], values["service_type"]
    if values["admission"] is not None:
        case.admission = values["admission"]
    case.agreement_number = HOSTILE
    return case


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize(
    "case, revealed, may_reveal, csrf_token",
    [
        (_case(), None, True, "tok<en>"),
        (_case(), {"id_number": HOSTILE, "phone": ""}, True, "tok"),
        (_case(admission=None, agreement_id=None, modality="", requested_time=None), None, False, None),
        (_case(), None, True, "NOTPROVIDED"),
        (_case(), None, True, None),
    ],
    ids=["masked", "revealed", "draft-like", "no-csrf", "csrf-missing"],
)
def test_the_summary_is_what_its_template_made(language, case, revealed, may_reveal, csrf_token):
    context = {"c": case, "revealed": revealed, "may_reveal": may_reveal}
    if csrf_token is not None:
        context["csrf_token"] = csrf_token
    with translation.override(language):
        expected = engines["django"].from_string(SUMMARY_TEMPLATE).render(context)
        built = render_to_string("consultations/_case_summary.html", context)
    assert built == expected
    assert "<script>" not in built and "&lt;script&gt;" in built
    assert ("三病区" in built) is (case.admission is not None)
    reveal_form = may_reveal and not revealed
    assert ('class="form reveal-form"' in built) is reveal_form
    assert ('name="csrfmiddlewaretoken"' in built) is (reveal_form and csrf_token not in (None, "NOTPROVIDED"))


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_choice_labels_are_the_models_own(language):
    """``_display`` is ``get_<field>_display()`` with the choices' dict built once (issue 11)."""
    from consultations.models import Consultation, Patient
    from consultations.templatetags.consultations_ui import _display
    from facilities.models import ServiceType

    fields = [(Consultation, "wanted_scope"), (Consultation, "wanted_title"), (Consultation, "modality"),
              (Patient, "sex"), (Document, "kind"), (Physician, "title"), (ServiceType, "category")]
    with translation.override(language):
        for model, name in fields:
            values = [value for value, _ in model._meta.get_field(name).flatchoices] + ["unknown<b>", 999, "", None]
            for value in values:
                obj = model(**{name: value})
                assert _display(obj, name) == getattr(obj, f"get_{name}_display")(), (model, name, value)


def _consents() -> list:
    from consultations.models import Consent

    return [
        Consent(signer_name=HOSTILE, relation="self", signed_at=AT, signed_copy="consent/2026/12/x.pdf",
                signed_copy_sha256=HOSTILE * 2, e_signature_reference=HOSTILE, sensitive_info_consent=True,
                sensitive_info_consented_at=AT, version=1),
        Consent(signer_name="李四", relation="not-a-relation<b>", signed_at=dt.datetime(2026, 1, 2, 3, 4, 5), signed_copy="",
                signed_copy_sha256="", e_signature_reference="", sensitive_info_consent=False, version=3),
        Consent(signer_name="", relation="spouse", signed_at=AT, signed_copy="a.pdf", signed_copy_sha256="",
                sensitive_info_consent=True, sensitive_info_consented_at=None, version=12),
    ]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("consent", _consents(), ids=["hostile", "plain", "odd"])
@pytest.mark.parametrize("kept", [0, 2])
def test_the_consent_is_what_its_template_made(language, consent, kept):
    """``consent_facts`` (issue 11): the current JL-C3 consent as the template's ``<dl>`` showed it."""
    from consultations.models import ConsentVersion

    versions = [ConsentVersion(version=n, signer_name=HOSTILE, relation="self", signed_at=AT, signed_copy_sha256="ab",
                               recorded_by=_user("若溪", "高"), superseded_by=_user(username="u2"), superseded_at=AT)
                for n in range(kept)]
    context = {"c": CASE, "inviting_participants": [], "invited_participants": [], "consent": consent, "consent_versions": versions}
    with translation.override(language):
        expected = engines["django"].from_string(PEOPLE_LOOPS).render(context)
        built = render_to_string("consultations/_case_people.html", context)
    assert built == expected
    if consent.signer_name == HOSTILE:
        assert "<script>" not in built and "&lt;script&gt;" in built
        assert reverse("consultations:consent-download", args=[42]) in built and "2026-12-08 00:05" in built
