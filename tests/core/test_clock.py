"""The customer's local time, with the one fallback for a zone that is missing or bad."""

import datetime as dt

import pytest

from core.clock import customer_local, customer_zone

NOON_UTC = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)


def test_a_customer_far_away_has_their_own_clock():
    assert customer_local("Asia/Tokyo", NOON_UTC).hour == 21
    assert customer_local("America/New_York", NOON_UTC).hour == 8


@pytest.mark.parametrize("bad", ["", "Mars/Olympus_Mons", "../../etc/passwd", "Europe/", "UTC+2"])
def test_a_missing_or_bad_zone_falls_back_to_the_shops(settings, bad):
    settings.TIME_ZONE = "Europe/Amsterdam"
    assert customer_zone(bad).key == "Europe/Amsterdam"
    assert customer_local(bad, NOON_UTC).hour == 14  # summer time in Amsterdam
