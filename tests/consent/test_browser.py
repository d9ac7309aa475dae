"""The customer's pages in a real browser (headless Chromium): confirm, choose, leave."""

import re

import pytest
from django.core import mail

from consent.links import link_token
from consent.models import Action, ConsentState, Source, Status, Topic
from consent.services import ledger_append
from profiles.models import Profile
from tests.factories import ProfileFactory

from .conftest import NOW

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_subscribe_and_confirm_with_the_button(browser_page, live_server):
    page = browser_page
    page.goto(f"{live_server.url}/subscribe/?lang=nl")
    page.get_by_label("E-mailadres").fill("lotte@example.com")
    page.get_by_label("Voornaam").fill("Lotte")
    page.get_by_role("checkbox", name=re.compile("Nieuwsbrief")).check()
    page.get_by_role("button", name="Aanmelden").click()
    page.get_by_role("heading", name="Kijk in uw mail").wait_for()

    (message,) = mail.outbox
    path = re.search(r"https://shop\.example\.nl(/confirm/\S+)", message.body).group(1)
    page.goto(live_server.url + path)
    page.get_by_role("heading", name="Bevestig uw aanmelding").wait_for()
    profile = Profile.objects.get(email="lotte@example.com")
    newsletter = Topic.objects.get(key="newsletter")
    assert ConsentState.objects.get(profile=profile, topic=newsletter).status == Status.PENDING

    page.get_by_role("button", name="Ja, bevestig mijn aanmelding").click()
    page.get_by_role("heading", name="Dank u, uw aanmelding is bevestigd").wait_for()
    assert ConsentState.objects.get(profile=profile, topic=newsletter).status == Status.CONFIRMED


def test_change_preferences_and_see_it_confirmed(browser_page, live_server):
    page = browser_page
    profile = ProfileFactory(email="mila@example.com", first_name="Mila", language="nl")
    newsletter = Topic.objects.get(key="newsletter")
    ledger_append(
        profile=profile, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    page.goto(f"{live_server.url}/preferences/{link_token(profile, 'preferences')}/")

    page.get_by_label("Achternaam").fill("Jansen")
    page.get_by_role("button", name="Mijn gegevens opslaan").click()
    page.get_by_text("Uw gegevens zijn opgeslagen.").wait_for()

    page.get_by_role("checkbox", name=re.compile("Nieuwsbrief")).uncheck()
    page.get_by_role("button", name="Mijn keuzes opslaan").click()
    page.get_by_text("Uw keuzes zijn opgeslagen.").wait_for()
    assert not page.get_by_role("checkbox", name=re.compile("Nieuwsbrief")).is_checked()

    page.get_by_label("hoogstens één keer per week").check()
    page.get_by_role("button", name="Opslaan", exact=True).click()
    page.get_by_text("Uw keuzes zijn opgeslagen.").wait_for()

    profile.refresh_from_db()
    assert profile.last_name == "Jansen"
    assert ConsentState.objects.get(profile=profile, topic=newsletter).status == Status.WITHDRAWN
    assert profile.contact_preference.max_frequency == "weekly"


def test_unsubscribe_from_everything(browser_page, live_server):
    page = browser_page
    profile = ProfileFactory(email="noor@example.com", language="nl")
    newsletter = Topic.objects.get(key="newsletter")
    ledger_append(
        profile=profile, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    page.goto(f"{live_server.url}/preferences/{link_token(profile, 'preferences')}/")
    page.get_by_role("button", name="Overal voor afmelden").click()
    page.get_by_text("U bent overal voor afgemeld").first.wait_for()
    assert ConsentState.objects.get(profile=profile, topic=newsletter).status == Status.WITHDRAWN
    assert profile.suppressions.filter(reason="unsubscribed_all").exists()
