"""Django's ``AuthenticationMiddleware``, reading the signed-in user with a statement compiled once (JL-A2; issue 11).

Every signed-in request reads its user: ``django.contrib.auth.get_user`` asks the session's backend,
and ``ModelBackend.get_user`` builds and compiles ``User._default_manager.get(pk=…)`` anew each time,
which cost several times its round trip in Python (as the session and OTP device reads did,
``telemed.session_store``, ``facilities.otp_middleware``). Here, for a session whose backend is
``ModelBackend`` itself, the same statement — the same manager, the same condition, no ordering and
``get()``'s ``LIMIT``, the same database alias the router gives — is compiled once per model and
database and run with the session's id; the row becomes the user as the ORM would make it (``from_db``,
with the backend's converters). Everything else is ``auth.get_user``'s, step by step: an inactive
user is refused (``user_can_authenticate``), the session's password hash is verified (a password
change ends the other sessions), the fallback secrets are tried, and a session that fails is flushed.
Any other backend goes through ``auth.get_user`` unchanged.
"""

from __future__ import annotations

import functools
from functools import partial

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.auth.middleware import auser
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
_BACKEND = ModelBackend()
_ID_MARK = 736_491_217  # stands for the user's id while the statement is compiled (within a 32-bit id's range)


@functools.lru_cache(maxsize=8)
def _compiled(user_cls, alias: str, vendor: str):
    """The SQL of ``user_cls._default_manager.get(pk=…)`` on ``alias`` (``get()`` drops the ordering and
    reads at most ``MAX_GET_RESULTS`` rows), its parameters, where the id goes, the loaded fields'
    attnames, each column's converters and the range of ids the column holds."""
    from django.db.models.query import MAX_GET_RESULTS

    queryset = user_cls._default_manager.using(alias).filter(pk=_ID_MARK).order_by()[:MAX_GET_RESULTS]
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    id_at = [i for i, value in enumerate(params) if value == _ID_MARK]
    if len(id_at) != 1 or compiler.klass_info is None or compiler.annotation_col_map:
        raise RuntimeError("the user query does not have one place for the id, or not the model's columns alone")
    select = compiler.select
    fields = [select[i][0].target for i in compiler.klass_info["select_fields"]]
    if len(select) != len(fields):
        raise RuntimeError("the user query reads more than the model's own columns")
    converters = tuple((position, tuple(functions), expression)
                       for position, (functions, expression) in compiler.get_converters([column for column, _, _ in select]).items())
    low, high = connections[alias].ops.integer_field_range(user_cls._meta.pk.get_internal_type())
    return sql, tuple(params), id_at[0], tuple(field.attname for field in fields), converters, low, high


def user_by_id(user_id):
    """``ModelBackend().get_user(user_id)``: the user with this id if active, else ``None``, without building the query."""
    user_cls = get_user_model()
    alias = user_cls._default_manager.db
    connection = connections[alias]
    sql, params, id_at, attnames, converters, low, high = _compiled(user_cls, alias, connection.vendor)
    if not isinstance(user_id, int) or (low is not None and user_id < low) or (high is not None and user_id > high):
        return _BACKEND.get_user(user_id)  # what Django does with any other id
    bound = list(params)
    bound[id_at] = user_id
    with connection.cursor() as cursor:
        cursor.execute(sql, bound)
        rows = cursor.fetchmany(2)
    if len(rows) != 1:  # none, or (impossible for a primary key) several: Django's exceptions
        return _BACKEND.get_user(user_id)
    row = rows[0]
    if converters:
        row = list(row)
        for position, functions, expression in converters:
            value = row[position]
            for convert in functions:
                value = convert(value, expression, connection)
            row[position] = value
    user = user_cls.from_db(alias, attnames, row)
    return user if _BACKEND.user_can_authenticate(user) else None


def get_user(request):
    """``django.contrib.auth.get_user(request)``, with ``user_by_id`` for the sessions of ``ModelBackend``."""
    try:
        backend_path = request.session[BACKEND_SESSION_KEY]
    except KeyError:
        return auth.get_user(request)
    if backend_path != _MODEL_BACKEND or backend_path not in settings.AUTHENTICATION_BACKENDS \
            or type(load_backend(backend_path)) is not ModelBackend:
        return auth.get_user(request)
    try:
        user_id = auth._get_user_session_key(request)
    except KeyError:
        return AnonymousUser()
    user = user_by_id(user_id)
    # Verify the session (JL-A2: a password change ends the other sessions), as ``auth.get_user`` does.
    if hasattr(user, "get_session_auth_hash"):
        session_hash = request.session.get(HASH_SESSION_KEY)
        if not session_hash:
            session_hash_verified = False
        else:
            session_auth_hash = user.get_session_auth_hash()
            session_hash_verified = constant_time_compare(session_hash, session_auth_hash)
        if not session_hash_verified:
            if session_hash and any(
                constant_time_compare(session_hash, fallback_auth_hash)
                for fallback_auth_hash in user.get_session_auth_fallback_hash()
            ):
                request.session.cycle_key()
                request.session[HASH_SESSION_KEY] = session_auth_hash
            else:
                request.session.flush()
                user = None
    return user or AnonymousUser()


def _cached_user(request):
    if not hasattr(request, "_cached_user"):
        request._cached_user = get_user(request)
    return request._cached_user


class AuthenticationMiddleware(_AuthenticationMiddleware):
    """``django.contrib.auth.middleware.AuthenticationMiddleware`` with ``get_user`` above."""

    def process_request(self, request):
        super().process_request(request)  # its checks (the session middleware before it)
        request.user = SimpleLazyObject(lambda: _cached_user(request))
        request.auser = partial(auser, request)
