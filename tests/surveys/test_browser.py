"""Answering the NPS survey from the invitation mail, in Dutch, in headless Chromium."""

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail

from surveys.models import Answer
from tests.campaigns.conftest import at, only_campaigns, tick, track
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_answer_the_nps_survey_from_the_mail_on_a_phone(browser_page, live_server):
    only_campaigns("nps")
    buyer = ProfileFactory(email="sanne@example.com", first_name="Sanne", language="nl")
    track(buyer, "Order Completed", at(), order_id="1", total=42)
    tick(at(days=14, minutes=5))
    [message] = mail.outbox
    nine = re.search(r"^9: (\S+)$", message.body, flags=re.MULTILINE).group(1)
    parts = urlsplit(nine)
    page = browser_page
    page.goto(f"{live_server.url}{parts.path}?{parts.query}")
    page.get_by_role(
        "heading", name=re.compile("Hoe waarschijnlijk is het dat u ons aanbeveelt")
    ).wait_for()
    assert page.locator('input[name="score"][value="9"]').is_checked()
    assert not Answer.objects.exists()  # opening the link records nothing
    page.locator("label.score", has_text="10").click()  # changes her mind before sending
    page.get_by_label("Waarom? (mag leeg blijven)").fill("Altijd snel geleverd")
    page.get_by_role("button", name="Verstuur mijn antwoord").click()
    page.get_by_role("heading", name="Dank u voor uw antwoord").wait_for()
    answer = Answer.objects.get()
    assert (answer.score, answer.why, answer.profile_id) == (10, "Altijd snel geleverd", buyer.pk)
