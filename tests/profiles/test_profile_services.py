"""The master list's rules, as the shop and a marketer meet them through the services."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from profiles.models import ChangeSource, Profile, ProfileChange
from profiles.services import history_erase, profile_create, profile_update, profile_upsert
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def create(user_id: str = "1001", **data):
    data.setdefault("email", f"{user_id}@example.com")
    return profile_create(user_id=user_id, data=data, source=ChangeSource.API, now=NOW)


def refused_fields(excinfo: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return set(excinfo.value.message_dict)


def test_a_new_customer_is_kept_with_clean_values():
    profile = create(
        "1001",
        email="  Anna.de.Vries@Example.NL ",
        first_name=" Anna ",
        last_name="de Vries",
        birth_date="14-02-1990",
        postal_code="1012ab",
        country="NL",
        phone="+31 6 1234 5678",
        language="nl-NL",
        timezone="Europe/Amsterdam",
    )
    profile.refresh_from_db()
    assert profile.email == "anna.de.vries@example.nl"
    assert profile.first_name == "Anna"
    assert profile.birth_date == dt.date(1990, 2, 14)
    assert profile.postal_code == "1012 AB"
    assert profile.language == "nl"
    assert profile.lifecycle_stage == "prospect"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-address"),
        ("email", ""),
        ("timezone", "Europe/Amsterdm"),
        ("timezone", "CET+99"),
        ("birth_date", "2027-01-01"),
        ("birth_date", "1899-12-31"),
        ("birth_date", "31-31-1990"),
        ("postal_code", "1012"),
        ("postal_code", "0123 AB"),
        ("postal_code", "1234 SS"),
        ("language", "fr"),
        ("country", "Atlantis"),
        ("phone", "call me"),
        ("lifecycle_stage", "vip"),
        ("first_name", "x" * 151),
        ("order_count", 5),
        ("favourite_colour", "blue"),
    ],
)
def test_a_bad_value_is_refused_with_a_message_naming_the_field(field, value):
    data = {"email": "ok@example.com", "country": "NL", field: value}
    with pytest.raises(ValidationError) as excinfo:
        profile_create(user_id="1001", data=data, source=ChangeSource.API, now=NOW)
    assert field in refused_fields(excinfo)
    assert all(excinfo.value.message_dict[field])
    assert not Profile.objects.exists()
    assert not ProfileChange.objects.exists()


def test_every_bad_field_is_named_at_once():
    with pytest.raises(ValidationError) as excinfo:
        create("1001", email="nope", timezone="Mars/Olympus", birth_date="2999-01-01")
    assert refused_fields(excinfo) == {"email", "timezone", "birth_date"}


def test_the_message_speaks_the_customers_language():
    from django.utils import translation

    with translation.override("nl"), pytest.raises(ValidationError) as excinfo:
        create("1001", postal_code="12", country="NL")
    assert "postcode" in excinfo.value.message_dict["postal_code"][0].lower()


def test_postal_codes_follow_the_country():
    assert create("1", postal_code="1000", country="BE").postal_code == "1000"
    assert create("2", postal_code="10115", country="DE").postal_code == "10115"
    with pytest.raises(ValidationError) as excinfo:
        create("3", postal_code="1012 AB", country="DE")
    assert "postal_code" in refused_fields(excinfo)


def test_an_address_belongs_to_one_customer_whatever_its_case():
    create("1001", email="piet@example.com")
    with pytest.raises(ValidationError) as excinfo:
        create("1002", email="PIET@Example.com")
    assert refused_fields(excinfo) == {"email"}
    assert Profile.objects.count() == 1


def test_the_database_itself_refuses_a_second_customer_with_the_same_address():
    ProfileFactory(email="piet@example.com")
    with pytest.raises(IntegrityError):
        Profile.objects.create(user_id="other", email="Piet@example.com")


def test_a_user_id_is_unique_and_required():
    create("1001")
    with pytest.raises(ValidationError) as excinfo:
        create("1001", email="other@example.com")
    assert refused_fields(excinfo) == {"user_id"}
    with pytest.raises(ValidationError) as excinfo:
        create("  ", email="blank@example.com")
    assert refused_fields(excinfo) == {"user_id"}


@pytest.mark.parametrize("user_id", ["10\x0001", "10\x0701", "\x1b[31m1001"])
def test_a_user_id_with_control_characters_is_refused_by_name(user_id):
    with pytest.raises(ValidationError) as excinfo:
        create(user_id, email="ctrl@example.com")
    assert refused_fields(excinfo) == {"user_id"}
    with pytest.raises(ValidationError) as excinfo:
        profile_upsert(user_id=user_id, data={"email": "ctrl@example.com"}, source="api")
    assert refused_fields(excinfo) == {"user_id"}
    assert not Profile.objects.exists()


def test_an_update_records_what_changed_from_what_to_what_and_by_whom():
    marketer = UserFactory()
    profile = create("1001", first_name="Jan", city="Utrecht")
    changes = profile_update(
        profile=profile,
        data={"first_name": "Johan", "city": "Utrecht"},
        source=ChangeSource.ADMIN,
        actor=marketer,
        now=NOW + dt.timedelta(hours=1),
    )
    assert changes == {"first_name": ["Jan", "Johan"]}
    latest = profile.changes.first()
    assert latest.changes == {"first_name": ["Jan", "Johan"]}
    assert latest.source == "admin"
    assert latest.actor == marketer
    assert latest.changed_at == NOW + dt.timedelta(hours=1)
    creation = profile.changes.last()
    assert creation.created is True
    assert creation.changes["city"] == [None, "Utrecht"]


def test_an_unchanged_update_writes_no_history():
    profile = create("1001", first_name="Jan")
    assert profile_update(profile=profile, data={"first_name": "Jan"}, source="api") == {}
    assert profile.changes.count() == 1


def test_a_refused_update_saves_nothing():
    profile = create("1001", first_name="Jan", city="Utrecht")
    with pytest.raises(ValidationError):
        profile_update(
            profile=profile, data={"first_name": "Johan", "timezone": "Nowhere"}, source="api"
        )
    profile.refresh_from_db()
    assert profile.first_name == "Jan"
    assert profile.changes.count() == 1


def test_the_address_cannot_be_cleared_or_taken_from_someone_else():
    create("1001", email="a@example.com")
    profile = create("1002", email="b@example.com")
    with pytest.raises(ValidationError):
        profile_update(profile=profile, data={"email": ""}, source="api")
    with pytest.raises(ValidationError):
        profile_update(profile=profile, data={"email": "A@example.com"}, source="api")
    profile.refresh_from_db()
    assert profile.email == "b@example.com"


def test_a_postal_code_alone_is_checked_against_the_known_country():
    profile = create("1001", country="NL")
    with pytest.raises(ValidationError):
        profile_update(profile=profile, data={"postal_code": "10115"}, source="api")


def test_custom_attributes_need_no_migration_and_merge():
    profile = create("1001", custom_attributes={"shoe_size": 43, "newsletter_source": "popup"})
    profile_update(
        profile=profile,
        data={"custom_attributes": {"pet": "dog", "newsletter_source": None}},
        source="api",
    )
    profile.refresh_from_db()
    assert profile.custom_attributes == {"shoe_size": 43, "pet": "dog"}


def test_upsert_creates_then_updates_by_user_id():
    profile, created, _ = profile_upsert(
        user_id="1001", data={"email": "x@example.com", "city": "Delft"}, source="api"
    )
    assert created
    again, created, changes = profile_upsert(user_id="1001", data={"city": "Leiden"}, source="api")
    assert changes == {"city": ["Delft", "Leiden"]}
    assert not created
    assert again.pk == profile.pk
    again.refresh_from_db()
    assert again.city == "Leiden"


def test_a_new_customer_without_an_address_is_refused_by_upsert():
    with pytest.raises(ValidationError) as excinfo:
        profile_upsert(user_id="1001", data={"city": "Delft"}, source="api")
    assert "email" in refused_fields(excinfo)


def test_erasing_the_history_keeps_what_changed_when_but_not_the_values():
    profile = create("1001", first_name="Jan", email="jan@example.com")
    profile_update(
        profile=profile,
        data={"email": "jan2@example.com"},
        source="customer",
        now=NOW + dt.timedelta(hours=1),
    )
    assert history_erase(profile=profile) == 2
    for change in profile.changes.all():
        assert change.erased
        flat = str(change.changes)
        assert "jan" not in flat.lower()
    assert set(profile.changes.first().changes) == {"email"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("city", "Utr\x00echt"),
        ("first_name", "Jan\x07"),
        ("custom_attributes", {"note": "a\x00b"}),
        ("custom_attributes", {"bad\x00key": 1}),
        ("email", ("x" * 250) + "@example.com"),
    ],
)
def test_values_the_database_would_choke_on_are_refused_by_name(field, value):
    with pytest.raises(ValidationError) as excinfo:
        create("1001", **{field: value})
    assert field in refused_fields(excinfo)
    assert not Profile.objects.exists()


def test_a_new_country_must_fit_the_postal_code_that_stays():
    profile = create("1001", country="NL", postal_code="1012 AB")
    with pytest.raises(ValidationError) as excinfo:
        profile_update(profile=profile, data={"country": "DE"}, source="api")
    assert refused_fields(excinfo) == {"postal_code"}
    profile.refresh_from_db()
    assert str(profile.country) == "NL"
    profile_update(profile=profile, data={"country": "DE", "postal_code": "10115"}, source="api")


def test_today_is_the_shops_today_not_utcs():
    # 23:30 UTC on 23 November is already 24 November in Amsterdam.
    late = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)
    profile = profile_create(
        user_id="1001",
        data={"email": "a@example.com", "birth_date": "2026-11-24"},
        source="admin",
        now=late,
    )
    assert str(profile.birth_date) == "2026-11-24"


def test_a_user_id_taken_meanwhile_refuses_the_rekey_as_a_field_error(monkeypatch):
    """Someone who subscribed on the site gets the shop's user id; another customer takes
    that user id between the check and the write (the unique index has the last word):
    the shop's call is refused naming user_id, not answered with a database error."""
    from django.db.models import QuerySet

    from profiles.services import OWN_KEY_PREFIX, profile_rekey

    waiting = ProfileFactory(user_id=f"{OWN_KEY_PREFIX}1", email="los@example.com")
    ProfileFactory(user_id="shop-7", email="other@example.com")
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # the check saw it free
    with pytest.raises(ValidationError) as refused:
        profile_rekey(profile=waiting, user_id="shop-7", source=ChangeSource.API, now=NOW)
    assert set(refused.value.message_dict) == {"user_id"}
    waiting.refresh_from_db()
    assert waiting.user_id == f"{OWN_KEY_PREFIX}1"
