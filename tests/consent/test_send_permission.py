"""The one question every send path asks: may this customer get this mail now?"""

import datetime as dt

import pytest

from consent.models import Action, Source, SuppressionReason
from consent.selectors import Permission, send_permission
from consent.services import (
    consent_withdraw,
    ledger_append,
    preferences_update,
    soft_opt_in_grant,
    suppression_add,
    unsubscribe_everything,
)

from .conftest import NOW

pytestmark = pytest.mark.django_db


def may(profile, topic, now=NOW):
    return send_permission(profile=profile, topic=topic, now=now)


def test_commercial_mail_needs_a_permission(customer, newsletter):
    assert may(customer, newsletter).reason == "no_consent"
    ledger_append(
        profile=customer, topic=newsletter, action=Action.REQUESTED, now=NOW, source=Source.FORM
    )
    assert not may(customer, newsletter).allowed  # pending is not a permission
    ledger_append(
        profile=customer, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    assert may(customer, newsletter) == Permission(True, basis="double_opt_in")


def test_service_mail_needs_no_permission_but_honours_the_customers_no(customer, service_topic):
    assert may(customer, service_topic).allowed
    preferences_update(profile=customer, paused_until=None, max_frequency="", no_service_mail=True)
    assert may(customer, service_topic).reason == "no_service_mail"
    preferences_update(profile=customer, paused_until=None, max_frequency="", no_service_mail=False)
    consent_withdraw(profile=customer, topic=service_topic, now=NOW, source=Source.ONE_CLICK)
    assert may(customer, service_topic).reason == "withdrawn"


def test_transactional_mail_goes_unless_the_address_bounced(customer, transactional_topic):
    unsubscribe_everything(profile=customer, now=NOW, source=Source.PREFERENCES)
    assert may(customer, transactional_topic).allowed
    suppression_add(profile=customer, reason=SuppressionReason.HARD_BOUNCE, now=NOW)
    assert may(customer, transactional_topic).reason == "suppressed:hard_bounce"


def test_unsubscribing_from_everything_stops_service_and_commercial_mail(
    customer, newsletter, service_topic
):
    ledger_append(
        profile=customer, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    unsubscribe_everything(profile=customer, now=NOW, source=Source.PREFERENCES)
    assert may(customer, newsletter).reason == "suppressed:unsubscribed_all"
    assert may(customer, service_topic).reason == "suppressed:unsubscribed_all"


def test_a_pause_holds_until_the_end_of_that_day_in_the_customers_zone(customer, newsletter):
    ledger_append(
        profile=customer, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    preferences_update(
        profile=customer, paused_until=dt.date(2026, 12, 1), max_frequency="", no_service_mail=False
    )
    assert may(customer, newsletter, now=NOW).reason == "paused"
    # 1 December, 23:30 in Amsterdam is still paused; 2 December 00:30 is not.
    assert (
        may(customer, newsletter, now=dt.datetime(2026, 12, 1, 22, 30, tzinfo=dt.UTC)).reason
        == "paused"
    )
    assert may(customer, newsletter, now=dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)).allowed


def test_the_soft_opt_in_applies_only_where_allowed_and_never_after_a_no(customer, newsletter):
    assert soft_opt_in_grant(profile=customer, now=NOW) == [newsletter]
    permission = may(customer, newsletter)
    assert (permission.allowed, permission.basis) == (True, "soft_opt_in")
    consent_withdraw(profile=customer, topic=newsletter, now=NOW, source=Source.ONE_CLICK)
    # A later order does not undo the customer's no.
    assert soft_opt_in_grant(profile=customer, now=NOW + dt.timedelta(days=30)) == []
    assert may(customer, newsletter) == Permission(False, "withdrawn")


def test_no_soft_opt_in_for_someone_on_the_do_not_contact_list(customer, newsletter):
    suppression_add(profile=customer, reason=SuppressionReason.COMPLAINT, now=NOW)
    assert soft_opt_in_grant(profile=customer, now=NOW) == []


def test_the_soft_opt_in_is_in_the_ledger_as_such(customer, newsletter):
    soft_opt_in_grant(profile=customer, now=NOW, note="order 1001")
    from consent.models import ConsentEvent

    event = ConsentEvent.objects.get(profile=customer)
    assert (event.action, event.source, event.note) == ("soft_opt_in", "order", "order 1001")


def test_a_soft_opt_in_stops_counting_once_the_topic_no_longer_allows_it(customer, newsletter):
    from profiles.selections import selection_profiles

    def contactable():
        definition = {"kind": "contactable", "params": {"topic": newsletter.key}}
        return list(selection_profiles(definition, now=NOW))

    soft_opt_in_grant(profile=customer, now=NOW)
    assert may(customer, newsletter).allowed
    assert contactable() == [customer]
    newsletter.soft_opt_in_allowed = False
    newsletter.save()
    assert may(customer, newsletter) == Permission(False, "soft_opt_in_not_allowed")
    assert contactable() == []
