"""The API's django-filter backend: a filter value is what the schema says, or 400 (issue 14).

- A number filter of this API is always an object id: ``?facility=0.5`` or ``?facility=1e30`` used to be
  taken as a decimal (or reach SQLite as ``OverflowError`` / PostgreSQL as ``bigint out of range``, a
  500). ``IdFilter`` (and every ``NumberFilter``) now accepts only a whole number a 64-bit column holds,
  and the schema says ``integer`` with those bounds.
- A yes/no filter takes ``true`` or ``false``; ``?open=null`` used to be read as "no filter".
- A filter by a related object (``filterset_fields = ["facility"]``) matches nothing for an id that does
  not exist, as a number filter does, instead of 400 — which also told an outsider which ids exist
  outside their scope (JL-O1).
- A filter given with an empty value (``?facility=``) is refused, except free text (a text filter with a
  pattern in the schema sets ``refuse_empty``): an empty value
  used to be read as "no filter", which the schema (integer, boolean, date-time, an enumeration) does
  not allow. Leave the parameter out instead.

Each refusal is 400 ``invalid`` naming the parameter (``telemed.errors``): they used to succeed only by
mistake (docs/api-changelog.md).
"""

from __future__ import annotations

from django.core.validators import DecimalValidator, MaxValueValidator, MinValueValidator
from django.utils.translation import gettext as _
from django_filters import BooleanFilter, CharFilter, ModelChoiceFilter, NumberFilter
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

BIGINT_MAX = 2**63 - 1
BOOLEAN_VALUES = {"true", "false"}


@extend_schema_field({"type": "integer", "format": "int64", "minimum": -BIGINT_MAX - 1, "maximum": BIGINT_MAX})
class IdFilter(NumberFilter):
    """An object id (a whole number); the backend bounds it."""


class FilterBackend(DjangoFilterBackend):
    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is None:
            return None
        for name, item in list(filterset.filters.items()):
            if type(item) is ModelChoiceFilter and "__" not in item.field_name:
                pk = item.model._meta.get_field(item.field_name).related_model._meta.pk
                integer = pk.get_internal_type() in {"AutoField", "BigAutoField", "IntegerField", "BigIntegerField",
                                                     "PositiveIntegerField", "SmallIntegerField"}
                plain = (IdFilter if integer else CharFilter)(field_name=item.field_name, lookup_expr=item.lookup_expr)
                plain.model, plain.parent = item.model, filterset
                filterset.filters[name] = plain
        problems = {}
        for name, item in filterset.filters.items():
            values = request.query_params.getlist(name)
            if isinstance(item, NumberFilter):
                field = item.field
                if not getattr(field, "_whole_and_bounded", False):
                    field.validators.extend([DecimalValidator(max_digits=19, decimal_places=0),
                                             MinValueValidator(-BIGINT_MAX - 1), MaxValueValidator(BIGINT_MAX)])
                    field._whole_and_bounded = True
            if not values or (isinstance(item, CharFilter) and not getattr(item, "refuse_empty", False)):
                continue
            if any(value == "" for value in values):
                problems[name] = [_("请提供一个值，或不带该参数。")]
            elif isinstance(item, BooleanFilter) and any(value.lower() not in BOOLEAN_VALUES for value in values):
                problems[name] = [_("须为 true 或 false。")]
        if problems:
            raise ValidationError(problems)
        return filterset
