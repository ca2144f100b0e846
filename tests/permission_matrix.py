"""The permission matrix (issue 13, "Proof"; JL-O1, JL-A2): every route × every role × own facility,
another facility, another division, anonymous — built once, judged cell by cell.

Nothing here classifies routes again: the routes come from the one walk (``tests/routes.py``), the
object each route names from ``tests/telemed/test_detail_scope.py`` (``OBJECT_ROUTES``, ``Objects``),
and the roles from the role catalogues (``facilities.choices.StaffRole``, ``DivisionLevel``, any further
``*Role`` catalogue of platform administrators, and every permission group the migrations create). A role added to a catalogue is in the matrix
the next time it runs; a catalogue the matrix does not know how to grant fails
``test_every_role_of_the_catalogues_is_in_the_matrix`` until someone teaches ``grant_platform_role``.

The world (one per run): facility A = ``world.invited`` (朝阳区 220104 of 长春市 2201) owns the objects
and shares the cases with ``world.inviting`` (农安县 220122, 长春市); facility B (南关区 220102, the same
city, no agreement with anyone) and facility C (吉林市 220202, another city) are the outsiders. C has
patients of its own, so that every actor's lists can be searched for another facility's data too.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.db.models import Max
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from facilities import choices as facility_choices
from facilities.choices import DivisionLevel, StaffRole
from facilities.models import Division, Facility
from tests.api_cases import token_client
from tests.factories import FacilityFactory, UserFactory, division, regulator, staff
from tests.routes import MISSING, id_like, keywords, walk

# --- Actors, from the role catalogues ------------------------------------------------------------

OWN, OTHER_FACILITY, OTHER_DIVISION = "own", "other_facility", "other_division"
INSIDE, OUTSIDE = "inside", "outside"
#: Catalogues of ``facilities.choices`` that are not roles a user holds.
NOT_USER_ROLES = {"ActingRole"}  # the capacity a physician acts in on one case, not an account's role


@dataclass(frozen=True)
class Actor:
    label: str
    kind: str  # anonymous | staff | regulator | operator | platform
    placement: str = ""  # own / other_facility / other_division (staff); inside / outside (regulators)
    user: object = field(default=None, compare=False, hash=False)

    @property
    def out_of_scope(self) -> bool:
        """Sees nothing of facility A: every answer about A's objects must be a 404 (or the same
        answer a missing id gets), and no body may carry A's data."""
        return self.placement in (OTHER_FACILITY, OTHER_DIVISION, OUTSIDE)


def platform_role_catalogues() -> dict[str, type[models.TextChoices]]:
    """Every ``*Role`` catalogue of ``facilities.choices`` besides the facility staff roles: the
    platform's own administrators (系统/安全/审计管理员, 三员分立, JL-A2) live in one of these."""
    found = {}
    for name, value in inspect.getmembers(facility_choices, inspect.isclass):
        if (issubclass(value, models.TextChoices) and name.endswith("Role") and value is not StaffRole
                and name not in NOT_USER_ROLES):
            found[name] = value
    return found


def _holder_model(catalogue) -> tuple[type[models.Model], str, str] | None:
    """The model that grants a role of ``catalogue`` to a user: a ``role``-like field with the
    catalogue's choices and a foreign key to the user model."""
    user_model = get_user_model()
    wanted = list(catalogue.choices)
    for model in apps.get_models():
        role_field = next((f for f in model._meta.concrete_fields if list(getattr(f, "choices", None) or []) == wanted), None)
        user_field = next((f for f in model._meta.concrete_fields
                           if isinstance(f, models.ForeignKey) and f.related_model is user_model), None)
        if role_field is not None and user_field is not None:
            return model, user_field.name, role_field.name
    return None


def grant_platform_role(user, catalogue, value) -> None:
    """Through the catalogue's own service where there is one (the three administrators of 三员分立 are
    granted by ``facilities.admins.admin_role_grant``, on record), else by a row of its holder model."""
    if catalogue is facility_choices.AdminRole:
        from facilities.admins import admin_role_grant

        admin_role_grant(actor=None, user=user, role=value)
        return
    holder = _holder_model(catalogue)
    if holder is None:
        raise LookupError(f"{catalogue.__name__}: no model grants it to a user; teach tests/permission_matrix.py")
    model, user_field, role_field = holder
    model.objects.create(**{user_field: user, role_field: value})


def regulator_divisions(facility_a: Facility, facility_b: Facility, facility_c: Facility) -> dict[str, tuple[str, str | None]]:
    """Per DivisionLevel: a division that contains facility A (inside) and one that does not (outside)."""
    county_a, county_b = facility_a.division, facility_b.division
    plan = {
        DivisionLevel.PROVINCE: (county_a.parent.parent.code, None),  # the province oversees everything (JL-O1)
        DivisionLevel.CITY: (county_a.parent.code, facility_c.division.parent.code),
        DivisionLevel.COUNTY: (county_a.code, county_b.code),
    }
    missing = set(DivisionLevel) - set(plan)
    assert not missing, f"a new division level needs its regulators in tests/permission_matrix.py: {missing}"
    return plan


def build_actors(facility_a: Facility, facility_b: Facility, facility_c: Facility) -> list[Actor]:
    actors = [Actor("anonymous", "anonymous")]
    at = {OWN: facility_a, OTHER_FACILITY: facility_b, OTHER_DIVISION: facility_c}
    for role in StaffRole:
        for placement, facility in at.items():
            user = staff(facility, role, username=f"m_{role.value}_{placement}")
            actors.append(Actor(f"{role.value}@{placement}", "staff", placement, user))
    for level, (inside, outside) in regulator_divisions(facility_a, facility_b, facility_c).items():
        for placement, code in ((INSIDE, inside), (OUTSIDE, outside)):
            if code is not None:
                user = regulator(code, username=f"m_regulator_{level.value}_{placement}")
                actors.append(Actor(f"regulator:{level.value}@{placement}", "regulator", placement, user))
    # The break-glass superuser (JL-A2 三员分立: nothing in the portal needs one, but it exists).
    operator = UserFactory(username="m_operator", is_superuser=True, is_staff=True)
    actors.append(Actor("operator", "operator", "", operator))
    for name, catalogue in sorted(platform_role_catalogues().items()):
        for value in catalogue:
            user = UserFactory(username=f"m_{name}_{value.value}"[:150])
            grant_platform_role(user, catalogue, value)
            actors.append(Actor(f"{name}:{value.value}", "platform", "", user))
    for group in Group.objects.order_by("name"):  # roles held as permission groups (made by migrations)
        user = UserFactory(username=f"m_group_{group.pk}")
        user.groups.add(group)
        actors.append(Actor(f"group:{group.name}", "platform", "", user))
    return actors


# --- Routes and the object each one names ---------------------------------------------------------

OBJECT_KEYWORDS: dict[str, Callable] = {
    # Keywords that name an object without looking like an id: a division's code (JL-O1)
    "code": lambda objects: objects.world.invited.division.parent.code,
}
MISSING_VALUES = {"code": "229900"}  # a division code of the right shape that does not exist
PLAIN_KEYWORDS = {"fmt": "csv"}


@dataclass(frozen=True)
class Route:
    key: str
    api: bool
    url: str
    missing_url: str | None  # the same route for an object that does not exist (None: names no object)
    post: bool  # takes a POST (state-changing or a form)
    get: bool = True  # False: the dispatcher answers GET with 405 before any lookup (a POST-only action)


def _accepts_get(pattern) -> bool:
    callback = pattern.callback
    if hasattr(callback, "actions"):
        return "get" in callback.actions
    view_class = getattr(callback, "view_class", None)
    return view_class is None or hasattr(view_class, "get")


def _accepts_post(pattern) -> bool:
    callback = pattern.callback
    if hasattr(callback, "actions"):  # a DRF viewset route
        return "post" in callback.actions
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        return hasattr(view_class, "post")
    return True  # a function view: try it, a 405 is an answer too


def plan_routes(objects, object_routes: dict[str, Callable], unscoped_objects: dict[str, Callable],
                skip_namespaces: tuple[str, ...] = ("admin",)) -> list[Route]:
    """One ``Route`` per named pattern (format-suffix twins and skipped namespaces left out)."""
    routes, seen = [], set()
    for key, namespace, pattern in walk():
        names = keywords(pattern)
        if key in seen or "format" in names or namespace.split(":")[0] in skip_namespaces:
            continue
        seen.add(key)
        kwargs, missing = {}, {}
        if key in object_routes:
            kwargs = dict(object_routes[key](objects))
        elif key in unscoped_objects:
            kwargs = dict(unscoped_objects[key](objects))
        for name in names:
            if name in kwargs:
                pass
            elif name in OBJECT_KEYWORDS:
                kwargs[name] = OBJECT_KEYWORDS[name](objects)
            elif name in PLAIN_KEYWORDS:
                kwargs[name] = PLAIN_KEYWORDS[name]
            else:
                raise LookupError(f"{key}: how to fill <{name}>? add it to tests/permission_matrix.py")
        for name, value in kwargs.items():
            missing[name] = MISSING if id_like(name) else MISSING_VALUES.get(name, value)
        names_object = missing != kwargs and key not in unscoped_objects
        routes.append(Route(
            key=key,
            api="-api:" in key or key in ("api-schema",),
            url=reverse(key, kwargs=kwargs),
            missing_url=reverse(key, kwargs=missing) if names_object else None,
            post=_accepts_post(pattern),
            get=_accepts_get(pattern),
        ))
    return routes


# --- Asking and judging -----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    location: str = ""
    body: str = ""
    wrote: tuple[str, ...] = ()  # audit events of a successful write, other than access records
    error: str = ""


def clients_for(actor: Actor) -> tuple[Client, APIClient]:
    page = Client(raise_request_exception=False)
    api = APIClient(raise_request_exception=False)
    if actor.user is not None:
        page.force_login(actor.user)
        api = token_client(actor.user)
        api.raise_request_exception = False
    return page, api


def _read(response) -> str:
    if getattr(response, "streaming", False):
        # The test client closes the response once its content is read, with the signal that would
        # close the database connection held back (calling close() here would drop it on PostgreSQL).
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    return content.decode("utf-8", "replace")


def ask(client, method: str, url: str, *, api: bool) -> Answer:
    """One request, undone afterwards: the world and the client's cookies stay as they were, so
    that every cell sees the same world whatever was asked before it."""
    cookies = client.cookies
    client.cookies = type(cookies)(cookies)
    with transaction.atomic():
        before = AuditEvent.objects.aggregate(m=Max("sequence"))["m"] or 0
        if method == "GET":
            response = client.get(url)
        elif api:
            response = client.post(url, {}, format="json")
        else:
            response = client.post(url, {})
        wrote = tuple(AuditEvent.objects.filter(sequence__gt=before, outcome="success")
                      .exclude(event_type__startswith="record.").exclude(event_type__startswith="auth.")
                      .values_list("event_type", flat=True))
        body = _read(response)
        transaction.set_rollback(True)
    client.cookies = cookies
    exc = getattr(response, "exc_info", None)
    return Answer(
        status=response.status_code,
        location=response.get("Location", ""),
        body=body,
        wrote=wrote,
        error=repr(exc[1]) if exc else "",
    )


def bucket(status: int) -> str:
    if status in (301, 302, 303):
        return "redirect"
    if status in (200, 201, 204, 400, 401, 403, 404, 405, 409):
        return str(status)
    return "5xx" if status >= 500 else "other"


@dataclass
class Matrix:
    cells: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_kind: dict[str, Counter] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    routes: int = 0
    seconds: float = 0.0

    def count(self, actor: Actor, answer: Answer) -> None:
        self.cells += 1
        self.statuses[bucket(answer.status)] += 1
        self.by_kind.setdefault(actor.kind + (f"@{actor.placement}" if actor.placement else ""), Counter())[bucket(answer.status)] += 1

    def summary(self) -> str:
        parts = [f"cells {self.cells}"] + [f"{k} {v}" for k, v in sorted(self.statuses.items())]
        lines = ["permission matrix: " + ", ".join(parts)]
        for kind, counter in sorted(self.by_kind.items()):
            lines.append(f"  {kind}: " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())))
        return "\n".join(lines)


def division_of(code: str) -> Division:
    return division(code)


def outsider_facility(name: str, code: str) -> Facility:
    return FacilityFactory(name=name, division=division(code), licence_issuer=division(code[:4] + "00"))
