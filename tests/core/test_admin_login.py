"""The admin's login cannot be guessed at: five wrong passwords lock the address out."""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RIGHT = "correct horse battery staple"  # tests.factories.UserFactory's password


def login(client: Client, password: str):
    return client.post(
        "/admin/login/?next=/admin/", {"username": "marketeer", "password": password}
    )


def test_five_wrong_passwords_lock_the_address_out_even_for_the_right_one():
    UserFactory(username="marketeer", is_staff=True)
    guesser = Client(REMOTE_ADDR="203.0.113.66")
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(4):
            assert login(guesser, "Welkom01!").status_code == 200  # the form again
        assert login(guesser, "Welkom01!").status_code == 429  # the fifth: locked out
        locked = login(guesser, RIGHT)
        assert locked.status_code == 429
        assert "_auth_user_id" not in guesser.session
        # Someone else (another address) logs in as usual.
        assert login(Client(REMOTE_ADDR="198.51.100.7"), RIGHT).status_code == 302
    with time_machine.travel(start + dt.timedelta(minutes=31), tick=False):
        assert login(guesser, RIGHT).status_code == 302  # the block is lifted after 30 min


def test_the_lockout_is_logged_without_the_address_or_the_username(caplog):
    UserFactory(username="marketeer", is_staff=True)
    guesser = Client(REMOTE_ADDR="203.0.113.66")
    with caplog.at_level("WARNING"):
        for _ in range(6):
            login(guesser, "Welkom01!")
    assert "admin login locked out" in caplog.text
    assert "203.0.113.66" not in caplog.text and "marketeer" not in caplog.text
