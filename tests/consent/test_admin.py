"""Consent in the admin: what a marketer sees and may (not) do."""

import pytest
from django.urls import reverse

from consent.models import Action, ConsentEvent, ConsentText, Source, Suppression, Topic
from consent.selectors import address_hash
from consent.services import ledger_append, suppression_add
from tests.factories import ProfileFactory

from .conftest import NOW

pytestmark = pytest.mark.django_db


def test_a_marketer_reads_the_ledger_but_never_edits_or_deletes_it(
    marketer, marketer_client, customer, newsletter
):
    event = ledger_append(
        profile=customer, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    assert marketer.has_perm("consent.view_consentevent")
    assert not marketer.has_perm("consent.change_consentevent")
    assert not marketer.has_perm("consent.delete_consentevent")
    assert marketer_client.get(reverse("admin:consent_consentevent_changelist")).status_code == 200
    url = reverse("admin:consent_consentevent_change", args=[event.pk])
    marketer_client.post(url, {"action": "withdrawn"})
    event.refresh_from_db()
    assert event.action == "confirmed"
    assert (
        marketer_client.post(
            reverse("admin:consent_consentevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert ConsentEvent.objects.filter(pk=event.pk).exists()


def test_a_marketer_cannot_see_api_keys(marketer, marketer_client):
    assert not marketer.has_perm("core.view_apikey")
    assert marketer_client.get(reverse("admin:core_apikey_changelist")).status_code == 403


def test_a_changed_consent_text_in_the_admin_becomes_a_new_version(marketer_client, newsletter):
    url = reverse("admin:consent_topic_change", args=[newsletter.pk])
    form = {
        "name_nl": newsletter.name_nl,
        "name_en": newsletter.name_en,
        "description_nl": "",
        "description_en": "",
        "category": "commercial",
        "channel": "email",
        "soft_opt_in_allowed": "on",
        "public": "on",
        "position": "10",
        "text_nl": "Ja, nieuwe tekst.",
        "text_en": "Yes, new text.",
        "texts-TOTAL_FORMS": "0",
        "texts-INITIAL_FORMS": "0",
        "texts-MIN_NUM_FORMS": "0",
        "texts-MAX_NUM_FORMS": "0",
    }
    response = marketer_client.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    newsletter.refresh_from_db()
    assert newsletter.current_text.version == 2
    assert newsletter.current_text.text_nl == "Ja, nieuwe tekst."
    assert ConsentText.objects.filter(topic=newsletter).count() == 2
    marketer_client.post(url, form)  # saved again unchanged: no new version
    assert ConsentText.objects.filter(topic=newsletter).count() == 2


def test_soft_opt_in_only_for_commercial_topics(marketer_client):
    service = Topic.objects.get(key="service")
    url = reverse("admin:consent_topic_change", args=[service.pk])
    response = marketer_client.post(
        url,
        {
            "name_nl": "x",
            "name_en": "x",
            "category": "service",
            "channel": "email",
            "soft_opt_in_allowed": "on",
            "position": "1",
            "text_nl": "x",
            "text_en": "x",
            "texts-TOTAL_FORMS": "0",
            "texts-INITIAL_FORMS": "0",
            "texts-MIN_NUM_FORMS": "0",
            "texts-MAX_NUM_FORMS": "0",
        },
    )
    assert "soft_opt_in_allowed" in response.context["adminform"].form.errors


def test_suppressions_are_searchable_by_address_although_only_hashes_are_kept(marketer_client):
    bounced = ProfileFactory(email="weg@example.com")
    suppression_add(profile=bounced, reason="hard_bounce", now=NOW)
    suppression_add(email="losse@example.com", reason="complaint", now=NOW)
    url = reverse("admin:consent_suppression_changelist")
    found = marketer_client.get(url, {"q": "Losse@Example.com"}).context["cl"].result_list
    assert [s.reason for s in found] == ["complaint"]
    assert "losse@example.com" not in str(list(Suppression.objects.values()))
    assert Suppression.objects.filter(email_hash=address_hash("losse@example.com")).exists()


def test_a_marketer_adds_an_address_to_the_do_not_contact_list(marketer_client):
    customer = ProfileFactory(email="stop@example.com")
    response = marketer_client.post(
        reverse("admin:consent_suppression_add"),
        {"email": "STOP@example.com", "note": "asked by phone"},
    )
    assert response.status_code == 302
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.profile) == ("manual", customer)


def test_the_customers_admin_page_shows_their_permissions(marketer_client, customer, newsletter):
    ledger_append(
        profile=customer, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    html = marketer_client.get(
        reverse("admin:profiles_profile_change", args=[customer.pk])
    ).content.decode()
    assert "newsletter" in html and "bevestigd" in html.lower()


def _topic_form(topic: Topic, **changes: str) -> dict[str, str]:
    form = {
        "name_nl": topic.name_nl,
        "name_en": topic.name_en,
        "description_nl": topic.description_nl,
        "description_en": topic.description_en,
        "category": topic.category,
        "channel": topic.channel,
        "position": str(topic.position),
        "text_nl": topic.current_text.text_nl,
        "text_en": topic.current_text.text_en,
        "texts-TOTAL_FORMS": "0",
        "texts-INITIAL_FORMS": "0",
        "texts-MIN_NUM_FORMS": "0",
        "texts-MAX_NUM_FORMS": "0",
    }
    if topic.soft_opt_in_allowed:
        form["soft_opt_in_allowed"] = "on"
    if topic.public:
        form["public"] = "on"
    return {**form, **changes}


def test_a_topic_people_consented_to_keeps_its_category(marketer_client, customer, newsletter):
    ledger_append(
        profile=customer, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    url = reverse("admin:consent_topic_change", args=[newsletter.pk])
    page = marketer_client.get(url)
    assert "category" not in page.context["adminform"].form.fields  # shown, not editable
    response = marketer_client.post(
        url, _topic_form(newsletter, category="service", name_en="Newsletter!")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    newsletter.refresh_from_db()
    assert (newsletter.category, newsletter.name_en) == ("commercial", "Newsletter!")
    assert newsletter.soft_opt_in_allowed  # still allowed: the topic is still commercial


def test_a_topic_nobody_has_a_record_for_can_still_change_category(marketer_client):
    topic = Topic.objects.create(
        key="tips", name_nl="Tips", name_en="Tips", category="commercial", position=5
    )
    from consent.services import topic_text_set

    topic_text_set(topic=topic, text_nl="Ja, tips.", text_en="Yes, tips.")
    url = reverse("admin:consent_topic_change", args=[topic.pk])
    response = marketer_client.post(url, _topic_form(topic, category="service"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    topic.refresh_from_db()
    assert (topic.category, topic.key) == ("service", "tips")
