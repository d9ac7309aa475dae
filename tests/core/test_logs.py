"""What the logs may hold: no customer's link, and no traceback for a refused request."""

import logging

import pytest

from core.logs import ClientMistake, MaskLinks, mask_links


@pytest.mark.parametrize(
    "line",
    [
        '"GET /preferences/WyJhYjEyIixudWxsXQ:1tA2b3:xYz/ HTTP/1.1" 200',
        '"POST /unsubscribe/WyJhYjEyIiwxXQ:1tA2b3:xYz HTTP/1.1" 200',
        '"GET /s/Zm9vYmFy:1tA2b3:xYz/?score=9 HTTP/1.1" 200',
        '"GET /confirm/abcDEF123_-/ HTTP/1.1" 200',
        '"GET /p/email/confirm/abcDEF123/ HTTP/1.1" 200',
        "Not Found: /preferences/WyJhYjEyIixudWxsXQ:1tA2b3:xYz/",
        '"https://klantbeeld.example.nl/preferences/WyJhYjEyIixudWxsXQ:1tA2b3:xYz/"',
    ],
)
def test_a_customers_link_loses_its_token(line):
    masked = mask_links(line)
    assert "xYz" not in masked and "abcDEF123" not in masked
    assert "…" in masked


@pytest.mark.parametrize(
    "line",
    [
        '"GET /preferences/ HTTP/1.1" 200',
        '"GET /api/v1/profiles/e2e-anna HTTP/1.1" 200',
        '"GET /static/klantbeeld/public.0123456789ab.css HTTP/1.1" 200',
        '"GET /admin/consent/topic/3/change/ HTTP/1.1" 200',
    ],
)
def test_other_paths_stay_as_they_are(line):
    assert mask_links(line) == line


def test_djangos_not_found_warning_is_logged_without_the_token():
    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "%s: %s",
        ("Not Found", "/preferences/WyJhYjEyIixudWxsXQ:1tA2b3:xYz/"),
        None,
    )
    assert MaskLinks().filter(record)
    assert record.getMessage() == "Not Found: /preferences/…/"


def test_a_refused_webhook_is_one_warning_line_without_a_traceback():
    try:
        raise ValueError("Missing or invalid basic auth in Anymail Postmark webhook")
    except ValueError as exc:
        record = logging.LogRecord(
            "django.security.AnymailWebhookValidationFailure",
            logging.ERROR,
            __file__,
            1,
            str(exc),
            (),
            (type(exc), exc, exc.__traceback__),
        )
    assert ClientMistake().filter(record)
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    assert "Traceback" not in logging.Formatter().format(record)
