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


def _in_another_connection(work) -> threading.Thread:
    """Run `work` in a thread with its own database connection (another writer)."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


CSV = b"user_id,email,city\nA1,anna.nieuw@example.com,Gouda\nA2,bram@example.com,Leiden\n"


def test_an_import_never_overwrites_a_change_made_while_its_chunk_runs(monkeypatch):
    from profiles.importing import importer as importing
    from profiles.services import profile_update
    from tests.factories import ProfileFactory

    ProfileFactory(user_id="A1", email="anna@example.com", city="Delft")
    ProfileFactory(user_id="A2", email="bram@example.com", city="Delft")
    real_clean = importing.profile_data_clean
    rivals: list[threading.Thread] = []

    def clean_while_the_customer_changes_their_address(*args, **kwargs):
        if not rivals:  # the chunk holds its rows now; the customer confirms a new address

            def change():
                profile = Profile.objects.get(user_id="A2")
                profile_update(
                    profile=profile, data={"email": "bram.nieuw@example.com"}, source="customer"
                )

            rivals.append(_in_another_connection(change))
            # Give the customer's change every chance to land first: without the import's
            # row lock it would, and the import would then write back the old address.
            rivals[0].join(timeout=2)
        return real_clean(*args, **kwargs)

    monkeypatch.setattr(
        importing, "profile_data_clean", clean_while_the_customer_changes_their_address
    )
    importing.profiles_import(content=CSV, filename="k.csv", dry_run=False)
    rivals[0].join(timeout=30)
    bram = Profile.objects.get(user_id="A2")
    assert (bram.email, bram.city) == ("bram.nieuw@example.com", "Leiden")  # both changes kept
    assert bram.changes.filter(changes__has_key="email").exists()


def test_a_customer_created_meanwhile_is_merged_row_by_row(monkeypatch):
    from profiles.importing import importer as importing
    from profiles.services import profile_create

    real_clean = importing.profile_data_clean
    rivals: list[threading.Thread] = []

    def clean_while_the_shop_creates_a_customer(*args, **kwargs):
        if not rivals:
            rival = _in_another_connection(
                lambda: profile_create(
                    user_id="A2", data={"email": "bram@example.com", "city": "Delft"}, source="api"
                )
            )
            rival.join(timeout=30)  # committed before this chunk writes
            rivals.append(rival)
        return real_clean(*args, **kwargs)

    monkeypatch.setattr(importing, "profile_data_clean", clean_while_the_shop_creates_a_customer)
    report = importing.profiles_import(content=CSV, filename="k.csv", dry_run=False)
    assert (report.created, report.updated, report.error_count) == (1, 1, 0)
    bram = Profile.objects.get(user_id="A2")
    assert bram.city == "Leiden"
    assert bram.changes.filter(source="import", note="k.csv").exists()
