"""The NPS invitation in the campaign admin's preview and test mail: score links that
work, open a page marked as a preview, and record nothing."""

import re
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core import mail

from campaigns.models import Campaign, Delivery, Send
from events.models import Event
from surveys.models import Answer, Invitation, Survey
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def score_links(text: str) -> dict[str, str]:
    """score → path and query of its link."""
    links = re.findall(r"^(\d+): (http\S+)$", text, flags=re.MULTILINE)
    return {score: urlunsplit(urlsplit(url)._replace(scheme="", netloc="")) for score, url in links}


@pytest.fixture
def nps_preview_url():
    ProfileFactory(user_id="p-1", first_name="Femke", email="femke@example.com")
    campaign = Campaign.objects.get(surveys__key="nps")
    return f"/admin/campaigns/campaign/{campaign.pk}/preview/"


def nothing_recorded() -> bool:
    return not (
        Invitation.objects.exists()
        or Answer.objects.exists()
        or Send.objects.exists()
        or Delivery.objects.exists()
        or Event.objects.filter(name="Survey Answered").exists()
    )


def test_the_preview_shows_eleven_score_links_that_open_a_preview_page(
    nps_preview_url, marketer_client, client
):
    page = marketer_client.get(nps_preview_url, {"profile": "p-1", "language": "nl"})
    text = page.context["rendered"].text
    links = score_links(text)
    assert sorted(links, key=int) == [str(n) for n in range(11)]
    assert page.context["rendered"].html.count("/s/preview-") == 11
    # The links work for anyone the test mail reaches, logged in or not.
    opened = client.get(links["7"])
    assert opened.status_code == 200
    body = opened.content.decode()
    assert "Voorbeeld: zo ziet een klant de enquête" in body
    assert 'value="7" checked' in body
    assert "Hoe waarschijnlijk is het dat u ons aanbeveelt" in body
    # Answering goes all the way to the thank-you page, and is not recorded.
    thanked = client.post(links["7"], {"score": "9", "why": "Even proberen"})
    assert thanked.status_code == 200
    assert "Voorbeeld: dit antwoord is niet bewaard." in thanked.content.decode()
    assert "Dank u voor uw antwoord" in thanked.content.decode()
    assert client.post(links["7"], {"score": "11"}).status_code == 400
    assert nothing_recorded()


def test_the_test_mail_has_the_same_working_sample_links(
    nps_preview_url, marketer_client, marketer, client
):
    marketer.email = "marketeer@example.com"
    marketer.save()
    marketer_client.post(nps_preview_url, {"profile": "p-1", "language": "en", "test_send": "1"})
    [message] = mail.outbox
    links = score_links(message.body)
    assert sorted(links, key=int) == [str(n) for n in range(11)]
    assert client.get(links["10"]).status_code == 200
    assert nothing_recorded()


def test_a_sample_link_is_no_invitation_and_cannot_be_forged(
    nps_preview_url, marketer_client, client
):
    page = marketer_client.get(nps_preview_url, {"profile": "p-1", "language": "nl"})
    link = score_links(page.context["rendered"].text)["5"]
    path = link.split("?")[0]
    nps = Survey.objects.get(key="nps")
    exit_survey = Survey.objects.get(key="exit")
    # Another survey's number with this MAC, or a made-up MAC: not found.
    assert (
        client.get(path.replace(f"preview-{nps.pk}.", f"preview-{exit_survey.pk}.")).status_code
        == 404
    )
    token = path.strip("/").split("/")[-1]
    assert client.get(path.replace(token.split(".")[1], "x" * 43)).status_code == 404
    # A sample link never reaches the thank-you page of an invitation.
    assert client.get(f"{path}thanks/").status_code == 404
    assert nothing_recorded()
