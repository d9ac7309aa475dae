"""An address is a mailbox: one spelling per mailbox, and no address that is not one."""

import datetime as dt
import importlib

import pytest
from django.core.exceptions import ValidationError

from consent.models import Suppression, SuppressionReason
from consent.selectors import address_hash, suppression_active
from consent.services import suppression_add
from profiles.models import ChangeSource, Profile
from profiles.services import profile_create
from profiles.validation import email_normalise

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "address", ["test@[127.0.0.1]", "test@[IPv6:::1]", "root@localhost", "jan@intranet"]
)
def test_an_ip_address_or_a_name_without_a_dot_is_no_customers_domain(address):
    with pytest.raises(ValidationError):
        email_normalise(address)


def test_an_international_domain_has_one_spelling_whichever_way_it_is_written():
    assert email_normalise("Jan@Bücher.DE") == "jan@xn--bcher-kva.de"
    assert email_normalise("jan@xn--bcher-kva.de") == "jan@xn--bcher-kva.de"


def test_the_same_mailbox_written_two_ways_is_one_customer():
    profile_create(user_id="A1", data={"email": "jan@bücher.de"}, source=ChangeSource.API)
    with pytest.raises(ValidationError) as refused:
        profile_create(
            user_id="A2", data={"email": "JAN@xn--bcher-kva.de"}, source=ChangeSource.API
        )
    assert set(refused.value.message_dict) == {"email"}


def test_a_bounce_reported_in_either_spelling_suppresses_the_mailbox():
    profile = profile_create(user_id="A1", data={"email": "jan@bücher.de"}, source="api")
    suppression_add(
        reason=SuppressionReason.HARD_BOUNCE, now=NOW, email="jan@xn--bcher-kva.de", note="ESP"
    )
    assert suppression_active(profile) is not None


def test_addresses_stored_in_the_other_spelling_are_rewritten_with_their_suppressions():
    from django.apps import apps

    migration = importlib.import_module("consent.migrations.0008_addresses_in_one_spelling")
    profile = profile_create(user_id="A1", data={"email": "old@example.com"}, source="api")
    Profile.objects.filter(pk=profile.pk).update(email="jan@bücher.de")  # as stored before
    old_hash = migration._hash("jan@bücher.de")
    Suppression.objects.create(
        email_hash=old_hash, reason=SuppressionReason.HARD_BOUNCE, created_at=NOW
    )
    migration.forwards(apps, None)
    profile.refresh_from_db()
    assert profile.email == "jan@xn--bcher-kva.de"
    assert Suppression.objects.get().email_hash == address_hash("jan@bücher.de")
    assert suppression_active(profile) is not None
