"""The project as a newcomer and an operator meet it: settings, migrations, local outbox."""

import email
from email import policy

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from tests.utils import ROOT, run_django


@pytest.mark.django_db
def test_every_model_change_has_a_migration():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_the_readme_starts_with_the_two_commands():
    first_section = (ROOT / "README.md").read_text().split("\n## ", 2)[:2]
    text = "\n".join(first_section)
    assert "make run" in text
    assert "make test" in text


def test_without_debug_a_secret_key_is_required(tmp_path):
    refused = run_django("", VAR_DIR=str(tmp_path))
    assert refused.returncode != 0
    assert "SECRET_KEY must be set" in refused.stderr
    assert run_django("", VAR_DIR=str(tmp_path), DEBUG="true").returncode == 0
    assert run_django("", VAR_DIR=str(tmp_path), SECRET_KEY="s3cret").returncode == 0


def test_the_embedded_database_runs_in_wal_mode_so_web_and_worker_can_share_it(tmp_path):
    code = (
        "from django.db import connection; c = connection.cursor();"
        "c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])"
    )
    result = run_django(code, VAR_DIR=str(tmp_path), DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wal"
    assert (tmp_path / "klantbeeld.sqlite3").exists()


def test_without_redis_celery_uses_the_embedded_filesystem_broker(tmp_path):
    broker_url = "from config.celery import app; print(app.conf.broker_url)"
    code = broker_url + "; print(app.conf.broker_transport_options['data_folder_in'])"
    result = run_django(code, VAR_DIR=str(tmp_path), DEBUG="true")
    assert result.returncode == 0, result.stderr
    broker, folder = result.stdout.split()
    assert broker == "filesystem://"
    assert folder.startswith(str(tmp_path))
    with_redis = run_django(
        broker_url,
        VAR_DIR=str(tmp_path),
        DEBUG="true",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert with_redis.stdout.strip() == "redis://127.0.0.1:6379/3"


def test_mail_goes_to_a_local_outbox_of_eml_files(tmp_path):
    with override_settings(
        EMAIL_BACKEND="core.mail.OutboxEmailBackend", OUTBOX_DIR=tmp_path / "outbox"
    ):
        mail.send_mail("Welkom", "Hallo Anna", "shop@example.com", ["anna@example.com"])
        mail.send_mail("Tweede", "Nog een", "shop@example.com", ["bram@example.com"])
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    messages = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert {m["To"] for m in messages} == {"anna@example.com", "bram@example.com"}
    assert {m["Subject"] for m in messages} == {"Welkom", "Tweede"}


@pytest.mark.redis
def test_with_redis_the_cache_is_shared_between_web_and_worker_processes(settings):
    from django.core.cache import cache

    cache.set("klantbeeld-test:shared", "seen by the other process", 60)
    code = "from django.core.cache import cache; print(cache.get('klantbeeld-test:shared'))"
    # The other process is configured as every process is: the same REDIS_URL.
    other = run_django(code, DEBUG="true", REDIS_URL=settings.REDIS_URL)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "seen by the other process"
