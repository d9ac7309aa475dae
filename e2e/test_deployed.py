"""Klantbeeld as deployed, driven only from outside: the shop's systems (a Segment
library and the management API), customers (mail and a browser), the ESP (a tracking
webhook) and an operator (`manage.py` as `docker compose exec` runs it).

The steps run in order and build on each other: Anna (Dutch) and Bob (English) order,
fill a basket, subscribe, get their welcome, basket and NPS mails, answer, unsubscribe,
bounce and are erased. `make e2e` runs this; see e2e/stack.py for how the product is
built and started.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import subprocess
import zoneinfo
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from segment.analytics.client import Client

from .stack import Http, Stack, wait_until

MAIL_TIMEOUT = 30  # a mail the worker sends at once
BEAT_TIMEOUT = 150  # a mail beat's scheduler (every 60 s) sends on its next pass


@dataclass
class Customer:
    user_id: str
    email: str
    first_name: str
    locale: str
    mails: int = 0  # how many mails the check has seen arrive for them so far
    preferences_url: str = ""
    unsubscribe_url: str = ""
    survey_urls: list[str] = field(default_factory=list)


@dataclass
class Journey:
    """What the steps learn and hand to the next ones."""

    timezone: str = ""
    first_order_at: dt.datetime | None = None
    basket_mail_at: dt.datetime | None = None
    anna: Customer = field(
        default_factory=lambda: Customer(
            "e2e-anna", "anna.devries@example.com", "<b>Anna</b>", "nl-NL"
        )
    )
    bob: Customer = field(
        default_factory=lambda: Customer("e2e-bob", "bob.baker@example.com", "Bob", "en-GB")
    )


JOURNEY = Journey()
http = Http()  # a mail client's or a server's request: no cookies


def zone_in_office_hours(now: dt.datetime) -> str:
    """A time zone where it is now between 09:00 and 16:00, so that every simulated
    moment below (up to 2 days and 2 hours on) falls inside the default send window
    (08:00-21:00 local): the check must not depend on the hour CI runs."""
    for name in (
        "Europe/Amsterdam",
        "America/Sao_Paulo",
        "America/New_York",
        "America/Los_Angeles",
        "Pacific/Honolulu",
        "Pacific/Kiritimati",
        "Pacific/Auckland",
        "Asia/Tokyo",
        "Asia/Bangkok",
        "Asia/Kolkata",
        "Asia/Dubai",
    ):
        if dt.time(9) <= now.astimezone(zoneinfo.ZoneInfo(name)).time() < dt.time(16):
            return name
    raise AssertionError("no zone has office hours now")  # the list spans the day


def links(message: EmailMessage, base_url: str) -> list[str]:
    """Every link to Klantbeeld in a mail's text part."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.findall(re.escape(base_url) + r"/[^\s<>\"')\]]+", text)


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def campaign_of(message: EmailMessage) -> str:
    return str(message.get("X-Klantbeeld-Campaign", ""))


def next_mail(stack: Stack, customer: Customer, *, timeout: float, what: str) -> EmailMessage:
    customer.mails += 1
    return stack.mailbox.wait_for(customer.email, count=customer.mails, timeout=timeout, what=what)


def consent(stack: Stack, customer: Customer, topic: str = "newsletter") -> dict:
    response = stack.api().get(f"{stack.base_url}/api/v1/profiles/{customer.user_id}")
    assert response.status_code == 200, response.text
    return next(c for c in response.json()["consents"] if c["topic"] == topic)


def segment(stack: Stack) -> tuple[Client, list]:
    errors: list = []
    client = Client(
        write_key=stack.write_key,
        host=f"{stack.base_url}/api",  # the library posts to {host}/v1/batch
        sync_mode=True,
        gzip=True,
        on_error=lambda error, batch: errors.append(error),
    )
    return client, errors


def tampered(url: str) -> str:
    """The link with one character of its token changed."""
    path = urlsplit(url).path.rstrip("/")
    token = path.rsplit("/", 1)[1]
    changed = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    return url.replace(token, changed)


# --- the steps -----------------------------------------------------------------------------


def test_the_build_holds_no_dev_tools_and_its_dependencies_agree(stack):
    python = str(stack.venv / "bin" / "python")
    for dev_only in ("pytest", "playwright", "mypy"):
        found = subprocess.run([python, "-c", f"import {dev_only}"], capture_output=True)
        assert found.returncode != 0, f"{dev_only} is in the production build"
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_the_production_settings_pass_djangos_deploy_checks(stack):
    """`manage.py check --deploy` with the environment of an https production install
    (README, "Running in production"): no warning, or one silenced with its reason."""
    production = {
        "SITE_URL": "https://klantbeeld.winkel.example.nl",
        "ALLOWED_HOSTS": "klantbeeld.winkel.example.nl",
        "ALLOW_HTTP_SITE_URL": "false",
        "SECURE_SSL_REDIRECT": "true",
        "TRUST_X_FORWARDED_PROTO": "true",
    }
    saved = dict(stack.env)
    stack.env.update(production)
    try:
        output = stack.manage(
            "check", "--deploy", "--database", "default", "--fail-level", "WARNING"
        )
    finally:
        stack.env.clear()
        stack.env.update(saved)
    assert "System check identified no issues" in output, output


def test_the_front_door_the_admin_login_and_static_files_are_served(stack):
    session = Http()
    home = session.get(f"{stack.base_url}/", allow_redirects=False)
    assert home.status_code == 200, home.status_code
    assert "Winkel van Morgen B.V." in home.text
    login = session.get(f"{stack.base_url}/admin/login/")
    assert login.status_code == 200
    assert 'name="password"' in login.text
    # The collected, hashed static files, each served (whitenoise) with a long cache life.
    stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', home.text + login.text)
    assert stylesheets and all(re.search(r"\.[0-9a-f]{12}\.css$", s) for s in stylesheets)
    for path in stylesheets:
        asset = session.get(stack.base_url + path)
        assert asset.status_code == 200, path
        assert "max-age=315360000" in asset.headers["Cache-Control"], path
    assert session.get(f"{stack.base_url}/healthz").text == "ok"
    openapi = session.get(f"{stack.base_url}/api/v1/openapi.json")
    assert openapi.status_code == 200 and "/api/v1/subscriptions" in openapi.json()["paths"]


def test_the_shops_segment_library_identifies_customers_and_tracks_an_order_and_a_basket(
    stack,
):
    now = dt.datetime.now(dt.UTC)
    JOURNEY.timezone = zone_in_office_hours(now)
    JOURNEY.first_order_at = now
    client, errors = segment(stack)
    for number, customer in enumerate((JOURNEY.anna, JOURNEY.bob), start=1):
        client.identify(
            customer.user_id,
            {
                "email": customer.email,
                "firstName": customer.first_name,
                "lastName": "Tester",
                "locale": customer.locale,
                "timezone": JOURNEY.timezone,
            },
        )
        client.track(
            customer.user_id,
            "Order Completed",
            {
                "order_id": f"E2E-{number}",
                "total": 69.95,
                "currency": "EUR",
                "products": [
                    {
                        "product_id": "SH-101",
                        "name": "Leren sneaker",
                        "category": "schoenen",
                        "price": 69.95,
                        "quantity": 1,
                    }
                ],
            },
            timestamp=now,
        )
        client.track(
            customer.user_id,
            "Product Added",
            {
                "product_id": "JS-7",
                "name": "Regenjas Storm",
                "category": "jassen",
                "price": 89.5,
                "quantity": 1,
                "url": "https://winkel.example.nl/p/js-7",
            },
            timestamp=now + dt.timedelta(seconds=1),
        )
    client.flush()
    assert errors == []

    api = stack.api()

    def rolled_up(customer: Customer) -> dict | None:
        profile = api.get(f"{stack.base_url}/api/v1/profiles/{customer.user_id}").json()
        return profile if profile.get("lifecycle_stage") == "customer" else None

    # The worker rolls the order up onto the profile shortly after the batch.
    anna = wait_until("Anna's order rolled up", lambda: rolled_up(JOURNEY.anna), timeout=60)
    bob = wait_until("Bob's order rolled up", lambda: rolled_up(JOURNEY.bob), timeout=60)
    assert (anna["email"], anna["first_name"], anna["language"], anna["timezone"]) == (
        JOURNEY.anna.email,
        "<b>Anna</b>",
        "nl",
        JOURNEY.timezone,
    )
    assert (bob["language"], bob["suppressed"]) == ("en", False)


def test_the_first_admin_logs_in_and_the_dashboard_draws_its_charts(stack, page):
    # README, "Running in production": the step that creates the first admin.
    password = secrets.token_urlsafe(16)
    stack.manage(
        "createsuperuser",
        "--noinput",
        DJANGO_SUPERUSER_USERNAME="beheer",
        DJANGO_SUPERUSER_EMAIL="beheer@winkel.example.nl",
        DJANGO_SUPERUSER_PASSWORD=password,
    )
    failed: list[str] = []
    page.on("console", lambda message: message.type == "error" and failed.append(message.text))
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    page.goto(f"{stack.base_url}/admin/")
    page.fill("input[name=username]", "beheer")
    page.fill("input[name=password]", password)
    page.click("[type=submit]")
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/admin/"
    page.wait_for_selector("html[data-dashboard-drawn='1']")  # Chart.js loaded and drew
    assert page.locator("#kb-profiles").inner_text() == "2"  # Anna and Bob
    assert failed == []


@pytest.mark.parametrize("who", ["anna", "bob"])
def test_a_double_opt_in_is_confirmed_in_the_browser_and_only_the_button_confirms(stack, page, who):
    customer: Customer = getattr(JOURNEY, who)
    started = stack.api().post(
        f"{stack.base_url}/api/v1/subscriptions",
        json={"user_id": customer.user_id, "topic": "newsletter"},
    )
    assert started.status_code == 202, started.text
    assert started.json()["pending"] == ["newsletter"]

    mail = next_mail(stack, customer, timeout=MAIL_TIMEOUT, what="the confirmation mail")
    confirm_url = next(url for url in links(mail, stack.base_url) if "/confirm/" in url)
    customer.preferences_url = next(u for u in links(mail, stack.base_url) if "/preferences/" in u)

    opened = page.goto(confirm_url)
    assert opened.status == 200
    button = page.get_by_role("button", name=re.compile("confirm|bevestig", re.I))
    assert button.is_visible()
    assert consent(stack, customer)["status"] == "pending"  # the GET changed nothing

    button.click()
    page.wait_for_load_state()
    expected = {"anna": "aanmelding is bevestigd", "bob": "subscription is confirmed"}[who]
    assert expected in page.locator("h1").inner_text()
    state = consent(stack, customer)
    assert (state["status"], state["basis"]) == ("confirmed", "double_opt_in")


def test_beat_and_the_worker_send_the_welcome_mail_with_the_name_escaped(stack):
    for customer in (JOURNEY.anna, JOURNEY.bob):
        mail = next_mail(stack, customer, timeout=BEAT_TIMEOUT, what="the welcome mail")
        assert campaign_of(mail) == "welcome"
    anna = stack.mailbox.to(JOURNEY.anna.email)[-1]
    assert str(anna["Subject"]) == "Welkom, <b>Anna</b>!"  # a header is plain text
    html = html_of(anna)
    assert "&lt;b&gt;Anna&lt;/b&gt;" in html
    assert "<b>Anna</b>" not in html
    bob = stack.mailbox.to(JOURNEY.bob.email)[-1]
    assert str(bob["Subject"]).startswith("Welcome")


def test_the_abandoned_basket_mail_comes_after_24_simulated_hours_with_rfc_8058_headers(stack):
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    JOURNEY.basket_mail_at = moment
    stack.tick(moment)  # returns once everything due then is sent
    for customer in (JOURNEY.anna, JOURNEY.bob):
        mail = next_mail(stack, customer, timeout=MAIL_TIMEOUT, what="the basket mail")
        assert campaign_of(mail) == "abandoned-basket"
        assert "Regenjas Storm" in html_of(mail)
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        header = re.fullmatch(r"<([^>]+)>", str(mail["List-Unsubscribe"]).strip())
        assert header and header[1].startswith(stack.base_url + "/unsubscribe/")
        customer.unsubscribe_url = header[1]


def test_the_one_click_unsubscribe_post_answers_200_and_withdraws_at_once(stack):
    url = JOURNEY.anna.unsubscribe_url
    # As a mail client sends it (RFC 8058): a POST, no cookies, no redirect followed.
    answer = http.post(
        url,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert answer.status_code == 200
    assert consent(stack, JOURNEY.anna)["status"] == "withdrawn"


def test_after_unsubscribing_the_next_commercial_mail_does_not_come(stack):
    """Both fill a basket again; a day later Bob, still subscribed, gets his basket mail
    in the same pass in which Anna, who unsubscribed, gets nothing."""
    client, errors = segment(stack)
    for customer in (JOURNEY.anna, JOURNEY.bob):
        client.track(
            customer.user_id,
            "Product Added",
            {
                "product_id": "SK-3",
                "name": "Wollen sjaal",
                "category": "accessoires",
                "price": 24.95,
                "quantity": 1,
            },
        )
    client.flush()
    assert errors == []
    stack.tick(JOURNEY.basket_mail_at + dt.timedelta(hours=25))
    mail = next_mail(stack, JOURNEY.bob, timeout=MAIL_TIMEOUT, what="Bob's second basket mail")
    assert campaign_of(mail) == "abandoned-basket"
    assert "Wollen sjaal" in html_of(mail)
    assert len(stack.mailbox.to(JOURNEY.anna.email)) == JOURNEY.anna.mails, [
        str(m["Subject"]) for m in stack.mailbox.to(JOURNEY.anna.email)
    ]


def test_the_nps_invitation_comes_14_days_after_the_first_order(stack):
    stack.tick(JOURNEY.first_order_at + dt.timedelta(days=14, hours=1))
    for customer in (
        JOURNEY.anna,
        JOURNEY.bob,
    ):  # service mail: Anna's "no" to news is no "no" to it
        mail = next_mail(stack, customer, timeout=MAIL_TIMEOUT, what="the NPS invitation")
        assert campaign_of(mail) == "nps"
        customer.survey_urls = [u for u in links(mail, stack.base_url) if "/s/" in u]
        assert len(customer.survey_urls) == 11, customer.survey_urls  # 0 to 10


@pytest.mark.parametrize(
    ("who", "language", "heading", "button"),
    [
        ("anna", "nl", "Uw voorkeuren", "Verstuur mijn antwoord"),
        ("bob", "en", "Your preferences", "Send my answer"),
    ],
)
def test_the_preference_page_and_the_survey_speak_the_customers_language(
    stack, page, who, language, heading, button
):
    customer: Customer = getattr(JOURNEY, who)
    opened = page.goto(customer.preferences_url)
    assert opened.status == 200
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("h1").inner_text() == heading
    assert customer.email in page.content()
    for sheet in page.locator("link[rel=stylesheet]").all():  # the manifest's names are served
        href = sheet.get_attribute("href")
        assert http.get(stack.base_url + href).status_code == 200, href

    nine = next(url for url in customer.survey_urls if url.endswith("score=9"))
    opened = page.goto(nine)
    assert opened.status == 200
    assert page.locator("html").get_attribute("lang") == language
    assert page.get_by_role("button", name=button).is_visible()


def test_markup_in_a_first_name_stays_text_on_the_preference_page(stack, page):
    page.goto(JOURNEY.anna.preferences_url)
    assert page.locator("input[name=first_name]").input_value() == "<b>Anna</b>"
    assert page.locator("b", has_text="Anna").count() == 0


def test_an_nps_answer_is_recorded_by_the_post_and_reported(stack, page):
    # Anna opened her link above and did not answer: a GET records nothing.
    page.goto(next(url for url in JOURNEY.bob.survey_urls if url.endswith("score=9")))
    page.get_by_role("button", name="Send my answer").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Thank you for your answer"
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Amsterdam")).date()  # the shop's day
    report = stack.api().get(
        f"{stack.base_url}/api/v1/reports/nps",
        params={"from": str(today - dt.timedelta(days=1)), "to": str(today + dt.timedelta(days=1))},
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["responses"], body["promoters"], body["detractors"], body["nps"]) == (
        1,
        1,
        0,
        100.0,
    )


def test_a_tampered_link_is_refused_and_shows_nothing(stack, page):
    anna = JOURNEY.anna
    for url in (anna.preferences_url, anna.unsubscribe_url, anna.survey_urls[9]):
        bad = tampered(url)
        response = page.goto(bad)
        assert 400 <= response.status < 500, (bad, response.status)
        content = page.content()
        assert anna.email not in content and "Anna" not in content, bad
    refused = http.post(tampered(anna.unsubscribe_url), data="List-Unsubscribe=One-Click")
    assert 400 <= refused.status_code < 500
    assert consent(stack, JOURNEY.bob)["status"] == "confirmed"


def test_a_hard_bounce_from_the_esps_tracking_webhook_suppresses_the_address(stack):
    bounce = {
        "RecordType": "Bounce",
        "MessageStream": "broadcast",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "abandoned-basket",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": JOURNEY.bob.email,
        "From": "noreply@winkel.example.nl",
        "BouncedAt": dt.datetime.now(dt.UTC).isoformat(),
        "DumpAvailable": False,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Bob, your basket",
    }
    url = f"{stack.base_url}/anymail/postmark/tracking/"
    user, password = stack.webhook_secret.split(":", 1)
    assert http.post(url, json=bounce).status_code in (400, 401, 403)  # no credentials
    profile = stack.api().get(f"{stack.base_url}/api/v1/profiles/{JOURNEY.bob.user_id}").json()
    assert profile["suppressed"] is False
    assert http.post(url, json=bounce, auth=(user, password)).status_code == 200
    profile = stack.api().get(f"{stack.base_url}/api/v1/profiles/{JOURNEY.bob.user_id}").json()
    assert profile["suppressed"] is True


def test_export_and_erasure_through_the_management_api(stack, page):
    api, anna = stack.api(), JOURNEY.anna
    export = api.get(f"{stack.base_url}/api/v1/profiles/{anna.user_id}/export")
    assert export.status_code == 200
    data = export.json()
    assert {
        "profile",
        "history",
        "consent_ledger",
        "events",
        "deliveries",
        "survey_answers",
    } <= set(data)
    assert data["profile"]["email"] == anna.email
    actions = [row["action"] for row in data["consent_ledger"]]
    assert {"requested", "confirmed", "withdrawn"} <= set(actions), actions
    assert len(data["deliveries"]) == 3  # welcome, basket, NPS
    assert {"Order Completed", "Product Added"} <= {e.get("name") for e in data["events"]}

    erased = api.delete(f"{stack.base_url}/api/v1/profiles/{anna.user_id}")
    assert erased.status_code in (200, 204), erased.text
    assert api.get(f"{stack.base_url}/api/v1/profiles/{anna.user_id}").status_code == 404
    assert page.goto(anna.preferences_url).status == 404  # every old link is dead
    assert anna.email not in page.content()

    # The shop reports her again: she is a customer again, but not a contactable one.
    client, errors = segment(stack)
    client.identify(anna.user_id, {"email": anna.email, "firstName": "Anna"})
    client.flush()
    assert errors == []
    again = api.get(f"{stack.base_url}/api/v1/profiles/{anna.user_id}").json()
    assert again["suppressed"] is True


def test_no_answer_was_a_server_error_and_no_log_holds_a_traceback_or_anything_private(stack):
    logs = stack.log_text(("web", "worker", "beat", "manage"))
    statuses = re.findall(r'"[A-Z]+ [^"]*" (\d{3}) ', logs["web"])
    assert len(statuses) > 30, "gunicorn's access log is missing"
    errors = [line for line in logs["web"].splitlines() if re.search(r'" 5\d\d ', line)]
    assert errors == []
    private = {
        "the write key": stack.write_key,
        "the admin token": stack.admin_token,
        "the webhook password": stack.webhook_secret.split(":", 1)[1],
        "SECRET_KEY": stack.env["SECRET_KEY"],
    }
    for customer in (JOURNEY.anna, JOURNEY.bob):
        private[f"{customer.user_id}'s address"] = customer.email
    # Every customer link the mails carried: its token opens the customer's page.
    kinds = set()
    for message in stack.mailbox.messages:
        for url in links(message, stack.base_url):
            path = urlsplit(url).path.rstrip("/")
            if re.match(r"/(confirm|unsubscribe|preferences|s|p/email/\w+)/", path):
                kind, token = path.split("/")[1], path.split("/")[-1]
                private[f"the token of a {kind} link ({token[:6]}…)"] = token
                kinds.add(kind)
    assert kinds == {"confirm", "unsubscribe", "preferences", "s"}
    for name, text in logs.items():
        if name == "manage":  # create_api_key prints its key there, once, by design
            text = text.replace(stack.write_key, "").replace(stack.admin_token, "")
        assert "Traceback" not in text, f"{name}:\n{text}"
        assert not re.search(r"\b(ERROR|CRITICAL)\b", text), f"{name}:\n{text}"
        for what, secret in private.items():
            assert secret not in text, f"{name}'s log holds {what}"
