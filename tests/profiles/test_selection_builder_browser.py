"""The selection builder in a real browser: choose conditions, watch the count."""

import json

import pytest
from django.conf import settings
from django.test import Client

from profiles.models import Selection
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_marketer_builds_a_selection_and_sees_the_count(browser_page, live_server):
    from django.contrib.auth.models import Group

    for n in range(3):
        ProfileFactory(city="Utrecht", user_id=f"u{n}")
    ProfileFactory(city="Delft", user_id="d1")
    marketer = UserFactory(is_staff=True)
    marketer.groups.add(Group.objects.get(name="Marketer"))
    client = Client()
    client.force_login(marketer)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page = browser_page
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )

    page.goto(f"{live_server.url}/admin/profiles/selection/add/")
    page.get_by_label("Naam").fill("Utrechters")
    page.get_by_role("button", name="+ voorwaarde").click()
    condition = page.locator(".selection-condition").first
    condition.locator("select").nth(0).select_option("field")
    condition.locator("select").nth(1).select_option("city")
    condition.locator("select").nth(2).select_option("eq")
    condition.locator("input[type=text]").fill("Utrecht")
    page.locator("#selection-count").filter(has_text="3 klanten").wait_for()
    assert page.locator("#selection-count").inner_text() == "3 klanten"
    assert page.locator("#selection-preview li").count() == 3

    page.get_by_role("button", name="Opslaan", exact=True).click()
    page.wait_for_url("**/admin/profiles/selection/")
    saved = Selection.objects.get(name="Utrechters")
    assert saved.definition["children"][0]["params"] == {
        "field": "city",
        "operator": "eq",
        "value": "Utrecht",
    }
    assert json.dumps(saved.definition)
