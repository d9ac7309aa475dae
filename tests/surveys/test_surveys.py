"""Surveys: NPS arithmetic, the invitation mail's score links, one answer per invitation,
what an answer feeds (profile, event, campaigns), and the report."""

import datetime as dt
import re

import pytest
from django.core import mail

from campaigns.models import Campaign, Template
from consent.models import Topic
from core.apikeys import api_key_create
from events.models import Event
from surveys.models import Answer, Invitation, Survey
from surveys.nps import nps_figures
from surveys.services import answer_submit, invitation_create, link_for
from tests.campaigns.conftest import at, only_campaigns, tick, track
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], (0, 0, 0, 0, None)),
        ([7, 8, 7, 8], (4, 0, 4, 0, 0.0)),
        ([6, 7], (2, 0, 1, 1, -50.0)),  # 6 is a detractor, 7 is not
        ([8, 9], (2, 1, 1, 0, 50.0)),  # 8 is passive, 9 a promoter
        ([10, 10, 0], (3, 2, 0, 1, 33.3)),
        ([0, 0], (2, 0, 0, 2, -100.0)),
    ],
)
def test_nps_arithmetic(scores, expected):
    figures = nps_figures(scores)
    got = (figures.responses, figures.promoters, figures.passives, figures.detractors, figures.nps)
    assert got == expected


@pytest.fixture
def buyer(db):
    return ProfileFactory(user_id="koper", email="koper@example.com", first_name="Kees")


def links_in(body: str) -> dict[str, str]:
    return dict(re.findall(r"^(\d+): (http\S+)$", body, flags=re.MULTILINE))


def test_the_nps_invitation_comes_14_days_after_the_first_order_with_eleven_score_links(
    buyer, client
):
    only_campaigns("nps")
    track(buyer, "Order Completed", at(), order_id="1", total=20)
    tick(at(days=13, hours=23))
    assert mail.outbox == []
    tick(at(days=14, minutes=5))
    [message] = mail.outbox
    assert message.subject == "Wilt u ons een cijfer geven?"
    links = links_in(message.body)
    assert sorted(links, key=int) == [str(n) for n in range(11)]
    # A mail scanner follows every link: a GET shows the page and records nothing.
    for url in links.values():
        page = client.get(url.removeprefix("http://127.0.0.1:8000"))
        assert page.status_code == 200
    assert not Answer.objects.exists()
    page = client.get(links["8"].removeprefix("http://127.0.0.1:8000")).content.decode()
    assert 'value="8" checked' in page
    assert "Hoe waarschijnlijk is het dat u ons aanbeveelt" in page
    response = client.post(
        links["8"].removeprefix("http://127.0.0.1:8000"), {"score": "9", "why": "Snelle levering"}
    )
    assert response.status_code == 302 and response["Location"].endswith("/thanks/")
    answer = Answer.objects.get()
    assert (answer.score, answer.why, answer.profile) == (9, "Snelle levering", buyer)
    assert client.get(response["Location"]).status_code == 200
    # One answer per invitation: a second POST changes nothing.
    client.post(links["2"].removeprefix("http://127.0.0.1:8000"), {"score": "2"})
    assert list(Answer.objects.values_list("score", flat=True)) == [9]
    # The answer is an event campaigns and selections can use, and on the profile.
    event = Event.objects.get(name="Survey Answered")
    assert event.properties == {"survey": "nps", "kind": "nps", "score": 9, "group": "promoter"}
    from profiles.selectors import profile_as_dict

    assert profile_as_dict(buyer)["nps"]["score"] == 9


def test_a_bad_or_forged_link_is_not_found(buyer, client):
    invitation = invitation_create(survey=Survey.objects.get(key="nps"), profile=buyer, now=at())
    good = link_for(invitation).removeprefix("http://127.0.0.1:8000")
    assert client.get(good).status_code == 200
    forged = good.replace(good.split(".")[-1].rstrip("/"), "x" * 43)
    assert client.get(forged).status_code == 404
    assert client.get("/s/nonsense/").status_code == 404


def test_an_out_of_range_score_is_refused_and_nothing_stored(buyer, client):
    invitation = invitation_create(survey=Survey.objects.get(key="nps"), profile=buyer, now=at())
    url = link_for(invitation).removeprefix("http://127.0.0.1:8000")
    response = client.post(url, {"score": "11"})
    assert response.status_code == 400
    assert "Kies een cijfer van 0 tot 10." in response.content.decode()
    assert not Answer.objects.exists()


def test_how_did_you_hear_of_us_becomes_the_acquisition_source(buyer, client):
    survey = Survey.objects.get(key="heard-of-us")
    invitation = invitation_create(survey=survey, profile=buyer, now=at())
    url = link_for(invitation).removeprefix("http://127.0.0.1:8000")
    page = client.get(url).content.decode()
    assert page.index('value="other"') > page.index('value="google"')  # "other" comes last
    client.post(url, {"choice": "other", "other_text": "Op de markt"})
    buyer.refresh_from_db()
    assert buyer.acquisition_source == "other: Op de markt"
    assert buyer.changes.filter(changes__has_key="acquisition_source").exists()


def test_staff_enter_an_answer_heard_in_the_shop(buyer, admin_user):
    survey = Survey.objects.get(key="heard-of-us")
    answer_submit(
        survey=survey,
        profile=buyer,
        data={"choice": "friend"},
        now=at(),
        source="staff",
        entered_by=admin_user,
    )
    buyer.refresh_from_db()
    assert buyer.acquisition_source == "friend"
    assert Answer.objects.get().entered_by == admin_user


def test_a_reasons_ranking_needs_each_rank_once(buyer):
    from django.core.exceptions import ValidationError

    survey = Survey.objects.get(key="reasons")
    with pytest.raises(ValidationError):
        answer_submit(
            survey=survey,
            profile=buyer,
            data={"rank_convenience": 1, "rank_price": 1, "rank_quality": 2, "rank_selection": 3},
            now=at(),
        )
    answer_submit(
        survey=survey,
        profile=buyer,
        data={"rank_convenience": 2, "rank_price": 4, "rank_quality": 1, "rank_selection": 3},
        now=at(),
    )
    from surveys.selectors import ranking_averages

    assert ranking_averages(survey)[0] == ("quality", 1.0, 1)


def test_a_detractor_answer_triggers_a_follow_up_campaign(buyer):
    only_campaigns()
    follow_up = Campaign.objects.create(
        key="detractor-call",
        name="Detractor",
        topic=Topic.objects.get(key="service"),
        trigger="event",
        trigger_event="Survey Answered",
        status="live",
        late_cutoff=dt.timedelta(days=1),
    )
    Template.objects.create(
        campaign=follow_up,
        language="nl",
        subject="Wat kan beter?",
        html="<p>Sorry</p>",
        text="Sorry",
    )
    invitation = invitation_create(survey=Survey.objects.get(key="nps"), profile=buyer, now=at())
    answer_submit(
        survey=invitation.survey, profile=buyer, data={"score": 3}, now=at(), invitation=invitation
    )
    tick(at(minutes=1))
    assert [m.subject for m in mail.outbox] == ["Wat kan beter?"]


def test_the_nps_report_through_the_api(client):
    _key, token = api_key_create(name="bi", kind="admin")
    survey = Survey.objects.get(key="nps")
    for n, score in enumerate([10, 9, 8, 6, 0]):
        person = ProfileFactory()
        answer_submit(survey=survey, profile=person, data={"score": score}, now=at(days=-n))
    headers = {"Authorization": f"Bearer {token}"}
    day = at().date()
    url = f"/api/v1/reports/nps?from={day - dt.timedelta(days=10)}&to={day}"
    assert client.get(url, headers=headers).json() == {
        "from": str(day - dt.timedelta(days=10)),
        "to": str(day),
        "responses": 5,
        "promoters": 2,
        "passives": 1,
        "detractors": 2,
        "nps": 0.0,
    }
    one_day = client.get(f"/api/v1/reports/nps?from={day}&to={day}", headers=headers).json()
    assert (one_day["responses"], one_day["nps"]) == (1, 100.0)
    bad = client.get("/api/v1/reports/nps?from=gisteren&to=2026-01-01", headers=headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "from"
    assert client.get("/api/v1/reports/nps?to=2026-01-01", headers=headers).status_code == 400
    assert client.get(url).status_code == 401


def test_erasure_keeps_the_score_but_not_the_words(buyer):
    from profiles.services import profile_erase

    survey = Survey.objects.get(key="nps")
    answer_submit(
        survey=survey, profile=buyer, data={"score": 7, "why": "Kees vindt het duur"}, now=at()
    )
    profile_erase(profile=buyer, now=at(hours=1), source="admin")
    answer = Answer.objects.get()
    assert (answer.score, answer.why) == (7, "")
    assert not Invitation.objects.filter(answer__isnull=True, profile=buyer).exists()


def test_the_subscribe_page_asks_how_they_heard_of_us(client):
    from profiles.models import Profile

    page = client.get("/subscribe/?lang=nl").content.decode()
    assert "Hoe heeft u van ons gehoord?" in page
    newsletter = Topic.objects.get(key="newsletter")
    client.post(
        "/subscribe/?lang=nl",
        {"email": "nieuw@example.com", "topics": [newsletter.pk], "heard_of_us": "friend"},
    )
    profile = Profile.objects.get(email="nieuw@example.com")
    assert profile.acquisition_source == "friend"
    assert Answer.objects.get(profile=profile).source == "subscribe"


def test_the_public_page_never_overwrites_a_known_customers_source(buyer, client):
    buyer.acquisition_source = "instagram"
    buyer.save()
    newsletter = Topic.objects.get(key="newsletter")
    client.post(
        "/subscribe/?lang=nl",
        {"email": buyer.email, "topics": [newsletter.pk], "heard_of_us": "tv-radio"},
    )
    buyer.refresh_from_db()
    assert buyer.acquisition_source == "instagram"
    assert not Answer.objects.exists()
