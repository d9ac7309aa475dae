"""Hostile input on every endpoint of the OpenAPI document, the event API included:
schemathesis generates valid and invalid requests from the served document, sends them
through the WSGI application, and checks every answer: never a server error, only
status codes and content types the document declares, bodies that match it.

Bounded for CI: a fixed number of examples per operation, derandomized so a run is
repeatable (set FUZZ_EXAMPLES higher for a longer hunt)."""

import base64
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from core.apikeys import api_key_create
from tests.factories import ProfileFactory

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keys(db):
    # As Django's test client does: a request through the raw WSGI application must not
    # close the test's database connection (and with it the test's transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    ProfileFactory(user_id="1001", email="fuzz@example.com")
    write = api_key_create(name="fuzz webshop", kind="write")[1]
    admin = api_key_create(name="fuzz backend", kind="admin")[1]
    yield {
        "WriteKey": "Basic " + base64.b64encode(f"{write}:".encode()).decode(),
        "AdminToken": f"Bearer {admin}",
    }
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _authorization(case, keys) -> dict[str, str]:
    """The operation's own key (a generated one would only ever meet a 401)."""
    for requirement in case.operation.definition.raw.get("security", []):
        for name in requirement:
            return {"Authorization": keys[name]}
    return {}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_every_answer_of_the_api_is_one_the_document_declares(case, keys):
    case.call_and_validate(headers=_authorization(case, keys), checks=CHECKS)
