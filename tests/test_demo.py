"""The demo data `make run` loads: realistic, varied, and loaded once."""

import pytest
from django.core.management import call_command

from consent.models import ConsentState, Suppression
from profiles.models import Profile

pytestmark = pytest.mark.django_db


def test_demo_data_is_varied_and_loaded_only_once():
    call_command("load_demo", count=120)
    profiles = Profile.objects.filter(user_id__startswith="demo-")
    assert profiles.count() == 120
    assert {"nl", "en"} <= set(profiles.values_list("language", flat=True))
    assert (
        profiles.exclude(country="NL").exists()
        and profiles.exclude(timezone="Europe/Amsterdam").exists()
    )
    assert profiles.exclude(birth_date=None).count() == 120
    statuses = set(ConsentState.objects.values_list("status", flat=True))
    assert {"confirmed", "pending", "withdrawn"} <= statuses
    assert ConsentState.objects.filter(basis="soft_opt_in").exists()
    assert Suppression.objects.filter(reason="hard_bounce").exists()
    counts = (Profile.objects.count(), ConsentState.objects.count(), Suppression.objects.count())
    call_command("load_demo", count=120)
    assert (
        Profile.objects.count(),
        ConsentState.objects.count(),
        Suppression.objects.count(),
    ) == counts
