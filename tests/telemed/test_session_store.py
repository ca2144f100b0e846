"""telemed.session_store: Django's database sessions, read with a statement compiled once."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.utils import timezone

from telemed.session_store import SessionStore

pytestmark = pytest.mark.django_db


def test_the_portal_uses_it():
    assert settings.SESSION_ENGINE == "telemed.session_store"


def test_a_session_reads_back_as_djangos_store_reads_it(django_assert_num_queries):
    stored = SessionStore()
    stored["_telemed_seen"] = "2026-12-01T01:00:00+00:00"
    stored["kept"] = {"fields": [["name", "<张三>"]]}
    stored.save()
    other = SessionStore()
    other["who"] = "someone else"
    other.save()
    with django_assert_num_queries(1):
        loaded = SessionStore(stored.session_key).load()
    assert loaded == DjangoStore(stored.session_key).load() == {
        "_telemed_seen": "2026-12-01T01:00:00+00:00", "kept": {"fields": [["name", "<张三>"]]}}
    assert SessionStore(other.session_key).load() == {"who": "someone else"}


def test_an_expired_or_unknown_session_is_empty_and_forgets_its_key():
    stored = SessionStore()
    stored["who"] = "me"
    stored.set_expiry(60)
    stored.save()
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61)):
        expired = SessionStore(stored.session_key)
        assert expired.load() == {} and expired.session_key is None
    unknown = SessionStore("no-such-session-key-0123456789")
    assert unknown.load() == {} and unknown.session_key is None
