"""telemed.auth_user: the signed-in user read with a statement compiled once (JL-A2; issue 11), and the
navigation's unread count compiled once (consultations.selectors.notification_unread_count)."""

import pytest
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils import timezone

from consultations.models import Notification
from consultations.selectors import notification_unread_count
from telemed import auth_user
from tests.factories import FacilityFactory, UserFactory, staff

pytestmark = pytest.mark.django_db

User = get_user_model()


def _fields(user):
    return {name: value for name, value in vars(user).items() if name != "_state"}


def _request(client):
    request = RequestFactory().get("/")
    request.session = client.session
    return request


def test_the_portal_uses_it(settings):
    assert "telemed.auth_user.AuthenticationMiddleware" in settings.MIDDLEWARE
    assert "django.contrib.auth.middleware.AuthenticationMiddleware" not in settings.MIDDLEWARE


def test_the_user_is_the_user_the_orm_reads_with_hostile_names(django_assert_num_queries):
    user = UserFactory(first_name='<b>"张&三\u202e', last_name="'</script>\u200f")
    UserFactory()
    with django_assert_num_queries(1):
        read = auth_user.user_by_id(user.pk)
    orm = User.objects.get(pk=user.pk)
    assert type(read) is User and _fields(read) == _fields(orm)
    assert read._state.adding is False and read._state.db == orm._state.db
    assert read.get_full_name() == orm.get_full_name() and read.last_login == orm.last_login


def test_an_unknown_inactive_or_out_of_range_id_is_no_user():
    inactive = UserFactory(is_active=False)
    assert auth_user.user_by_id(inactive.pk) is None
    assert auth_user.user_by_id(10**6) is None
    assert auth_user.user_by_id(2**70) is None


@pytest.mark.parametrize("change", ["none", "password", "inactive", "deleted", "no-hash", "no-backend", "other-backend"])
def test_get_user_answers_as_djangos_get_user(client, settings, change):
    user = UserFactory()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    if change == "password":
        user.set_password("Another-Strong-1!")
        user.save()
    elif change == "inactive":
        User.objects.filter(pk=user.pk).update(is_active=False)
    elif change == "deleted":
        session[SESSION_KEY] = str(User.objects.order_by("-pk").first().pk + 100)
    elif change == "no-hash":
        del session[HASH_SESSION_KEY]
    elif change == "no-backend":
        del session[BACKEND_SESSION_KEY]
    elif change == "other-backend":
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.RemoteUserBackend"  # not among the portal's backends
    session.save()
    ours, django = _request(client), _request(client)
    django.session = type(session)(session.session_key)
    ours.session = type(session)(session.session_key)
    expected = auth.get_user(django)
    got = auth_user.get_user(ours)
    assert type(got) is type(expected)
    if isinstance(expected, AnonymousUser):
        assert change != "none"
        assert ours.session.is_empty() == django.session.is_empty()
    else:
        assert _fields(got) == _fields(expected)
    if change == "password":  # JL-A2: a password change ends the other sessions
        assert isinstance(got, AnonymousUser) and SESSION_KEY not in ours.session


def test_a_fallback_secret_still_verifies_and_rotates_the_session(client, settings):
    user = UserFactory()
    client.force_login(user)
    key = client.session.session_key
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-for-the-test-" + "x" * 40
    request = _request(client)
    request.session = type(client.session)(key)
    got = auth_user.get_user(request)
    assert got.pk == user.pk
    assert request.session[HASH_SESSION_KEY] == got.get_session_auth_hash()


def test_a_signed_in_page_reads_the_user_with_the_compiled_statement(client, monkeypatch):
    user = staff(FacilityFactory())
    client.force_login(user)

    def refused(request):
        raise AssertionError("auth.get_user is not asked for a ModelBackend session")

    monkeypatch.setattr(auth, "get_user", refused)
    response = client.get("/")
    assert response.status_code == 200 and response.wsgi_request.user.pk == user.pk
    assert type(response.wsgi_request._cached_user) is User


def test_the_unread_count_is_the_orms_count(django_assert_num_queries):
    user, other = UserFactory(), UserFactory()
    for who, read in ((user, None), (user, None), (user, timezone.now()), (other, None)):
        Notification.objects.create(user=who, created_at=timezone.now(), subject="<x>", body="&", read_at=read)
    with django_assert_num_queries(1):
        count = notification_unread_count(user=user)
    assert count == Notification.objects.filter(user=user, read_at__isnull=True).count() == 2
    assert notification_unread_count(user=UserFactory()) == 0
