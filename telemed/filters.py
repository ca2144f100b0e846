"""The API's django-filter backend: a number filter never reaches the database out of range.

A query parameter such as ``?facility=99999999999999999999999`` used to reach SQLite (``OverflowError``)
or PostgreSQL (``bigint out of range``) and answer 500. Every ``NumberFilter`` here accepts only what a
64-bit column holds; anything else is 400 ``invalid`` naming the parameter (issue 14, the contract).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django_filters import NumberFilter
from django_filters.rest_framework import DjangoFilterBackend

BIGINT_MAX = 2**63 - 1


class FilterBackend(DjangoFilterBackend):
    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            for item in filterset.filters.values():
                if isinstance(item, NumberFilter):
                    field = item.field
                    if not any(isinstance(v, MaxValueValidator) and v.limit_value == BIGINT_MAX for v in field.validators):
                        field.validators.extend([MinValueValidator(-BIGINT_MAX - 1), MaxValueValidator(BIGINT_MAX)])
        return filterset
