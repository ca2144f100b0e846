"""One way to scope (STYLE 3): who may see which rows.

``Scope.of(user)`` reads a user's facility roles and regulator divisions once per request and is
cached on the user object. ``ScopedQuerySet.visible_to(user)`` is the single queryset method that
every list, detail, API viewset and page uses; an object outside it is a 404, never a 403.

- Hospital staff and partner systems see rows that belong to their facilities.
- A regulator sees the rows of facilities in their division and every division below it (JL-O1,
  art. 6, 7, 48): by GB/T 2260 code prefix. The provincial commission also oversees out-of-province
  facilities that serve Jilin under art. 16.
- The three platform administrators (三员分立, JL-A2: system, security and audit administrator;
  ``facilities.AdminAssignment``) see no patient or case data at all: every scoped queryset is
  empty for them. Their reach is permissions (``facilities.admins.ROLE_PERMISSIONS``), not rows.
  Nobody sees everything by being a Django superuser: ``is_superuser`` is a break-glass flag of
  Django's own admin and nothing here reads it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from django.db import connections, models
from django.db.models import Q

PROVINCE_PREFIX = "22"


@dataclass(frozen=True)
class Scope:
    admin_roles: frozenset[str] = frozenset()
    facility_roles: dict[int, frozenset[str]] = field(default_factory=dict)
    # (division code, prefix) pairs of the divisions the user regulates.
    regulated: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, user) -> Scope:
        if user is None or not getattr(user, "is_authenticated", False):
            return cls()
        cached = getattr(user, "_telemed_scope", None)
        if cached is not None:
            return cached
        from facilities.models import Division

        roles: dict[int, set[str]] = {}
        admin_roles: set[str] = set()
        divisions = []
        for kind, facility_id, role, level, row in _membership_rows(user.pk):
            if kind == "regulator":
                divisions.append((row, Division(code=role, level=level)))
            elif kind == "admin":
                admin_roles.add(role)
            else:
                roles.setdefault(facility_id, set()).add(role)
        regulated = tuple((d.code, d.prefix) for _row, d in sorted(divisions, key=lambda pair: pair[0]))
        scope = cls(
            admin_roles=frozenset(admin_roles),
            facility_roles={k: frozenset(v) for k, v in roles.items()},
            regulated=regulated,
        )
        user._telemed_scope = scope
        return scope

    @property
    def facility_ids(self) -> list[int]:
        return sorted(self.facility_roles)

    @property
    def is_platform_admin(self) -> bool:
        """One of the three administrators of 三员分立 (JL-A2)."""
        return bool(self.admin_roles)

    @property
    def is_system_admin(self) -> bool:
        return "system_admin" in self.admin_roles

    @property
    def is_security_admin(self) -> bool:
        return "security_admin" in self.admin_roles

    @property
    def is_audit_admin(self) -> bool:
        return "audit_admin" in self.admin_roles

    @property
    def is_regulator(self) -> bool:
        return bool(self.regulated)

    @property
    def is_provincial_regulator(self) -> bool:
        return any(prefix == PROVINCE_PREFIX for _code, prefix in self.regulated)

    @property
    def prefixes(self) -> list[str]:
        return [prefix for _code, prefix in self.regulated]

    def has_role(self, facility_id: int | None, *roles: str) -> bool:
        return facility_id is not None and bool(self.facility_roles.get(facility_id, frozenset()) & set(roles))

    def facilities_with_role(self, *roles: str) -> list[int]:
        return sorted(fid for fid, held in self.facility_roles.items() if held & set(roles))

    def regulates(self, division_code: str) -> bool:
        """True when ``division_code`` is the regulator's division or lies below it (JL-O1)."""
        if self.is_provincial_regulator:
            return True
        return any(division_code.startswith(prefix) for prefix in self.prefixes)

    def is_division(self, division_code: str) -> bool:
        """True when the user regulates exactly this division (e.g. the licensing authority)."""
        return any(code == division_code for code, _prefix in self.regulated)


def _memberships(user_id):
    """One query for facility roles, platform administrator roles (no facility) and the divisions
    regulated (issue 11: one round trip on every request instead of two): rows of
    (kind, facility id, role or division code, division level, row id)."""
    from facilities.models import AdminAssignment, RegulatorMembership, StaffMembership

    text, nothing = models.CharField(), models.Value(None, output_field=models.IntegerField())
    staff_rows = StaffMembership.objects.filter(user_id=user_id, active=True).order_by().annotate(
        kind=models.Value("staff", output_field=text), level=models.Value("", output_field=text), row=models.F("id"),
    ).values_list("kind", "facility_id", "role", "level", "row")
    admin_rows = AdminAssignment.objects.filter(user_id=user_id, active=True).order_by().annotate(
        kind=models.Value("admin", output_field=text), no_facility=nothing, level=models.Value("", output_field=text),
        row=models.F("id"),
    ).values_list("kind", "no_facility", "role", "level", "row")
    regulator_rows = RegulatorMembership.objects.filter(user_id=user_id, active=True).order_by().annotate(
        kind=models.Value("regulator", output_field=text), no_facility=nothing, code=models.F("division_id"),
        level=models.F("division__level"), row=models.F("id"),
    ).values_list("kind", "no_facility", "code", "level", "row")
    return staff_rows.union(admin_rows, regulator_rows, all=True)


_USER_SLOT = -7_340_033  # no user has this id: it marks where the user's id goes in the compiled query


@functools.lru_cache(maxsize=8)
def _compiled_memberships(alias: str, vendor: str) -> tuple[str, tuple, tuple[int, ...]]:
    """``_memberships`` compiled once per database (issue 11: building and compiling the union cost
    ten times its round trip, on every request): its SQL, parameters and the user id's places."""
    sql, params = _memberships(_USER_SLOT).query.get_compiler(using=alias).as_sql()
    slots = tuple(i for i, value in enumerate(params) if value == _USER_SLOT)
    if len(slots) != 3:  # one per part of the union: anything else would read someone else's rows
        raise RuntimeError(f"the membership query has {len(slots)} places for the user, not 3")
    return sql, tuple(params), slots


def _membership_rows(user_id: int) -> list[tuple]:
    from facilities.models import StaffMembership

    alias = StaffMembership.objects.db
    connection = connections[alias]
    sql, params, slots = _compiled_memberships(alias, connection.vendor)
    bound = list(params)
    for slot in slots:
        bound[slot] = user_id
    with connection.cursor() as cursor:
        cursor.execute(sql, bound)
        return cursor.fetchall()


def _as_tuple(value) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


class ScopedQuerySet(models.QuerySet):
    """Subclasses name the path(s) to the owning facility id and to its division code."""

    scope_facility_field: str | tuple[str, ...] = "facility_id"
    scope_division_field: str | tuple[str, ...] = "facility__division__code"
    scope_needs_distinct = False

    def scope_extra_for_staff(self, facility_ids: list[int]) -> Q:
        """Rows staff may see beyond their own facilities' (e.g. counterparts of an agreement)."""
        return Q(pk__in=[])

    def visible_to(self, user):
        scope = Scope.of(user)
        if scope.is_provincial_regulator:
            return self.all()
        condition = Q(pk__in=[])
        if scope.facility_roles:
            for path in _as_tuple(self.scope_facility_field):
                condition |= Q(**{f"{path}__in": scope.facility_ids})
        for prefix in scope.prefixes:
            for path in _as_tuple(self.scope_division_field):
                condition |= Q(**{f"{path}__startswith": prefix})
        if not scope.facility_roles and not scope.regulated:
            return self.none()
        if scope.facility_roles:
            condition |= self.scope_extra_for_staff(scope.facility_ids)
        queryset = self.filter(condition)
        return queryset.distinct() if self.scope_needs_distinct else queryset
