"""Issue 13, "Proof" (JL-O1, JL-A2, STYLE 3): the permission matrix — every route of the pages and the
API × every role × own facility / another facility / another division / anonymous — has no leak.

One world is built for the whole matrix (``tests/permission_matrix.py``); each route is asked with GET
and, when it takes one, a POST with an empty body, by every actor; every request is undone (a
savepoint rolled back), so the cells do not depend on their order. Judged per cell:

- never a 5xx;
- anonymous: a page redirects to the login page, the API answers 401/403 (the error contract),
  except the few routes open to everyone (``OPEN_TO_ANONYMOUS``, with their reason);
- an actor who sees nothing of facility A (staff of another facility or division, a regulator of
  another division) gets, for A's object, exactly what a missing id gets — 404, or the role refusal
  (403) that any id gets: nothing about the object is revealed (out of scope → 404, not 403);
- nobody outside a facility's scope finds its data (patient names, request numbers, agreement
  numbers) in any answer, lists included — A's for the outsiders, C's for everyone outside 吉林市;
- a POST by anonymous or an outsider never writes (no successful audited act).

The counts (cells, 200 / 403 / 404 / redirect …) are printed and written in docs/security.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest
from django.conf import settings
from django.urls import reverse

from consultations import services as consultation_services
from consultations.models import Consultation
from facilities.choices import StaffRole
from facilities.models import CooperationAgreement
from telemed.scope import Scope
from tests.conftest import World
from tests.factories import staff
from tests.permission_matrix import (
    Actor,
    Matrix,
    ask,
    build_actors,
    clients_for,
    outsider_facility,
    plan_routes,
    platform_role_catalogues,
)
from tests.telemed.test_detail_scope import NOT_OBJECT_SCOPED, OBJECT_ROUTES, Objects

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-11-20T10:00:00+08:00")]

A_PATIENT = "矩阵甲患者"
C_PATIENT = "矩阵丙患者"

# Routes any visitor may open without signing in, and why.
OPEN_TO_ANONYMOUS: dict[str, str] = {
    "login": "the sign-in form",
    "set_language": "the language switch (a redirect back)",
    "healthz": "the liveness probe: the database answers",
    "facilities-api:auth-token": "partner systems sign in here (username and password in, token out; JL-A2 lockout applies)",
    "api-schema": "the OpenAPI schema: paths and fields, no data",
    "api-docs": "the API reference page over the schema, no data",
    "api-docs-script": "the API reference page's script (Redoc, served by the portal), no data",
    "oauth-api:token": "partner applications obtain tokens here with their client id and secret (issue 14)",
    "public:complaint-new": "JL-O6: patients file a complaint without an account (rate-limited)",
    "public:complaint-status": "JL-O6: a complainant follows their complaint by tracking number and phone digits",
    "public:inspection-list": "JL-O6 一公开: published random-inspection results are public",
    "public:inspection-detail": "JL-O6 一公开: one published plan, its draw and results",
    "public:credit-list": "JL-O6: the credit grades of accredited facilities are public",
    "public:credit-detail": "JL-O6: the public part of a facility's credit record",
}

# Routes that refuse anonymous callers without a redirect: called by the pages' scripts, not opened.
REFUSED_WITHOUT_REDIRECT: dict[str, str] = {
    "session-keepalive": "the time-out warning's fetch (countdown.js): 401 in the error contract, nothing to redirect",
}

# The objects of the routes that are not scoped to a facility (NOT_OBJECT_SCOPED of test_detail_scope).
def _checkpoint_pk(_objects) -> dict:
    """A signed checkpoint of the audit log (JL-A1): one for the whole province."""
    from audit.services import audit_checkpoint_sign

    return {"pk": audit_checkpoint_sign().pk}


UNSCOPED_OBJECTS = {
    "billing-api:price-standard-detail": lambda o: {"pk": o.price.standard_id},
    "facilities-api:service-type-detail": lambda o: {"pk": o.consultation.service_type_id},
    "facilities-api:service-type-report-template": lambda o: {"pk": o.consultation.service_type_id},
    "facilities:service-type-standard": lambda o: {"code": "imaging"},  # JL-O4: a diagnosis type
    "audit:checkpoint-download": _checkpoint_pk,
    "public:inspection-detail": lambda o: {"pk": o.inspection_plan.pk},
    "public:credit-detail": lambda o: {"pk": o.world.invited.pk},
    "audit-api:audit-checkpoint-detail": _checkpoint_pk,
}


class MatrixWorld(World):
    """The conftest world, with a patient name that no template or fixture uses elsewhere."""

    def patient(self, **overrides):
        return super().patient(**{"name": A_PATIENT, **overrides})


def _markers_of_a(objects) -> list[str]:
    numbers = list(Consultation.objects.values_list("number", flat=True))
    agreements = list(CooperationAgreement.objects.values_list("number", flat=True))
    return [A_PATIENT, *numbers, *agreements]


def _facility_c_data(facility_c):
    clinician = staff(facility_c, StaffRole.CLINICIAN, username="c_clinician")
    patient = consultation_services.patient_register(
        actor=clinician, facility=facility_c, name=C_PATIENT, sex="2", birth_date=dt.date(1980, 1, 1), id_number="220202198001011234", phone="13904320000",
    )
    return patient


def _sees_c(actor: Actor, facility_c) -> bool:
    if actor.user is None:
        return False
    if actor.kind in ("operator", "platform"):
        return True
    scope = Scope.of(actor.user)
    return facility_c.pk in scope.facility_ids or scope.regulates(facility_c.division.code)


def _judge(actor: Actor, route, method: str, answer, *, login_url: str, markers_a, sees_c: bool, missing) -> list[str]:
    where = f"{actor.label} {method} {route.url} ({route.key}) → {answer.status}"
    problems = []
    if answer.status >= 500:
        problems.append(f"5xx: {where} {answer.error}")
    if actor.kind == "anonymous" and route.key not in OPEN_TO_ANONYMOUS:
        if route.api or route.key in REFUSED_WITHOUT_REDIRECT:
            allowed = answer.status in (401, 403, 405)
        else:
            allowed = (answer.status == 302 and answer.location.startswith(login_url)) or answer.status == 405
        if not allowed:
            problems.append(f"anonymous not sent to sign in: {where} {answer.location}")
    if actor.kind == "anonymous" or actor.out_of_scope:
        if answer.wrote and (actor.kind == "anonymous" or route.missing_url):
            problems.append(f"write by an outsider: {where} {answer.wrote}")
        shown = [m for m in markers_a if m in answer.body]
        if shown:
            problems.append(f"facility A's data shown: {where} {shown[:3]}")
        refused_before_lookup = method == "GET" and not route.get and answer.status == 405
        if route.missing_url and answer.status != 404 and actor.kind != "anonymous" and not refused_before_lookup:
            other = missing()
            same_place = answer.location.replace(route.url, route.missing_url) == other.location
            if other.status != answer.status or not same_place:
                problems.append(f"object revealed: {where}, a missing id gets {other.status}")
    if not sees_c and C_PATIENT in answer.body:
        problems.append(f"facility C's data shown: {where}")
    return problems


@pytest.fixture
def quiet_requests():
    """Thousands of refusals are the point here: ``django.request`` logs only errors meanwhile."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture
def matrix(world, quiet_requests) -> tuple[Matrix, list[Actor], list]:
    started = time.monotonic()
    world = MatrixWorld(**vars(world))
    objects = Objects(world)
    facility_b = outsider_facility("长春市南关区矩阵医院", "220102")
    facility_c = outsider_facility("吉林市矩阵医院", "220202")
    _facility_c_data(facility_c)
    markers_a = _markers_of_a(objects)
    actors = build_actors(world.invited, facility_b, facility_c)
    routes = plan_routes(objects, OBJECT_ROUTES, UNSCOPED_OBJECTS)
    login_url = reverse(settings.LOGIN_URL)
    result = Matrix()
    for actor in actors:
        page, api = clients_for(actor)
        sees_c = _sees_c(actor, facility_c)
        for route in routes:
            client = api if route.api else page
            for method in ("GET", "POST") if route.post else ("GET",):
                answer = ask(client, method, route.url, api=route.api)
                result.count(actor, answer)

                def missing(client=client, method=method, route=route):
                    return ask(client, method, route.missing_url, api=route.api)

                result.problems += _judge(actor, route, method, answer, login_url=login_url, markers_a=markers_a,
                                          sees_c=sees_c, missing=missing)
    result.seconds = time.monotonic() - started
    result.routes = len(routes)
    return result, actors, routes


def test_jl_o1_jl_a2_the_permission_matrix_has_no_leak_no_500_and_404_out_of_scope(matrix, capsys):
    result, actors, routes = matrix
    with capsys.disabled():
        print(f"\n{result.summary()}\n  routes {result.routes}, actors {len(actors)}, {result.seconds:.1f} s")
    assert not result.problems, f"{len(result.problems)} problems:\n" + "\n".join(result.problems[:80])
    assert result.statuses["5xx"] == 0
    assert len(routes) > 150 and result.cells > len(routes) * len(actors)


def test_every_role_of_the_catalogues_is_in_the_matrix(world):
    """The actors are derived from the catalogues: every StaffRole at three places, every regulator
    level inside and outside, the operator, and every platform administrator role (JL-A2 三员分立)."""
    facility_b = outsider_facility("长春市南关区矩阵医院", "220102")
    facility_c = outsider_facility("吉林市矩阵医院", "220202")
    actors = build_actors(world.invited, facility_b, facility_c)
    labels = {a.label for a in actors}
    for role in StaffRole:
        assert {f"{role.value}@own", f"{role.value}@other_facility", f"{role.value}@other_division"} <= labels
    assert {"regulator:province@inside", "regulator:city@inside", "regulator:city@outside",
            "regulator:county@inside", "regulator:county@outside", "operator", "anonymous"} <= labels
    for name, catalogue in platform_role_catalogues().items():
        assert {f"{name}:{value.value}" for value in catalogue} <= labels


def test_the_tables_name_current_routes_with_reasons():
    from tests.routes import walk

    keys = {key for key, _namespace, _pattern in walk()}
    for table in (OPEN_TO_ANONYMOUS, REFUSED_WITHOUT_REDIRECT):
        assert set(table) <= keys and all(table.values())
    assert set(UNSCOPED_OBJECTS) <= set(NOT_OBJECT_SCOPED)


def test_the_judge_fails_a_leak_a_revealed_object_a_write_and_a_500():
    """The matrix can fail: each kind of problem it looks for is reported (JL-O1)."""
    from tests.permission_matrix import Answer, Route

    outsider = Actor("clinician@other_division", "staff", "other_division")
    route = Route("consultations:detail", api=False, url="/consultations/7/", missing_url="/consultations/999999/", post=True)
    judge = dict(login_url="/login/", markers_a=["YC-A-1", A_PATIENT], sees_c=False)

    def missing():
        return Answer(404)

    assert _judge(outsider, route, "GET", Answer(404), missing=missing, **judge) == []
    revealed = _judge(outsider, route, "GET", Answer(403), missing=missing, **judge)
    assert len(revealed) == 1 and revealed[0].startswith("object revealed")
    shown = _judge(outsider, route, "GET", Answer(200, body=f"<td>{A_PATIENT}</td>"), missing=missing, **judge)
    assert [p.split(":")[0] for p in shown] == ["facility A's data shown", "object revealed"]
    wrote = _judge(outsider, route, "POST", Answer(404, wrote=("consultation.cancel",)), missing=missing, **judge)
    assert wrote[0].startswith("write by an outsider")
    assert _judge(outsider, route, "GET", Answer(500), missing=missing, **judge)[0].startswith("5xx")
    anonymous = Actor("anonymous", "anonymous")
    assert _judge(anonymous, route, "GET", Answer(200), missing=missing, **judge)[0].startswith("anonymous not sent")
    assert _judge(anonymous, route, "GET", Answer(302, location="/login/?next=/consultations/7/"), missing=missing, **judge) == []
    own = Actor("clinician@own", "staff", "own")
    assert _judge(own, route, "GET", Answer(200, body=C_PATIENT), missing=missing, **judge)[0].startswith("facility C")
