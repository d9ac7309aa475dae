"""Changes flow back to the shop's systems: signed webhooks to a real local HTTP server,
delivered after the change commits, retried while the receiver is down, never twice."""

import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from consent.models import Action, Source, Topic
from consent.services import ledger_append
from profiles.importing import profiles_import
from profiles.models import ChangeSource, WebhookDelivery, WebhookEndpoint
from profiles.services import profile_create, profile_erase, profile_update
from profiles.webhooks import webhooks_deliver_due
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
ALL_EVENTS = ["profile.created", "profile.updated", "profile.erased", "consent.changed"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """The shop's system: an HTTP server that records what it is sent. It can be down
    (not listening at all) and answer with a chosen status."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/klantbeeld/hook?key=abc"
        self.requests: list[dict] = []
        self.status = 200
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture(autouse=True)
def _shop_network(settings):
    # The test's receiver listens on this machine: an allowed network, on purpose.
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.down()


@pytest.fixture
def endpoint(receiver):
    return WebhookEndpoint.objects.create(name="Shop CRM", url=receiver.url, events=ALL_EVENTS)


def verify(secret: str, request: dict) -> bool:
    """What the receiver does with the Klantbeeld-Signature header (as in the README)."""
    parts = dict(p.split("=", 1) for p in request["headers"]["Klantbeeld-Signature"].split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_a_marketers_edit_reaches_the_shop_signed_once_it_is_committed(
    receiver, endpoint, django_capture_on_commit_callbacks
):
    receiver.up()
    profile = ProfileFactory(user_id="u-1", first_name="Anna")
    with django_capture_on_commit_callbacks(execute=True):
        profile_update(
            profile=profile, data={"first_name": "Anne"}, source=ChangeSource.ADMIN, now=NOW
        )
        assert receiver.requests == []  # nothing leaves before the change is committed
    [request] = receiver.requests
    assert request["path"] == "/klantbeeld/hook?key=abc"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Klantbeeld-Event"] == "profile.updated"
    assert verify(endpoint.secret, request)
    assert not verify("another secret", request)
    body = json.loads(request["body"])
    assert body["type"] == "profile.updated"
    assert body["id"] == request["headers"]["Klantbeeld-Delivery"]
    assert body["data"] == {
        "user_id": "u-1",
        "source": "admin",
        "changes": {"first_name": {"from": "Anna", "to": "Anne"}},
    }
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_status, delivery.attempts) == ("delivered", 200, 1)


def test_a_refused_change_sends_nothing(receiver, endpoint):
    from django.core.exceptions import ValidationError

    profile = ProfileFactory()
    with pytest.raises(ValidationError):
        profile_update(profile=profile, data={"birth_date": "2999-01-01"}, source="admin", now=NOW)
    assert not WebhookDelivery.objects.exists()


def test_nothing_is_lost_while_the_receiver_is_down_and_nothing_arrives_twice(receiver, endpoint):
    profile = ProfileFactory(user_id="u-2", first_name="Bram")
    for name in ("Bart", "Bas"):
        profile_update(profile=profile, data={"first_name": name}, source="admin", now=NOW)
    assert webhooks_deliver_due(now=NOW) == {"retry": 1}  # one knock on a closed door
    first, second = WebhookDelivery.objects.order_by("id")
    assert (first.status, first.attempts, first.error) == ("pending", 1, "ConnectionError")
    assert first.next_attempt_at == NOW + dt.timedelta(minutes=1)
    # Hours later the receiver is back: everything arrives, oldest first, once.
    receiver.up()
    later = NOW + dt.timedelta(hours=5)
    assert webhooks_deliver_due(now=later) == {"delivered": 2}
    assert webhooks_deliver_due(now=later + dt.timedelta(hours=1)) == {}
    names = [e["data"]["changes"]["first_name"]["to"] for e in receiver.events()]
    assert names == ["Bart", "Bas"]
    ids = [r["headers"]["Klantbeeld-Delivery"] for r in receiver.requests]
    assert len(set(ids)) == 2


def test_a_receiver_that_keeps_failing_is_given_up_after_72_hours_and_can_be_retried(
    receiver, endpoint
):
    receiver.status = 500
    receiver.up()
    profile = ProfileFactory()
    profile_update(profile=profile, data={"first_name": "Cato"}, source="admin", now=NOW)
    moment, attempts = NOW, 0
    while WebhookDelivery.objects.get().status == "pending":
        delivery = WebhookDelivery.objects.get()
        moment = delivery.next_attempt_at
        webhooks_deliver_due(now=moment)
        attempts += 1
        assert attempts < 30
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_status, delivery.error) == (
        "failed",
        500,
        "HTTP 500",
    )
    assert NOW + dt.timedelta(hours=66) < moment <= NOW + dt.timedelta(hours=72)
    assert len(receiver.requests) == attempts == delivery.attempts
    # The receiver is fixed; the administrator tries again from the delivery log.
    receiver.status = 204
    from profiles.webhooks import webhooks_retry

    retry_at = NOW + dt.timedelta(days=4)
    assert webhooks_retry(WebhookDelivery.objects.all(), now=retry_at) == 1
    assert webhooks_deliver_due(now=retry_at) == {"delivered": 1}


def test_changes_the_shops_api_made_are_not_echoed_unless_asked(receiver, endpoint):
    profile = ProfileFactory()
    profile_update(profile=profile, data={"first_name": "Dirk"}, source="api", now=NOW)
    assert not WebhookDelivery.objects.exists()
    endpoint.include_api_changes = True
    endpoint.save()
    profile_update(profile=profile, data={"first_name": "Daan"}, source="api", now=NOW)
    assert WebhookDelivery.objects.get().payload["data"]["source"] == "api"


def test_an_endpoint_hears_only_the_events_it_chose(receiver, endpoint):
    endpoint.events = ["consent.changed"]
    endpoint.save()
    profile = profile_create(
        user_id="u-3", data={"email": "eva@example.com"}, source="admin", now=NOW
    )
    assert not WebhookDelivery.objects.exists()
    topic = Topic.objects.get(key="newsletter")
    ledger_append(
        profile=profile, topic=topic, action=Action.CONFIRMED, now=NOW, source=Source.PREFERENCES
    )
    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["type"] == "consent.changed"
    assert delivery.payload["data"] == {
        "user_id": "u-3",
        "topic": "newsletter",
        "action": "confirmed",
        "status": "confirmed",
        "basis": "double_opt_in",
        "source": "preferences",
    }


def test_an_import_sends_one_event_per_customer_it_created_or_changed(receiver, endpoint):
    receiver.up()
    ProfileFactory(user_id="u-5", email="old@example.com", first_name="Fem")
    content = b"user_id,email,first_name\nu-4,gijs@example.com,Gijs\nu-5,old@example.com,Femke\n"
    profiles_import(content=content, filename="klanten.csv", dry_run=False, now=NOW)
    webhooks_deliver_due(now=NOW)
    events = {e["data"]["user_id"]: e for e in receiver.events()}
    assert events["u-4"]["type"] == "profile.created"
    assert events["u-4"]["data"]["profile"]["first_name"] == "Gijs"
    assert events["u-4"]["data"]["source"] == "import"
    assert events["u-5"]["data"]["changes"] == {"first_name": {"from": "Fem", "to": "Femke"}}


def test_erasure_cancels_what_waits_scrubs_the_log_and_tells_the_shop(receiver, endpoint):
    profile = ProfileFactory(user_id="u-6", first_name="Hanna")
    profile_update(profile=profile, data={"first_name": "Hannah"}, source="admin", now=NOW)
    profile_erase(profile=profile, now=NOW, source=ChangeSource.CUSTOMER)
    waiting, erased = WebhookDelivery.objects.order_by("id")
    assert (waiting.status, waiting.payload) == ("cancelled", {})
    assert erased.payload["type"] == "profile.erased"
    assert erased.payload["data"] == {"user_id": "u-6", "source": "customer"}
    receiver.up()
    webhooks_deliver_due(now=NOW)
    assert [e["type"] for e in receiver.events()] == ["profile.erased"]
    assert "Hannah" not in json.dumps(list(WebhookDelivery.objects.values("payload")))


def test_the_administrator_configures_a_webhook_and_reads_the_delivery_log(
    admin_client, receiver, django_capture_on_commit_callbacks
):
    receiver.up()
    response = admin_client.post(
        "/admin/profiles/webhookendpoint/add/",
        {
            "name": "Shop CRM",
            "url": receiver.url,
            "events": ["profile.updated", "profile.erased"],
            "active": "on",
        },
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert len(endpoint.secret) >= 40
    page = admin_client.get(f"/admin/profiles/webhookendpoint/{endpoint.pk}/change/")
    assert endpoint.secret in page.content.decode()  # to copy into the shop's system
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/profiles/webhookendpoint/",
            {"action": "send_test", "_selected_action": [endpoint.pk]},
        )
    assert [e["type"] for e in receiver.events()] == ["ping"]
    log = admin_client.get("/admin/profiles/webhookdelivery/").content.decode()
    assert "ping" in log and "200" in log
    # A URL that is not http(s) is refused with a clear message.
    response = admin_client.post(
        "/admin/profiles/webhookendpoint/add/",
        {"name": "x", "url": "ftp://example.com/hook", "events": ["profile.updated"]},
    )
    assert response.status_code == 200
    assert WebhookEndpoint.objects.count() == 1


def test_the_marketer_reads_the_log_but_cannot_see_the_secret(marketer_client, endpoint):
    assert marketer_client.get("/admin/profiles/webhookdelivery/").status_code == 200
    response = marketer_client.get(f"/admin/profiles/webhookendpoint/{endpoint.pk}/change/")
    assert response.status_code == 403


def test_old_finished_deliveries_leave_the_log(receiver, endpoint):
    from profiles.webhooks import webhook_log_tidy

    receiver.up()
    profile = ProfileFactory()
    profile_update(profile=profile, data={"first_name": "Ivo"}, source="admin", now=NOW)
    webhooks_deliver_due(now=NOW)
    assert webhook_log_tidy(now=NOW + dt.timedelta(days=29)) == 0
    assert webhook_log_tidy(now=NOW + dt.timedelta(days=31)) == 1


def test_an_event_batch_reads_the_endpoints_once_and_a_new_endpoint_is_heard_next_time(db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from profiles.webhooks import _endpoints_for, endpoints_read_once

    WebhookEndpoint.objects.create(name="CRM", url="https://crm.example/a", events=ALL_EVENTS)
    with CaptureQueriesContext(connection) as queries, endpoints_read_once():
        for _ in range(3):
            assert len(_endpoints_for("consent.changed", "admin")) == 1
    assert sum("profiles_webhookendpoint" in q["sql"] for q in queries.captured_queries) == 1
    WebhookEndpoint.objects.create(name="ERP", url="https://erp.example/b", events=ALL_EVENTS)
    assert len(_endpoints_for("consent.changed", "admin")) == 2  # outside: read afresh
    with endpoints_read_once():
        assert len(_endpoints_for("consent.changed", "admin")) == 2


# --- Only public addresses ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://localhost:5432/",
        "http://0.0.0.0:8000/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_the_admin_refuses_a_webhook_to_an_internal_address(settings, url):
    from profiles.admin.webhooks import WebhookEndpointForm

    settings.WEBHOOK_ALLOWED_NETWORKS = []
    form = WebhookEndpointForm(data={"name": "x", "url": url, "events": ["profile.updated"]})
    assert not form.is_valid()
    assert "url" in form.errors


def test_a_saved_webhook_that_now_points_inside_is_not_posted(settings, receiver, endpoint):
    """The URL was saved when it was allowed (or its name now resolves inside): at delivery
    it is checked again, and nothing reaches the internal address."""
    receiver.up()
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    profile = ProfileFactory(user_id="u-1")
    profile_update(profile=profile, data={"first_name": "Anne"}, source=ChangeSource.ADMIN)
    webhooks_deliver_due(now=timezone.now() + dt.timedelta(minutes=1))
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().error == "refused: not a public address"


def test_a_name_that_changes_its_answer_after_the_check_still_cannot_lead_inside(
    settings, receiver, monkeypatch
):
    """DNS rebinding: the first look-up says a public address, the next says 127.0.0.1
    (where the receiver listens). The connection goes only to a checked address."""
    import socket as socket_module

    from core import net

    receiver.up()
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    WebhookEndpoint.objects.create(
        name="rebinding", url=f"http://hooks.example.com:{receiver.port}/", events=ALL_EVENTS
    )
    answers = iter(["93.184.216.34"])

    def getaddrinfo(host, port, *args, **kwargs):
        address = next(answers, "127.0.0.1")
        return [(socket_module.AF_INET, socket_module.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(net.socket, "getaddrinfo", getaddrinfo)
    profile = ProfileFactory(user_id="u-1")
    profile_update(profile=profile, data={"first_name": "Anne"}, source=ChangeSource.ADMIN)
    webhooks_deliver_due(now=timezone.now() + dt.timedelta(minutes=1))
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().status == "pending"  # tried again later
