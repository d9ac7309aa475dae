"""Two one-click unsubscribes at once, on the real database."""

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.utils.http import urlencode

from consent.links import list_unsubscribe_headers
from consent.models import Action, ConsentEvent, ConsentState, Source, Status, Topic
from consent.services import ledger_append, state_rebuild
from tests.factories import ProfileFactory

from .conftest import NOW

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_two_one_click_posts_at_once_withdraw_once_and_the_state_matches_the_ledger(
    monkeypatch,
):
    from consent.services import choices

    newsletter = Topic.objects.get(key="newsletter")
    profile = ProfileFactory(email="dubbel@example.com")
    ledger_append(
        profile=profile, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    header = list_unsubscribe_headers(profile, newsletter)["List-Unsubscribe"]
    path = header.strip("<>").removeprefix("https://shop.example.nl")

    # Widen the window between taking the customer's lock and reading their state, so
    # that without the lock both requests would read "confirmed" and both withdraw.
    close = choices.opt_ins_close

    def slow_close(**kwargs):
        closed = close(**kwargs)
        time.sleep(0.3)
        return closed

    monkeypatch.setattr(choices, "opt_ins_close", slow_close)
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def one_click() -> None:
        try:
            client = Client(enforce_csrf_checks=True)  # a mail client: no cookies
            barrier.wait()
            response = client.post(
                path,
                data=urlencode({"List-Unsubscribe": "One-Click"}),
                content_type="application/x-www-form-urlencoded",
            )
            statuses.append(response.status_code)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert statuses == [200, 200]
    withdrawals = ConsentEvent.objects.filter(
        profile=profile, topic=newsletter, action=Action.WITHDRAWN
    )
    assert withdrawals.count() == 1
    state = ConsentState.objects.get(profile=profile, topic=newsletter)
    rebuilt = state_rebuild(profile=profile, topic=newsletter)
    assert state.status == rebuilt.status == Status.WITHDRAWN
    assert state.withdrawn_at == rebuilt.withdrawn_at == withdrawals.get().occurred_at
