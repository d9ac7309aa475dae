"""A sending batch renders its mails faster (what every mail shares made once) but not
differently: the same subject, body, footer and links, string for string, and every
customer's links still signed for that customer."""

import re

import pytest
import time_machine

from campaigns.models import Campaign
from campaigns.rendering import BatchRendering, render, template_for
from consent.links import link_resolve
from consent.models import Topic
from tests.factories import ProfileFactory

from .conftest import at

LINK = re.compile(r"https://[^\s\"<>]+/(preferences|unsubscribe)/([^/\s\"<>]+)/")


@pytest.mark.django_db
def test_a_batch_renders_each_customers_mail_exactly_as_a_single_mail_is_rendered():
    people = [
        ProfileFactory(email="anna@example.com", first_name="Anna", language="nl"),
        ProfileFactory(email="bob@example.com", first_name="Bob", language="en"),
        ProfileFactory(email="cees@example.com", first_name="Cees & Co", language="nl"),
        ProfileFactory(email="dieter@example.com", first_name="Dieter", language="de"),
    ]
    campaigns = [Campaign.objects.get(key=key) for key in ("welcome", "birthday")]
    receipt = Campaign.objects.get(key="abandoned-basket")
    receipt.topic = Topic.objects.get(key="transactional")  # no unsubscribe link, no headers
    campaigns.append(receipt)
    assert {c.topic.category for c in campaigns} == {"commercial", "service", "transactional"}

    batch = BatchRendering()
    with time_machine.travel(at(), tick=False):  # a token carries the second it was signed
        for campaign in campaigns:
            for person in people:
                template = template_for(campaign, person.language)
                assert template is not None
                single = render(template, person, campaign, {})
                batched = render(template, person, campaign, {}, batch=batch)
                assert batched == single, (campaign.key, person.language)

    # Each customer's links are that customer's own, and they still open.
    for campaign in campaigns:
        for person in people:
            rendered = render(
                template_for(campaign, person.language), person, campaign, {}, batch=batch
            )
            links = LINK.findall(rendered.text)
            scopes = sorted(scope for scope, _token in links)
            expected = ["preferences"] + (["unsubscribe"] if campaign is not receipt else [])
            assert scopes == expected
            for scope, token in links:
                assert link_resolve(token, scope)[0] == person
            if campaign is receipt:
                assert rendered.headers == {}
            else:
                unsubscribe = dict(links)["unsubscribe"]
                assert unsubscribe in rendered.headers["List-Unsubscribe"]
                assert f'href="{rendered.headers["List-Unsubscribe"][1:-1]}"' in rendered.html
