"""Issue 11: the case page reads its rows with statements compiled once (``consultations.case_statements``).

Each statement must be the ORM's (``rows_queryset``: the same text and parameters), read the same rows
in the same order with the same values — the row's own fields and those of its ``select_related``
object — and leave them on the case as ``prefetch_related`` does: ``.all()`` asks nothing, a further
``.filter()`` stays within the case, and each row holds the case. Hostile text goes through unchanged.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from consultations import selectors, services
from consultations.case_statements import (
    _NOTHING,
    _ORM,
    ROWS,
    _case_statement,
    _compiled,
    _events_statement,
    _plain_scope,
    bound_scope,
    compile_scope,
    read_case,
    read_rows,
    read_visible_case,
    rows_queryset,
    scope_key,
)
from consultations.choices import RaterKind, Side
from consultations.models import Consultation
from consultations.selectors import case_page_shape
from facilities.choices import StaffRole
from tests.consultations.test_pages import in_session
from tests.factories import FacilityFactory, regulator, staff

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> & \"q\" \u202eRTL\u202c \x07"


def snapshot(obj) -> dict:
    values = {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}
    for name, related in obj._state.fields_cache.items():
        if name != "consultation" and related is not None:
            values[name] = {field.attname: getattr(related, field.attname) for field in related._meta.concrete_fields}
    return values


@pytest.fixture
def case(world):
    consultation = in_session(world, case_summary=HOSTILE)
    services.opinion_sign(actor=world.expert, consultation=consultation, content=HOSTILE)
    consultation = services.consultation_close(actor=world.clinician, consultation=consultation)
    services.rating_record(actor=world.clinician, consultation=consultation, rater_kind=RaterKind.CLINICIAN, score=4, comment=HOSTILE)
    return consultation


def test_statements_are_the_orms(case):
    for relation in ROWS:
        sql, params, id_at, *_ = _compiled(relation, "default", connection.vendor)
        bound = list(params)
        bound[id_at] = case.pk
        orm_sql, orm_params = rows_queryset(relation, case.pk).query.get_compiler(using="default").as_sql()
        assert (sql, tuple(bound)) == (orm_sql, tuple(orm_params)), relation


def test_rows_are_the_orms_and_kept_as_a_prefetch(case, django_assert_num_queries):
    consultation = Consultation.objects.get(pk=case.pk)
    with django_assert_num_queries(len(ROWS)):
        read_rows(consultation, tuple(ROWS))
    for relation in ROWS:
        expected = [snapshot(row) for row in rows_queryset(relation, case.pk)]
        assert expected, relation  # the closed case has rows of every kind
        with CaptureQueriesContext(connection) as asked:
            rows = list(getattr(consultation, relation).all())
        assert not asked.captured_queries, relation
        assert [snapshot(row) for row in rows] == expected, relation
        assert all(row.consultation is consultation for row in rows), relation
    assert [o.content for o in consultation.opinions.all()] == [HOSTILE]
    assert [r.comment for r in consultation.ratings.all()] == [HOSTILE]
    # a further filter is still the case's own (a prefetch's queryset, not all rows)
    assert {p.consultation_id for p in consultation.participants.filter(side=Side.INVITED)} == {case.pk}


def case_snapshot(consultation) -> dict:
    values = snapshot(consultation)
    values.update({name: getattr(consultation, name) for name in consultation.__dict__
                   if name in ("inviting_suspended", "invited_suspended", "agreement_number", "has_referrals", "has_open_seal")})
    return values


def test_the_case_is_the_orms_for_whoever_asks(case, world, django_assert_num_queries):
    """JL-C6/JL-O2: the scope is ``visible_to``'s; out of it the case does not exist (404); a
    regulator's scope (a join on the facilities) takes the ORM."""
    province = regulator("220000", username="reg_province_cs")
    city = regulator("220100", username="reg_city_cs")  # a city's scope joins the facilities (their division)
    stranger = staff(FacilityFactory(name="白城市中心医院"), StaffRole.CLINICIAN, username="stranger_cs")
    compiled = []
    for user in (world.coordinator, world.invited_coordinator, world.expert, world.clinician, province, city):
        scoped = Consultation.objects.visible_to(user)
        expected = case_page_shape(scoped).get(pk=case.pk)
        if _plain_scope(scoped.filter(pk=case.pk).query):
            head, tail, head_params, *_ = _case_statement(case_page_shape, "default", connection.vendor)
            query = scoped.filter(pk=case.pk).query
            where, params = query.get_compiler(using="default").compile(query.where)
            orm_sql, orm_params = case_page_shape(scoped).filter(pk=case.pk).order_by().query.get_compiler(using="default").as_sql()
            assert (head + where + tail, (*head_params, *params)) == (orm_sql, tuple(orm_params)), user
            compiled.append(user)
        with django_assert_num_queries(1):
            found = read_case(case_page_shape, scoped, case.pk)
        assert case_snapshot(found) == case_snapshot(expected), user
        assert found.has_referrals is False and found.has_open_seal is False and found.agreement_number, user
        assert found.patient.name == "张三" and found.case_summary == HOSTILE
    assert compiled == [world.coordinator, world.invited_coordinator, world.expert, world.clinician, province]
    with pytest.raises(Consultation.DoesNotExist):
        read_case(case_page_shape, Consultation.objects.visible_to(stranger), case.pk)
    with pytest.raises(Consultation.DoesNotExist):
        read_case(case_page_shape, Consultation.objects.visible_to(world.coordinator), case.pk + 1000)



def test_the_case_page_lists_the_latest_accesses_with_their_total(case, world, client, monkeypatch):
    """Issue 11 (JL-C8): each view of the case writes an access, so the page lists the latest
    ``ACCESSES_SHOWN`` of them (newest of the chain) and counts them all; the timeline keeps every event."""
    from consultations import views

    monkeypatch.setattr(views, "ACCESSES_SHOWN", 2)
    client.force_login(world.coordinator)
    url = f"/consultations/{case.pk}/"
    for _ in range(3):
        assert client.get(url).status_code == 200
    response = client.get(url)
    accesses = response.context["accesses"]
    every = list(selectors.consultation_timeline(consultation=case).values_list("event_type", "sequence", "id"))
    chained = [(sequence, pk) for event_type, sequence, pk in every if event_type.startswith("record.")]
    assert response.context["access_total"] == len(chained) == 4
    # the latest two, in the chain's order (as AuditEvent.objects.newest_first() orders the latest)
    latest = [pk for _, pk in sorted(chained, key=lambda k: (k[0] is None, k[0] or 0, k[1]))[-2:]]
    assert [(e.event_type, e.sequence, e.occurred_at) for e in accesses] == list(
        AuditEvent.objects.filter(pk__in=latest).chain_order().values_list("event_type", "sequence", "occurred_at")
    )
    timeline = response.context["timeline"]
    assert len(timeline) == len(every) - 4 and not any(e.is_access for e in timeline)
    page = response.content.decode()
    assert "调阅记录（4 次，JL-C8）" in page and "仅列出最近 2 次调阅" in page


def test_the_events_statement_is_the_orms(case, world, client):
    """The case page's events (timeline and the latest JL-C8 accesses) compiled once: the ORM's
    text and parameters, the same named rows, for whichever case."""
    client.force_login(world.coordinator)
    for _ in range(3):
        client.get(f"/consultations/{case.pk}/")
    other = world.draft()
    fields = ("occurred_at", "event_type", "outcome", "actor_label", "details", "sequence")
    for consultation in (case, other, case):
        for shown in (2, 50):
            expected = list(selectors.case_page_events_queryset(consultation, fields, shown))
            assert selectors.case_page_events(consultation=consultation, fields=fields, accesses_shown=shown) == expected
            sql, params, number_at, pk_at, pk_type, *_ = _events_statement(
                selectors.case_page_events_queryset, fields, shown, "default", connection.vendor)
            bound = list(params)
            bound[number_at], bound[pk_at] = consultation.number, pk_type(consultation.pk)
            orm_sql, orm_params = selectors.case_page_events_queryset(consultation, fields, shown).query.get_compiler(using="default").as_sql()
            assert (sql, tuple(bound)) == (orm_sql, tuple(orm_params))
    assert len([e for e in selectors.case_page_events(consultation=case, fields=fields, accesses_shown=2) if e.is_access]) == 2


def test_jl_c8_the_case_page_reads_the_seal_only_when_its_case_has_one(world, django_assert_num_queries):
    """``has_open_seal`` in the case's statement: no seal asks nothing more; an open one is read as
    ``open_seal`` reads it; a released one is no longer shown."""
    from audit.records import open_seal, seal_create, seal_release
    from audit.selectors import case_record_panel

    parties = dict(inviting_party_name="王", inviting_party_role="医务科", invited_party_name="李", invited_party_role="患者家属")
    user = world.invited_coordinator
    sent = world.sent()
    consultation = selectors.consultation_case_page(user=user, pk=sent.pk)
    assert consultation.has_open_seal is False
    with django_assert_num_queries(0):
        assert case_record_panel(user=user, consultation=consultation)["seal"] is None
    seal = seal_create(actor=user, consultation=sent, reason="医疗争议", **parties)
    consultation = selectors.consultation_case_page(user=user, pk=sent.pk)
    assert consultation.has_open_seal is True
    assert case_record_panel(user=user, consultation=consultation)["seal"] == open_seal(sent.pk) == seal
    seal_release(actor=user, seal=seal, reason="争议已解决", **parties)
    consultation = selectors.consultation_case_page(user=user, pk=sent.pk)
    assert consultation.has_open_seal is False and open_seal(sent.pk) is None
    assert case_record_panel(user=user, consultation=consultation)["seal"] is None


# --- The viewer's scope compiled once per user and scope (issue 11) -------------------------------


def _orm_condition(user, pk: int):
    query = Consultation.objects.visible_to(user).filter(pk=pk).query
    return query.get_compiler(using="default").compile(query.where)


def _read_both(user, pk: int):
    """What the ORM and ``read_visible_case`` read of case ``pk`` for ``user``: the case's fields or None."""
    results = []
    for read in (lambda: case_page_shape(Consultation.objects.visible_to(user)).get(pk=pk),
                 lambda: read_visible_case(case_page_shape, user, pk)):
        try:
            results.append(case_snapshot(read()))
        except Consultation.DoesNotExist:
            results.append(None)
    return results


@pytest.mark.frozen_at("2026-11-20T10:00:00+08:00")  # the QC world's November (tests/audit/test_qc.py)
def test_jl_c6_jl_o2_the_compiled_scope_is_visible_tos_for_every_role(world):
    """JL-C6/JL-O2: for coordinators of both sides, the expert, the clinician, the provincial and a city
    regulator, an outsider, and a QC reviewer with and without a current grant, the case page reads
    what ``visible_to`` lets it read, and where the scope is compiled once its text and parameters,
    bound to the case and the (frozen) time, are the ORM's."""
    from tests.audit.test_qc import DECEMBER, QC

    q = QC(world)
    draw, review = q.assigned()
    granted = review.consultation_id
    province = regulator("220000", username="reg_province_scope")
    city = regulator("220100", username="reg_city_scope")
    outsider = staff(FacilityFactory(name="白城市中心医院"), StaffRole.CLINICIAN, username="outsider_scope")
    draft = world.draft()  # the invited side does not see it (drafts stay home)
    cases = [granted, q.open_case.pk, q.theirs.pk, draft.pk]
    users = {
        "coordinator": world.coordinator, "invited_coordinator": world.invited_coordinator, "expert": world.expert,
        "clinician": world.clinician, "province": province, "city": city, "outsider": outsider, "reviewer": q.reviewer,
    }
    seen = {}
    for moment, label in ((DECEMBER, "granted"), (draw.review_until + dt.timedelta(seconds=1), "expired")):
        with time_machine.travel(moment, tick=False):
            for name, user in users.items():
                user = type(user).objects.get(pk=user.pk)  # a fresh Scope, as each request has
                condition = compile_scope(user, "default")
                for pk in cases:
                    orm, compiled = _read_both(user, pk)
                    assert orm == compiled, (label, name, pk)
                    seen[(label, name, pk)] = orm is not None
                    if condition not in (_ORM, _NOTHING):
                        assert bound_scope(condition, pk, timezone.now(), connection) == (
                            lambda sql, params: (sql, list(params)))(*_orm_condition(user, pk)), (label, name, pk)
                assert (condition is _ORM) == (name == "city"), name  # a city's scope joins the facilities
    # the grant shows its case to the reviewer while the review lasts, and never after (JL-O2)
    assert seen[("granted", "reviewer", granted)] and not seen[("expired", "reviewer", granted)]
    assert not seen[("granted", "outsider", granted)] and not seen[("granted", "reviewer", q.theirs.pk)]
    assert seen[("granted", "coordinator", granted)] and seen[("granted", "province", q.theirs.pk)]
    assert seen[("granted", "coordinator", draft.pk)] and not seen[("granted", "invited_coordinator", draft.pk)]


def test_the_compiled_scope_is_kept_per_user_and_scope(world):
    """One user's scope is never another's: the key holds the user's id and roles; a new role is a new key,
    and the case it opens is read."""
    from django.contrib.auth import get_user_model

    from facilities.models import StaffMembership

    draft = world.draft()  # the inviting side's: the invited side does not see it (drafts stay home)
    one = scope_key(world.invited_coordinator, "default", connection.vendor)
    assert one != scope_key(world.coordinator, "default", connection.vendor)
    assert _read_both(world.invited_coordinator, draft.pk) == [None, None]
    StaffMembership.objects.create(user=world.invited_coordinator, facility=world.inviting, role=StaffRole.COORDINATOR)
    again = get_user_model().objects.get(pk=world.invited_coordinator.pk)  # a new request, a new Scope
    assert scope_key(again, "default", connection.vendor) != one
    orm, compiled = _read_both(again, draft.pk)
    assert orm is not None and compiled == orm
