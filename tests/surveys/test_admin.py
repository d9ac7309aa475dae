"""The marketer's view: the dashboard on the admin's front page, survey results with a
CSV export, and an answer entered by staff."""

import datetime as dt
from unittest.mock import patch

import pytest
import time_machine
from django.core.management import call_command

from campaigns.models import Campaign
from consent.models import Topic
from profiles.models import Profile
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


def test_the_charts_speak_the_readers_language(demo, marketer_client):
    import json

    page = marketer_client.get("/admin/")
    labels = json.loads(
        page.content.decode()
        .split('id="kb-labels" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert (labels["sent"], labels["opened"]) == ("verstuurd", "geopend")
    assert labels["sources"]["friend"] == "Via vrienden of familie"
    assert "elke 10 minuten ververst" in page.content.decode()


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


def test_beat_computes_the_figures_before_a_marketer_opens_the_admin(
    demo, marketer_client, django_assert_max_num_queries
):
    from django.conf import settings

    from core.periodic import periodic_run

    assert "dashboard" in settings.CELERY_BEAT_SCHEDULE
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), tick=False):
        periodic_run("dashboard", now=dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
        with django_assert_max_num_queries(12):  # the first visit computes nothing
            page = marketer_client.get("/admin/")
    assert "Cijfers van 2026-03-02T09:00 (UTC)" in page.content.decode()


def test_stale_figures_are_shown_with_their_time_while_a_worker_computes_new_ones(
    demo, marketer_client
):
    from surveys.dashboard import dashboard_refresh
    from surveys.tasks import dashboard_refresh_task

    first = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(first, tick=False):
        marketer_client.get("/admin/")
    customers = Profile.objects.filter(erased_at=None).count()
    ProfileFactory()
    stale = first + dt.timedelta(minutes=11)
    with (
        time_machine.travel(stale, tick=False),
        patch.object(dashboard_refresh_task, "delay") as queued,
    ):
        for _visit in range(2):
            page = marketer_client.get("/admin/").content.decode()
            assert f'"profiles": {customers},' in page
            assert "Cijfers van 2026-03-02T09:00 (UTC)" in page
    assert queued.call_count == 1  # one refresh for both visits
    dashboard_refresh(now=stale)  # what the worker does
    with time_machine.travel(stale + dt.timedelta(seconds=5), tick=False):
        page = marketer_client.get("/admin/").content.decode()
    assert f'"profiles": {customers + 1},' in page
    assert "Cijfers van 2026-03-02T09:11 (UTC)" in page


def test_stale_figures_still_show_when_the_queue_is_down(demo, marketer_client):
    from kombu.exceptions import OperationalError

    from surveys.tasks import dashboard_refresh_task

    first = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(first, tick=False):
        marketer_client.get("/admin/")
    with (
        time_machine.travel(first + dt.timedelta(minutes=11), tick=False),
        patch.object(dashboard_refresh_task, "delay", side_effect=OperationalError("down")),
    ):
        page = marketer_client.get("/admin/")
    assert page.status_code == 200
    assert "Cijfers van 2026-03-02T09:00 (UTC)" in page.content.decode()


def test_live_campaigns_on_the_dashboard_are_never_stale(demo, marketer_client):
    extra = Campaign.objects.filter(status="live", is_default=False).count()
    marketer_client.get("/admin/")
    Campaign.objects.create(
        key="voorjaarsactie",
        name="Voorjaarsactie",
        status="live",
        topic=Topic.objects.get(key="newsletter"),
        trigger="scheduled",
        scheduled_at=dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC),
    )
    page = marketer_client.get("/admin/").content.decode()
    assert f'"extra": {extra + 1},' in page


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
