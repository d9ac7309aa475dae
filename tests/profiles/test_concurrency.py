"""Two writers at once, on the real database."""

import threading

import pytest
from django.db import connection

from profiles.models import Profile
from profiles.services import profile_upsert

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_two_simultaneous_upserts_of_a_new_customer_make_one_profile():
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def upsert(city: str) -> None:
        try:
            barrier.wait()
            profile_upsert(
                user_id="RACE-1", data={"email": "race@example.com", "city": city}, source="api"
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=upsert, args=(c,)) for c in ("Delft", "Gouda")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    profile = Profile.objects.get(user_id="RACE-1")
    assert profile.city in ("Delft", "Gouda")
    assert profile.changes.filter(created=True).count() == 1
