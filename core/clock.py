"""The customer's local time: one function and one fallback for every part of Klantbeeld
that asks what time or date it is where the customer is (send windows, pauses, birthdays).

Times are stored in UTC; a customer's zone is an IANA name on their profile. A name that
is empty or unknown (validation refuses one, but old data or a removed zone may still
hold it) falls back to the shop's own zone, TIME_ZONE: the customer is most likely where
the shop is, and a mail must neither be lost nor sent at night because of it.
"""

import datetime as dt
import zoneinfo

from django.conf import settings


def customer_zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone of that IANA name, or the shop's own when the name is empty or unknown.
    (ZoneInfo keeps the zones it made: asking again costs a dictionary look-up.)"""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def customer_local(zone_name: str, now: dt.datetime) -> dt.datetime:
    """`now` as the clock reads where the customer is (zone_name: their profile's)."""
    return now.astimezone(customer_zone(zone_name))
