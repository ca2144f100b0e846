"""Scope.of (telemed.scope): one membership query, compiled once per database, run per user."""

import pytest

from facilities.choices import AdminRole, StaffRole
from facilities.models import StaffMembership
from telemed.scope import Scope, _membership_rows, _memberships
from tests.factories import FacilityFactory, administrator, division, regulator, staff

pytestmark = pytest.mark.django_db


def test_the_membership_query_compiled_once_reads_each_users_own_rows(django_assert_num_queries):
    first, second = FacilityFactory(), FacilityFactory(division=division("220122"))
    users = [
        staff(first, StaffRole.COORDINATOR), staff(second, StaffRole.FINANCE), regulator("220122"),
        administrator(AdminRole.AUDIT), administrator(AdminRole.SECURITY),
    ]
    StaffMembership.objects.create(user=users[0], facility=second, role=StaffRole.CLINICIAN)
    for user in users:
        assert sorted(_membership_rows(user.pk)) == sorted(_memberships(user.pk))
    with django_assert_num_queries(1):
        scope = Scope.of(users[0])
    assert scope.facility_roles == {first.pk: {"coordinator"}, second.pk: {"clinician"}}
    assert Scope.of(users[2]).regulated == (("220122", "220122"),) and not Scope.of(users[2]).facility_roles
    assert Scope.of(users[3]).admin_roles == {"audit_admin"} and Scope.of(users[1]).facility_roles == {second.pk: {"finance"}}
