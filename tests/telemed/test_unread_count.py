"""The navigation's unread count, read with a statement compiled once (issue 11,
consultations.selectors.notification_unread_count): the ORM's count, one query."""

import pytest
from django.utils import timezone

from consultations.models import Notification
from consultations.selectors import notification_unread_count
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_unread_count_is_the_orms_count(django_assert_num_queries):
    user, other = UserFactory(), UserFactory()
    for who, read in ((user, None), (user, None), (user, timezone.now()), (other, None)):
        Notification.objects.create(user=who, created_at=timezone.now(), subject="<x>", body="&", read_at=read)
    with django_assert_num_queries(1):
        count = notification_unread_count(user=user)
    assert count == Notification.objects.filter(user=user, read_at__isnull=True).count() == 2
    assert notification_unread_count(user=UserFactory()) == 0
