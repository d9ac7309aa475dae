"""What a marketer does with campaigns in the admin, what the shop asks through the API,
and what campaigns add to a customer's export, erasure, timeline and selections."""

import pytest
from django.core import mail

from campaigns.models import Campaign, Delivery, Proposition, PropositionRule, Send
from core.apikeys import api_key_create
from profiles.selections import selection_profiles
from profiles.services import profile_erase
from tests.factories import ProfileFactory

from .conftest import at, confirm, only_campaigns, product, tick, track

pytestmark = pytest.mark.django_db


def test_the_lifecycle_defaults_exist_live_in_both_languages():
    campaigns = {c.key: c for c in Campaign.objects.prefetch_related("templates")}
    for key in ("welcome", "abandoned-basket", "cross-sell", "birthday", "winback"):
        assert campaigns[key].status == "live"
        assert {t.language for t in campaigns[key].templates.all()} == {"nl", "en"}
    assert campaigns["birthday"].topic.category == "service"
    assert campaigns["welcome"].topic.key == "newsletter"


def test_the_marketer_previews_a_mail_for_a_customer_and_sends_a_test(marketer_client, marketer):
    marketer.email = "marketeer@example.com"
    marketer.save()
    ProfileFactory(user_id="p-1", first_name="Femke", email="femke@example.com")
    basket = Campaign.objects.get(key="abandoned-basket")
    url = f"/admin/campaigns/campaign/{basket.pk}/preview/"
    page = marketer_client.get(url, {"profile": "p-1", "language": "nl"}).content.decode()
    assert "Femke, uw winkelmand staat nog klaar" in page
    response = marketer_client.post(url, {"profile": "p-1", "language": "en", "test_send": "1"})
    assert response.status_code == 200
    [message] = mail.outbox
    assert message.to == ["marketeer@example.com"]
    assert message.subject == "[TEST] Femke, your basket is waiting"
    assert not Send.objects.exists() and not Delivery.objects.exists()


def test_a_template_with_a_syntax_error_is_refused_with_the_part_named(admin_client):
    welcome = Campaign.objects.get(key="welcome")
    template = welcome.templates.get(language="nl")
    other = welcome.templates.get(language="en")
    data = {
        "name": welcome.name,
        "key": welcome.key,
        "status": "live",
        "topic": welcome.topic_id,
        "priority": 90,
        "trigger": "consent",
        "delay_0": "0",
        "delay": "00:00:00",
        "reentry": "once",
        "window_start": "08:00",
        "window_end": "21:00",
        "late_cutoff": "1 00:00:00",
        "exit_events": "[]",
        "templates-TOTAL_FORMS": "2",
        "templates-INITIAL_FORMS": "2",
        "templates-MIN_NUM_FORMS": "1",
        "templates-MAX_NUM_FORMS": "2",
    }
    for n, tpl in enumerate((template, other)):
        data.update(
            {
                f"templates-{n}-id": tpl.pk,
                f"templates-{n}-campaign": welcome.pk,
                f"templates-{n}-language": tpl.language,
                f"templates-{n}-subject": tpl.subject,
                f"templates-{n}-preheader": tpl.preheader,
                f"templates-{n}-html": tpl.html,
                f"templates-{n}-text": tpl.text,
            }
        )
    data["templates-0-subject"] = "Hallo {{ customer.first_name "
    response = admin_client.post(f"/admin/campaigns/campaign/{welcome.pk}/change/", data)
    assert response.status_code == 200
    assert "subject:" in response.content.decode()
    before = template.subject
    template.refresh_from_db()
    assert (
        template.subject
        == before
        == "Welkom{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!"
    )


def test_the_sandbox_keeps_templates_away_from_settings_and_the_database():
    from campaigns.models import Template
    from campaigns.rendering import render

    welcome = Campaign.objects.get(key="welcome")
    profile = ProfileFactory(first_name="Anna")
    sneaky = Template(
        campaign=welcome,
        language="nl",
        subject="{{ customer.__class__.__mro__ }}",
        html="{{ ''.__class__.__mro__[1].__subclasses__() }}",
        text="{{ customer.email.__class__ }}|{{ shop.shop_name }}",
    )
    from campaigns.rendering import RenderError

    with pytest.raises(RenderError):
        render(sneaky, profile, welcome)
    harmless = Template(
        campaign=welcome, language="nl", subject="{{ settings.SECRET_KEY }}x", html="", text=""
    )
    assert render(harmless, profile, welcome).subject == "x"


def test_the_campaign_list_warns_outside_three_to_eight_extra_live_campaigns(marketer_client):
    page = marketer_client.get("/admin/campaigns/campaign/").content.decode()
    assert "0 live campagnes naast de standaard-levenscyclus (goed gebruik: 3 tot 8)." in page
    assert 'class="warning"' in page


def test_the_shop_asks_for_a_customers_propositions(client):
    _key, token = api_key_create(name="shop", kind="admin")
    customer = ProfileFactory(user_id="c-1", language="en")
    track(customer, "Order Completed", at(), order_id="1", total=50, products=[product()])
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get("/api/v1/profiles/c-1/propositions", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["language"] == "en"
    assert body["propositions"][0]["title"] == "Keep your new shoes looking good"
    # Bought the care kit too: no longer offered; the fallback takes its place.
    track(
        customer,
        "Order Completed",
        at(hours=1),
        order_id="2",
        total=10,
        products=[{"product_id": "AC-404", "category": "accessoires", "price": 10}],
    )
    body = client.get("/api/v1/profiles/c-1/propositions?language=nl", headers=headers).json()
    assert [p["key"] for p in body["propositions"]] == ["new-in"]
    assert client.get("/api/v1/profiles/nobody/propositions", headers=headers).status_code == 404
    assert client.get("/api/v1/profiles/c-1/propositions").status_code == 401


def test_the_cross_sell_offers_from_the_matrix_for_what_was_bought(anna):
    only_campaigns("cross-sell")
    coat = Proposition.objects.get(key="scarf")
    PropositionRule.objects.create(product_id="JA-201", proposition=coat, priority=90)
    confirm(anna, when=at(days=-40))
    track(
        anna,
        "Order Completed",
        at(),
        order_id="9",
        total=229,
        products=[product("JA-201", "Wollen jas", 229.0) | {"category": "jassen"}],
    )
    tick(at(days=30, hours=1, minutes=1))
    [message] = mail.outbox
    assert message.subject == "De sjaal bij uw jas"
    assert "https://shop.example.nl/c/sjaals" in message.body


def test_export_erasure_timeline_and_selection_know_the_mails(anna, marketer_client):
    only_campaigns("welcome")
    confirm(anna, when=at())
    tick(at(minutes=1))
    from profiles.selectors import profile_export

    [delivery] = profile_export(anna)["deliveries"]
    assert delivery["campaign"] == "welcome" and delivery["subject"] == "Welkom, Anna!"
    page = marketer_client.get(f"/admin/profiles/profile/{anna.pk}/change/").content.decode()
    assert "Welkom: Welkom, Anna!" in page
    received = {
        "kind": "campaign_response",
        "params": {"campaign": "welcome", "response": "received"},
    }
    opened = {"kind": "campaign_response", "params": {"response": "opened"}}
    assert list(selection_profiles(received, now=at(hours=1))) == [anna]
    assert list(selection_profiles(opened, now=at(hours=1))) == []
    Delivery.objects.update(opened_at=at(minutes=5))
    assert list(selection_profiles(opened, now=at(hours=1))) == [anna]
    profile_erase(profile=anna, now=at(hours=2), source="admin")
    assert Delivery.objects.get().subject == ""
