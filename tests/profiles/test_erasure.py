"""Erasure reaches what the profiles app keeps beside the profile: the admin's recent
actions and the imports kept for their report or their confirmation."""

import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from profiles.importing import import_job_create
from profiles.models import ChangeSource, ImportJob, Profile
from profiles.services import profile_erase
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

EMAIL = "zebediah.quast@example.com"


@pytest.fixture
def person():
    return ProfileFactory(user_id="shop-42", email=EMAIL, first_name="Zebediah")


def log(profile: Profile, user) -> LogEntry:
    return LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(Profile),
        object_id=str(profile.pk),
        object_repr=str(profile),
        action_flag=CHANGE,
        change_message=json.dumps([{"changed": {"fields": ["First name", "City"]}}]),
    )


def test_the_admins_recent_actions_about_the_person_are_scrubbed(person):
    staff = UserFactory(is_staff=True)
    theirs = log(person, staff)
    other = log(ProfileFactory(user_id="shop-77"), staff)
    profile_erase(profile=person, now=timezone.now(), source=ChangeSource.ADMIN)
    theirs.refresh_from_db()
    assert (theirs.object_repr, theirs.change_message) == ("erased", "")
    assert (theirs.user, theirs.action_flag) == (staff, CHANGE)  # who did what, when stays
    other.refresh_from_db()
    assert other.object_repr == "shop-77" and other.change_message


def test_kept_imports_lose_the_persons_rows_and_address(person, django_capture_on_commit_callbacks):
    ProfileFactory(user_id="shop-77", email="bram@example.com")
    csv = (
        "user_id,email,city,phone\n"
        f"shop-42,{EMAIL},Gouda,\n"
        "shop-77,bram@example.com,Leiden,\n"
        "shop-42,,,call me\n"
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        dry_run = import_job_create(filename="k.csv", content=csv, dry_run=True, actor=None)
        unrelated = import_job_create(
            filename="l.csv",
            content=b"user_id,email\nshop-88,cor@example.com\n",
            dry_run=True,
            actor=None,
        )
    dry_run.refresh_from_db()
    assert dry_run.status == "done" and dry_run.error_count == 1
    assert {p["user_id"] for p in dry_run.preview} == {"shop-42", "shop-77"}
    # An older import whose file is gone, with the address in a refusal and the preview.
    old = ImportJob.objects.create(
        filename="oud.csv",
        content=b"",
        dry_run=False,
        status="done",
        preview=[
            {"row": 2, "user_id": "shop-42", "action": "update", "changes": {"city": ["", "X"]}},
            {"row": 3, "user_id": "shop-77", "action": "update", "changes": {}},
        ],
        errors=[
            {"row": 4, "field": "email", "message": f"“{EMAIL.upper()}” is al van een ander."},
            {"row": 5, "field": "phone", "message": "“bel me” is geen telefoonnummer."},
        ],
    )

    profile_erase(profile=person, now=timezone.now(), source=ChangeSource.API)

    dry_run.refresh_from_db()
    assert bytes(dry_run.content) == b""  # the file had their rows
    assert [p["user_id"] for p in dry_run.preview] == ["shop-77"]
    assert [(e["row"], e["message"]) for e in dry_run.errors] == [(4, "[erased]")]
    old.refresh_from_db()
    assert [p["user_id"] for p in old.preview] == ["shop-77"]
    assert [e["message"] for e in old.errors] == [
        "“[erased]” is al van een ander.",
        "“bel me” is geen telefoonnummer.",
    ]
    unrelated.refresh_from_db()
    assert bytes(unrelated.content).startswith(b"user_id,email")  # nobody else's file goes
    everything = json.dumps(list(ImportJob.objects.values("preview", "errors", "failure")))
    assert "zebediah" not in everything.lower() and "shop-42" not in everything
