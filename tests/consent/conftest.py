import datetime as dt

import pytest

from consent.models import Topic
from tests.factories import ProfileFactory

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def newsletter(db) -> Topic:
    return Topic.objects.get(key="newsletter")


@pytest.fixture
def service_topic(db) -> Topic:
    return Topic.objects.get(key="service")


@pytest.fixture
def transactional_topic(db) -> Topic:
    return Topic.objects.get(key="transactional")


@pytest.fixture
def customer(db):
    return ProfileFactory(email="anna@example.com", first_name="Anna", language="nl")
