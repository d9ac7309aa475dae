"""The deployment files as an operator meets them: Dockerfile, docker-compose.yml and
.env.example (read and parsed, as no Docker engine runs here), the /healthz endpoint the
containers are checked with, and the refusals of the production settings."""

import json
import re
import subprocess
from unittest import mock

import pytest
import yaml
from django.db import OperationalError

from tests.utils import ROOT, run_django

APP_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def command_line(service: dict) -> str:
    """A service's command as one string, whether written as a list or a string."""
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def healthcheck_line(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def documented_in_env_example() -> set[str]:
    """Names assigned in .env.example, commented-out examples included."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


# --- docker-compose.yml -----------------------------------------------------------------


def test_compose_runs_every_part_of_the_product(services):
    assert {"postgres", "redis", "web", "worker", "beat", "mailpit"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    for name in APP_SERVICES:
        assert services[name].get("build") == ".", name


def test_web_migrates_then_serves_the_wsgi_app_with_gunicorn(services):
    command = command_line(services["web"])
    assert "manage.py migrate --noinput" in command
    assert re.search(r"\bgunicorn\s+config\.wsgi:application\b", command)
    assert "--bind 0.0.0.0:8000" in command
    # Migrations first, and the server only when they succeeded.
    assert command.index("migrate") < command.index("gunicorn")
    assert re.search(r"migrate --noinput\s*&&", command)


def test_worker_and_beat_run_the_celery_app_of_the_project(services):
    assert re.search(r"\bcelery -A config worker\b", command_line(services["worker"]))
    beat = command_line(services["beat"])
    assert re.search(r"\bcelery -A config beat\b", beat)
    # The source tree is read-only to the app user, so the schedule must live elsewhere.
    assert "--schedule /tmp/" in beat


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_postgres_and_redis(services, name):
    depends_on = services[name]["depends_on"]
    assert isinstance(depends_on, dict), "a list form cannot ask for a healthy service"
    for backing in ("postgres", "redis"):
        assert depends_on[backing] == {"condition": "service_healthy"}, (name, backing)


def test_long_running_services_have_a_healthcheck(services):
    # One test, not parametrized: conftest skips any test with a "postgres" or "redis" keyword.
    for name in ("postgres", "redis", "web", "worker", "mailpit"):
        assert "healthcheck" in services[name], name
        assert healthcheck_line(services[name]).split()[0] in ("CMD", "CMD-SHELL"), name


def test_the_healthchecks_ask_the_right_thing(services):
    assert "pg_isready" in healthcheck_line(services["postgres"])
    assert "redis-cli ping" in healthcheck_line(services["redis"])
    web = healthcheck_line(services["web"])
    # python:3.11-slim has no curl: the check is Python's urllib against /healthz.
    assert "urllib" in web
    assert "http://127.0.0.1:8000/healthz" in web
    assert "curl" not in web


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_production_settings_without_debug(services, name):
    environment = services[name]["environment"]
    assert isinstance(environment, dict)
    assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert str(environment["DEBUG"]).lower() in ("false", "0", "no", "off")
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert environment["REDIS_URL"].startswith("redis://redis:")
    # No default for the secret: compose refuses to start without one.
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_app_services_share_one_environment(services):
    environments = [services[name]["environment"] for name in APP_SERVICES]
    assert environments[0] == environments[1] == environments[2]


def keys_anywhere(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(keys_anywhere(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(keys_anywhere(item) for item in node))
    return set()


def test_no_service_reads_an_env_file(compose, services):
    # A developer's .env (DEBUG=true, from `make run`) must never reach the containers.
    for name, service in services.items():
        assert "env_file" not in service, name
    assert "env_file" not in keys_anywhere(compose)  # nor in an x- block merged in


def test_every_variable_compose_reads_is_documented_in_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    # ${NAME}, ${NAME:-default}, ${NAME:?error}; $$ is an escaped dollar, not a variable.
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    assert {"SECRET_KEY", "POSTGRES_PASSWORD", "SITE_URL"} <= referenced
    missing = referenced - documented_in_env_example()
    assert not missing, f"not in .env.example: {sorted(missing)}"


def test_env_example_documents_each_variable_with_a_comment():
    lines = (ROOT / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            assert index > 0 and lines[index - 1].startswith("#"), line
    assert "user:password" in (ROOT / ".env.example").read_text()
    assert "ANYMAIL_POSTMARK_SERVER_TOKEN" in documented_in_env_example()


def test_env_example_is_committed_but_env_is_not():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert ".env.example" not in ignored
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", ".env.example"], cwd=ROOT, check=False
    )
    assert result.returncode == 1, ".env.example is ignored by git"


# --- Dockerfile ---------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_dockerfile_builds_on_python_311_slim():
    for name, arguments in dockerfile_instructions():
        if name == "FROM":
            assert arguments.split()[0] == "python:3.11-slim"


def test_dockerfile_installs_the_project_without_dev_extras():
    runs = " ".join(args for name, args in dockerfile_instructions() if name == "RUN")
    assert re.search(r"pip install \.(\s|$|&)", runs)
    assert "[dev]" not in runs


def test_dockerfile_collects_static_files_with_production_settings():
    collect = [
        args
        for name, args in dockerfile_instructions()
        if name == "RUN" and "collectstatic --noinput" in args
    ]
    assert collect, "no collectstatic at build time"
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in collect[0]
    # The dummy values production needs to import; never DEBUG.
    for required in (
        "SECRET_KEY=",
        "SUPPRESSION_HASH_KEY=",
        "DATABASE_URL=postgres://",
        "SITE_URL=https://",
    ):
        assert required in collect[0]
    assert "DEBUG=" not in collect[0]


def test_the_image_runs_gunicorn_as_a_non_root_user_on_port_8000():
    stage = final_stage()
    users = [args for name, args in stage if name == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    assert ("EXPOSE", "8000") in stage
    env = " ".join(args for name, args in stage if name == "ENV")
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in env
    # Exec form, so gunicorn is PID 1 and gets the stop signal.
    cmd = json.loads([args for name, args in stage if name == "CMD"][-1])
    assert cmd[:2] == ["gunicorn", "config.wsgi:application"]
    assert "0.0.0.0:8000" in cmd


def test_dockerignore_keeps_the_local_env_file_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored
    assert ".venv" in ignored


# --- /healthz -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_ok_when_the_database_is_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_answers_503_when_the_database_is_unreachable(client):
    with mock.patch(
        "django.db.backends.base.base.BaseDatabaseWrapper.ensure_connection",
        side_effect=OperationalError("connection refused"),
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.content == b"database unavailable"


@pytest.mark.django_db
def test_healthz_only_reads(client):
    assert client.post("/healthz").status_code == 405


# --- production settings ----------------------------------------------------------------


def run_production(body: str, **env: str):
    return run_django(body, settings="config.settings.production", **env)


IMPORT_PRODUCTION = (
    "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
)


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    """An environment the production settings accept, as docker-compose.yml gives it."""
    return {
        "DEBUG": "false",
        "SECRET_KEY": "production-test-key",
        "SUPPRESSION_HASH_KEY": "production-test-hash-key",
        "DATABASE_URL": "postgres://klantbeeld:pw@db.invalid:5432/klantbeeld",
        "SITE_URL": "https://shop.example.nl",
        "ALLOWED_HOSTS": "shop.example.nl",
        "VAR_DIR": str(tmp_path),
    }


def test_production_settings_import_with_a_complete_environment(production_env):
    result = run_production(IMPORT_PRODUCTION, **production_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_production_refuses_debug(production_env):
    result = run_production(IMPORT_PRODUCTION, **{**production_env, "DEBUG": "true"})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DEBUG must be off in production" in result.stderr


def test_production_refuses_sqlite(production_env, tmp_path):
    sqlite = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = run_production(IMPORT_PRODUCTION, **{**production_env, "DATABASE_URL": sqlite})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "PostgreSQL" in result.stderr


def test_production_refuses_plain_http_site_url_unless_allowed(production_env):
    http = {**production_env, "SITE_URL": "http://localhost:8000"}
    refused = run_production(IMPORT_PRODUCTION, **http)
    assert refused.returncode != 0
    assert "SITE_URL must be https://" in refused.stderr
    allowed = run_production(IMPORT_PRODUCTION, **http, ALLOW_HTTP_SITE_URL="true")
    assert allowed.returncode == 0, allowed.stderr


def test_production_refuses_to_start_without_a_suppression_hash_key(production_env):
    # Not even with SECRET_KEY set: base's fallback would tie erasures to that key.
    result = run_production(IMPORT_PRODUCTION, **{**production_env, "SUPPRESSION_HASH_KEY": ""})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SUPPRESSION_HASH_KEY must be set in production" in result.stderr


def test_compose_makes_the_suppression_hash_key_required(services):
    for name in APP_SERVICES:
        value = services[name]["environment"]["SUPPRESSION_HASH_KEY"]
        assert value.startswith("${SUPPRESSION_HASH_KEY:?"), name


def test_production_refuses_an_empty_allowed_hosts(production_env):
    result = run_production(IMPORT_PRODUCTION, **{**production_env, "ALLOWED_HOSTS": ""})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must name" in result.stderr


SHOW_SECURITY = (
    "from django.conf import settings;"
    "print(settings.SECURE_PROXY_SSL_HEADER, settings.SESSION_COOKIE_SECURE)"
)


def test_the_forwarded_proto_header_is_trusted_only_when_told(production_env):
    plain = run_production(SHOW_SECURITY, **production_env)
    assert plain.stdout.strip() == "None True"
    behind_proxy = run_production(SHOW_SECURITY, **production_env, TRUST_X_FORWARDED_PROTO="true")
    assert behind_proxy.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https') True"


def test_a_plain_http_trial_install_does_not_demand_secure_cookies(production_env):
    http = {**production_env, "SITE_URL": "http://localhost:8000", "ALLOW_HTTP_SITE_URL": "true"}
    assert run_production(SHOW_SECURITY, **http).stdout.strip() == "None False"


def test_the_esp_key_reaches_anymail_from_the_environment(production_env):
    code = (
        "from django.conf import settings; import json;"
        "print(json.dumps([settings.EMAIL_BACKEND, settings.ANYMAIL]))"
    )
    result = run_production(
        code,
        **production_env,
        ANYMAIL_ESP="postmark",
        ANYMAIL_WEBHOOK_SECRET="hook:s3cret",
        ANYMAIL_POSTMARK_SERVER_TOKEN="server-token",
        ANYMAIL_SENDGRID_API_KEY="",  # passed through empty by compose: ignored
    )
    assert result.returncode == 0, result.stderr
    backend, anymail = json.loads(result.stdout)
    assert backend == "anymail.backends.postmark.EmailBackend"
    assert anymail == {"WEBHOOK_SECRET": "hook:s3cret", "POSTMARK_SERVER_TOKEN": "server-token"}
