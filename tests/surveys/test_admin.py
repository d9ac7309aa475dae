"""The marketer's view: the dashboard on the admin's front page, survey results with a
CSV export, and an answer entered by staff."""

import pytest
from django.core.management import call_command

from surveys.models import Answer, Survey
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("load_demo", count=150)


def test_the_front_page_opens_with_the_dashboard(demo, marketer_client):
    page = marketer_client.get("/admin/").content.decode()
    for text in (
        "Klanten",
        "Kan gemaild worden: Nieuwsbrief en aanbiedingen",
        "Double opt-in bevestigd (90 dagen)",
        "NPS (90 dagen)",
        "Mails (30 dagen)",
        "Live campagnes naast de standaard",
        'id="kb-figures"',
        "vendor/chartjs/chart.umd.js",
    ):
        assert text in page, text
    assert "cdn" not in page.lower()


def test_the_dashboard_is_cached_until_refreshed(
    demo, marketer_client, django_assert_max_num_queries
):
    marketer_client.get("/admin/")
    with django_assert_max_num_queries(12):  # session, user, permissions … no figures
        marketer_client.get("/admin/")
    ProfileFactory()
    fresh = marketer_client.get("/admin/?refresh=1").content.decode()
    from profiles.models import Profile

    assert f'"profiles": {Profile.objects.filter(erased_at=None).count()}' in fresh


def test_survey_results_per_selection_and_csv(demo, marketer_client):
    nps = Survey.objects.get(key="nps")
    page = marketer_client.get(f"/admin/surveys/survey/{nps.pk}/results/").content.decode()
    assert "Promotors (9–10)" in page and 'id="results-chart"' in page
    csv = b"".join(
        marketer_client.get(f"/admin/surveys/survey/{nps.pk}/results.csv").streaming_content
    )
    lines = csv.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("submitted_at,user_id,score")
    assert len(lines) - 1 == Answer.objects.filter(survey=nps).count() > 0
    heard = Survey.objects.get(key="heard-of-us")
    page = marketer_client.get(f"/admin/surveys/survey/{heard.pk}/results/").content.decode()
    assert "Google of een andere zoekmachine" in page


def test_staff_enter_an_answer_for_a_customer(marketer_client):
    customer = ProfileFactory(user_id="winkel-1")
    heard = Survey.objects.get(key="heard-of-us")
    response = marketer_client.post(
        "/admin/surveys/answer/add/",
        {"survey": heard.pk, "user_id": "winkel-1", "choice": "store", "why": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    answer = Answer.objects.get()
    assert (answer.source, answer.choice, answer.profile) == ("staff", "store", customer)
    customer.refresh_from_db()
    assert customer.acquisition_source == "store"
    refused = marketer_client.post(
        "/admin/surveys/answer/add/",
        {"survey": heard.pk, "user_id": "winkel-1", "choice": "nonsense"},
    )
    assert refused.status_code == 200
    assert "Kies een van de antwoorden." in refused.content.decode()
    assert Answer.objects.count() == 1
