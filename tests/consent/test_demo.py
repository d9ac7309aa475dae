"""The demo consents `make run` loads tell one story: ledger, state and opt-in requests."""

import datetime as dt
import random

import pytest

from consent.demo import load_demo_consents
from consent.links import opt_in_token
from consent.models import ConsentState, OptInRequest, Status
from consent.services import opt_in_state
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def test_every_demo_subscription_has_the_opt_in_request_behind_it(client, newsletter):
    profiles = [
        ProfileFactory(created_at=NOW - dt.timedelta(days=400), language=("nl", "en")[n % 2])
        for n in range(80)
    ]
    load_demo_consents(profiles, random.Random(7), NOW)
    pending = ConsentState.objects.filter(topic=newsletter, status=Status.PENDING)
    confirmed = ConsentState.objects.filter(topic=newsletter, basis="double_opt_in")
    assert pending.exists() and confirmed.exists()
    for state in pending:
        (request,) = OptInRequest.objects.filter(profile=state.profile)
        assert opt_in_state(request, now=NOW) == "open"
        assert request.requested_at == state.requested_at
        assert request.language == state.profile.language
        (item,) = request.items.all()
        assert (item.topic, item.consent_text) == (newsletter, newsletter.current_text)
    for state in confirmed:
        request = OptInRequest.objects.get(profile=state.profile)
        assert request.confirmed_at == state.confirmed_at
    # The confirmation link of a pending demo subscriber opens its page.
    request = OptInRequest.objects.filter(confirmed_at=None).first()
    assert client.get(f"/confirm/{opt_in_token(request)}/").status_code == 200
