"""Erasure (GDPR art. 17): nothing personal left anywhere, and no way back in unasked."""

import re

import pytest
from django.db import connection
from django.utils import timezone

from consent.models import Action, Source, SuppressionReason
from consent.selectors import address_hash, send_permission
from consent.services import ledger_append, soft_opt_in_grant, subscription_request
from profiles.importing import profiles_import
from profiles.models import ChangeSource, Profile
from profiles.services import email_change_request, profile_erase, profile_update, profile_upsert
from tests.factories import ProfileFactory

from .conftest import NOW

pytestmark = pytest.mark.django_db

EMAIL = "zebediah.quast@example.com"
PERSONAL = [
    EMAIL,
    "Zebediah",
    "Quast",
    "0612345678",
    "Wolkenkrabberlaan",
    "198.51.100.77",
    "QuastBrowser/1.0",
]


def every_value_in_the_database() -> str:
    """All text of every table, as one lower-cased string."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                parts.extend(str(value) for value in row if value is not None)
    return "\n".join(parts).lower()


@pytest.fixture
def person(newsletter, django_capture_on_commit_callbacks):
    profile = ProfileFactory(
        user_id="shop-42",
        email=EMAIL,
        first_name="Zebediah",
        last_name="Quast",
        phone="0612345678",
        street="Wolkenkrabberlaan",
        custom_attributes={"nickname": "Zebediah"},
    )
    profile_update(profile=profile, data={"city": "Utrecht"}, source=ChangeSource.API)
    ledger_append(
        profile=profile,
        topic=newsletter,
        action=Action.CONFIRMED,
        now=NOW,
        source=Source.FORM,
        ip="198.51.100.77",
        user_agent="QuastBrowser/1.0",
    )
    with django_capture_on_commit_callbacks(execute=True):
        email_change_request(profile=profile, new_email="zebediah.new@example.com", now=NOW)
    return profile


def test_erasure_leaves_no_personal_data_in_any_table(person):
    before = every_value_in_the_database()
    assert all(value.lower() in before for value in PERSONAL)  # the search can find them
    profile_erase(profile=person, now=timezone.now(), source=ChangeSource.API)
    after = every_value_in_the_database()
    left = [
        value
        for value in PERSONAL + ["zebediah.new@example.com", "shop-42"]
        if value.lower() in after
    ]
    assert left == []
    # What stays: the keyed hash of the address, the date and the reason.
    assert address_hash(EMAIL) in after
    assert re.search(r"\berased\b", after)


def test_the_erased_profile_is_an_empty_tombstone_and_its_links_die(person, client):
    from consent.links import link_token

    link = f"/preferences/{link_token(person, 'preferences')}/"
    erased = profile_erase(profile=person, now=timezone.now(), source=ChangeSource.API)
    assert erased.erased_at and erased.user_id.startswith("erased-")
    assert erased.email.endswith("@erased.invalid")
    assert client.get(link).status_code == 404
    assert not Profile.objects.filter(user_id="shop-42").exists()
    assert erased.changes.first().note == "personal data erased"


def test_an_erased_address_coming_back_is_not_contactable_without_a_new_double_opt_in(
    person, newsletter, client, django_capture_on_commit_callbacks
):
    from django.core import mail

    profile_erase(profile=person, now=timezone.now(), source=ChangeSource.API)
    # Back through an import, the shop's API and an order: known, but not contactable.
    profiles_import(
        content=f"user_id,email\nshop-43,{EMAIL}\n".encode(), filename="k.csv", dry_run=False
    )
    returned = Profile.objects.get(email=EMAIL)
    profile_upsert(user_id="shop-43", data={"first_name": "Zeb"}, source=ChangeSource.API)
    assert soft_opt_in_grant(profile=returned, now=timezone.now()) == []
    permission = send_permission(profile=returned, topic=newsletter, now=timezone.now())
    assert permission.reason == "suppressed:erased"
    # A new double opt-in, confirmed by the person, makes them contactable again.
    with django_capture_on_commit_callbacks(execute=True):
        subscription_request(
            topics=[newsletter], email=EMAIL, source=Source.FORM, now=timezone.now()
        )
    path = re.search(r"https://shop\.example\.nl(/confirm/\S+)", mail.outbox[-1].body).group(1)
    client.post(path, {"action": "confirm"})
    assert send_permission(profile=returned, topic=newsletter, now=timezone.now()).allowed


def test_erasing_twice_is_harmless(person):
    first = profile_erase(profile=person, now=timezone.now(), source=ChangeSource.API)
    again = profile_erase(profile=first, now=timezone.now(), source=ChangeSource.API)
    assert again.user_id == first.user_id
    from consent.models import Suppression

    assert Suppression.objects.filter(reason=SuppressionReason.ERASED).count() == 1


def test_an_admin_erasure_takes_two_steps(client, person):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_profile", "change_profile", "erase_profile"])
    )
    client.force_login(staff)
    changelist = reverse("admin:profiles_profile_changelist")
    step_one = client.post(
        changelist, {"action": "erase_selected", "_selected_action": [person.pk]}
    )
    assert step_one.status_code == 200 and EMAIL in step_one.content.decode()
    person.refresh_from_db()
    assert person.erased_at is None
    client.post(
        changelist, {"action": "erase_selected", "_selected_action": [person.pk], "confirm": "yes"}
    )
    person.refresh_from_db()
    assert person.erased_at is not None


def test_a_marketer_cannot_erase(marketer_client, person):
    from django.urls import reverse

    response = marketer_client.post(
        reverse("admin:profiles_profile_changelist"),
        {"action": "erase_selected", "_selected_action": [person.pk], "confirm": "yes"},
    )
    assert response.status_code in (200, 302)
    person.refresh_from_db()
    assert person.erased_at is None
