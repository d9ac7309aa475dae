"""The deployment files where only a Docker engine could prove them, the /healthz endpoint
the containers are checked with, and the refusals of the production settings.

What the running product can show is shown by `make e2e` (e2e/): it builds with
deploy/build.sh as the Dockerfile does, starts web, worker and beat with compose's
commands, environment and health checks, and drives them from outside. What is left here
is what no engine runs on this machine: compose's dependency order and env_file rule, the
image's user, and whether every setting the product reads reaches the containers."""

import json
import re
import subprocess
from unittest import mock

import pytest
import yaml
from django.db import OperationalError

from tests.utils import ROOT, run_django, run_python

APP_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def documented_in_env_example() -> set[str]:
    """Names assigned in .env.example, commented-out examples included."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


# --- docker-compose.yml -----------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_postgres_and_redis(services, name):
    depends_on = services[name]["depends_on"]
    assert isinstance(depends_on, dict), "a list form cannot ask for a healthy service"
    for backing in ("postgres", "redis"):
        assert depends_on[backing] == {"condition": "service_healthy"}, (name, backing)
        assert "healthcheck" in services[backing], backing  # else "healthy" never comes


def test_worker_and_beat_wait_for_web_which_runs_the_migrations(services):
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["web"] == {"condition": "service_healthy"}, name


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


# Read by the settings but fixed by the image or compose, never set by an operator; PORT
# is 8000 in the image (compose maps it) unless a platform that assigns ports sets it.
SET_BY_THE_IMAGE = {"ENV_FILE", "VAR_DIR", "DEBUG", "DJANGO_SETTINGS_MODULE", "PORT"}
RECORD_READS = """
import json, os, sys

def asked_by_settings():
    frame = sys._getframe(2)
    while frame:
        name = frame.f_code.co_filename
        if "/config/settings/" in name or name.endswith("deploy/gunicorn.conf.py"):
            return True
        frame = frame.f_back
    return False

class Recording(dict):
    read = set()
    def __getitem__(self, key):
        if asked_by_settings():
            Recording.read.add(key)
        return super().__getitem__(key)
    def get(self, key, default=None):
        if asked_by_settings():
            Recording.read.add(key)
        return super().get(key, default)
    def __contains__(self, key):
        if asked_by_settings():
            Recording.read.add(key)
        return super().__contains__(key)

os.environ = Recording(os.environ)
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
import django
django.setup()
path = "deploy/gunicorn.conf.py"
exec(compile(open(path).read(), os.path.abspath(path), "exec"), {})
print(json.dumps(sorted(Recording.read)))
"""


def test_every_setting_the_product_reads_reaches_the_containers(production_env):
    """The names the production settings (and gunicorn's) actually ask the environment
    for, recorded while they load: each is passed by compose to web, worker and beat,
    and documented in .env.example. A new setting that misses either fails here."""
    result = run_python(RECORD_READS, **production_env)
    assert result.returncode == 0, result.stderr
    read = set(json.loads(result.stdout)) - SET_BY_THE_IMAGE
    assert {"SITE_URL", "OPT_IN_TTL_DAYS", "SHOP_URL", "SECURE_HSTS_SECONDS"} <= read
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in APP_SERVICES:
        missing = read - set(services[name]["environment"])
        assert not missing, f"compose does not pass {sorted(missing)} to {name}"
    # compose points these at its own postgres and redis services.
    undocumented = read - documented_in_env_example() - {"DATABASE_URL", "REDIS_URL"}
    assert not undocumented, f"not in .env.example: {sorted(undocumented)}"


def test_an_optional_setting_compose_passes_empty_keeps_its_default(production_env):
    # compose turns ${OPT_IN_TTL_DAYS:-} into "" when .env leaves it out.
    code = (
        "from django.conf import settings;"
        "print(settings.OPT_IN_TTL_DAYS, settings.CSRF_TRUSTED_ORIGINS, settings.SHOP_BASKET_URL)"
    )
    empty = {
        "OPT_IN_TTL_DAYS": "",
        "CSRF_TRUSTED_ORIGINS": "",
        "SHOP_BASKET_URL": "",
        "SHOP_URL": "",
    }
    result = run_production(code, **production_env, **empty)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "7",
        "['https://shop.example.nl']",
        "https://shop.example.nl/winkelmand",
    ]


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


def test_the_image_is_built_by_the_script_make_e2e_runs():
    # make e2e runs deploy/build.sh; the image must not build any other way.
    runs = [args for name, args in dockerfile_instructions() if name == "RUN"]
    assert "deploy/build.sh /opt/venv deps" in runs
    assert "deploy/build.sh /opt/venv app" in runs
    assert not any("pip install" in args or "manage.py" in args for args in runs)


def test_the_image_runs_gunicorn_as_a_non_root_user():
    stage = final_stage()
    users = [args for name, args in stage if name == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    env = " ".join(args for name, args in stage if name == "ENV")
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in env
    # Exec form, so gunicorn is PID 1 and gets the stop signal; compose's web uses the
    # same settings file.
    cmd = json.loads([args for name, args in stage if name == "CMD"][-1])
    assert cmd == ["gunicorn", "--config", "deploy/gunicorn.conf.py", "config.wsgi:application"]


def test_dockerignore_keeps_the_local_env_file_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored
    assert ".venv" in ignored
    assert "var" in ignored  # make run's var/dev.env holds a SECRET_KEY


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
        "SECRET_KEY": "production-test-key-" + "x1y2z3" * 10,
        "SUPPRESSION_HASH_KEY": "production-test-hash-key",
        "DATABASE_URL": "postgres://klantbeeld:pw@db.invalid:5432/klantbeeld",
        "SITE_URL": "https://shop.example.nl",
        "ALLOWED_HOSTS": "shop.example.nl",
        "SHOP_NAME": "Schoenen Jansen B.V.",
        "SHOP_ADDRESS": "Kerkstraat 1, 1017 GA Amsterdam",
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


@pytest.mark.parametrize(
    "key", ["x", "short-but-not-random", "a" * 60, "django-insecure-" + "k3y" * 20]
)
def test_production_refuses_a_weak_secret_key(production_env, key):
    result = run_production(IMPORT_PRODUCTION, **{**production_env, "SECRET_KEY": key})
    assert result.returncode != 0
    assert "SECRET_KEY is too weak for production" in result.stderr


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


@pytest.mark.parametrize("name", ["SHOP_NAME", "SHOP_ADDRESS"])
def test_production_refuses_to_mail_without_the_senders_name_and_address(production_env, name):
    # Not base's demo values: the law asks for the real ones in every commercial mail.
    result = run_production(IMPORT_PRODUCTION, **{**production_env, name: ""})
    assert result.returncode != 0
    assert f"{name} must be set in production" in result.stderr


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
