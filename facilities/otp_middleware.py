"""django-otp's middleware, reading the device with a statement compiled once (JL-A2; issue 11).

Every request of a user who passed the second step reads the device named in the session
(``DEVICE_ID_SESSION_KEY``). django-otp does it with ``Device.from_persistent_id``: ``apps.get_model``,
then ``objects.filter(id=…).first()`` built and compiled anew each time, which cost several times the
round trip in Python (as the session read did, ``telemed.session_store``). Here the same statement — the
same model's manager, the same condition, the same ``ORDER BY`` and ``LIMIT 1`` of ``first()``, the same
database alias the router gives — is compiled once per model and database and run with the request's id;
the row becomes the model instance as the ORM would make it (``from_db``, with the backend's converters).
Everything else is django-otp's: the legacy persistent ids, a device of another user or none at all
leaves the user unverified and drops the session's device id (``OTPMiddleware._verify_user``).
"""

from __future__ import annotations

import functools

from django.apps import apps
from django.db import connections
from django_otp.middleware import OTPMiddleware as _OTPMiddleware
from django_otp.models import Device

from telemed.db_rows import converted as converted_row

_ID_MARK = 736_491_208  # stands for the device id while the statement is compiled (within a 32-bit id's range)


@functools.lru_cache(maxsize=16)
def _compiled(device_cls, alias: str, vendor: str):
    """The SQL of ``device_cls.objects.filter(id=…).first()`` on ``alias``, its parameters, where the id
    goes among them, the loaded fields' attnames, each column's converters (the compiler's own
    ``get_converters``; they are applied with the calling thread's connection, as the compiler does) and
    the range of ids the column holds."""
    queryset = device_cls.objects.using(alias).filter(id=_ID_MARK)
    if not queryset.ordered:  # what ``first()`` does
        queryset = queryset.order_by("pk")
    queryset = queryset[:1]
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    id_at = [i for i, value in enumerate(params) if value == _ID_MARK]
    if len(id_at) != 1 or compiler.klass_info is None or compiler.annotation_col_map:
        raise RuntimeError("the device query does not have one place for the id, or not the model's columns alone")
    select = compiler.select
    fields = [select[i][0].target for i in compiler.klass_info["select_fields"]]
    if len(select) != len(fields):
        raise RuntimeError("the device query reads more than the model's own columns")
    converters = tuple((position, tuple(functions), expression)
                       for position, (functions, expression) in compiler.get_converters([column for column, _, _ in select]).items())
    # The ids the column can hold: Django answers "no device" for any other without asking the database.
    low, high = connections[alias].ops.integer_field_range(device_cls._meta.get_field("id").get_internal_type())
    return sql, tuple(params), id_at[0], tuple(field.attname for field in fields), converters, low, high


def device_from_persistent_id(persistent_id: str):
    """``Device.from_persistent_id(persistent_id)`` (not for verifying: no row lock), without building the query."""
    try:
        model_label, device_id = persistent_id.rsplit("/", 1)
        app_label, model_name = model_label.split(".")
        device_cls = apps.get_model(app_label, model_name)
        if not issubclass(device_cls, Device):
            return None
        pk = int(device_id)
    except (ValueError, LookupError):
        return None
    alias = device_cls.objects.db
    connection = connections[alias]
    sql, params, id_at, attnames, converters, low, high = _compiled(device_cls, alias, connection.vendor)
    if (low is not None and pk < low) or (high is not None and pk > high):
        return None
    bound = list(params)
    bound[id_at] = pk
    with connection.cursor() as cursor:
        cursor.execute(sql, bound)
        row = cursor.fetchone()
    if row is None:
        return None
    return device_cls.from_db(alias, attnames, converted_row(row, converters, connection))


class OTPMiddleware(_OTPMiddleware):
    """``django_otp.middleware.OTPMiddleware`` with the device read of ``device_from_persistent_id``."""

    def _device_from_persistent_id(self, persistent_id):
        # django-otp's conversion of legacy persistent ids (full import paths), unchanged.
        if persistent_id.count(".") > 1:
            parts = persistent_id.split(".")
            persistent_id = ".".join((parts[-3], parts[-1]))
        return device_from_persistent_id(persistent_id)
