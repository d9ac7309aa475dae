"""No way around the ledger guard, and the consent texts customers saw are guarded too.

0002 let every ledger row be deleted while a LedgerPermit without profile existed (it
was there for test database flushes). That branch is gone: a DELETE of a ledger row is
always refused, and the only change allowed is erasure blanking the personal columns
of one profile's rows under a permit for that profile (consent.services.ledger_scrub).
A permit now always names its profile. Test flushes lift the triggers themselves
(tests/conftest.py).

A ConsentText is the exact wording a customer agreed to: UPDATE and DELETE are refused;
a changed text is a new version (consent.services.topic_text_set).

TRUNCATE is not covered: PostgreSQL does not fire row triggers for it (a statement
trigger could refuse it, but the test flush truncates every table) and only the table
owner can truncate. Keep that role away from the application.
"""

from django.db import migrations, models

LEDGER = "consent_consentevent"
TEXTS = "consent_consenttext"
UNCHANGED = [
    "id",
    "profile_id",
    "topic_id",
    "action",
    "occurred_at",
    "source",
    "consent_text_id",
    "actor_id",
]
LEDGER_DELETE = "the consent ledger is append-only: rows cannot be deleted"
LEDGER_UPDATE = "the consent ledger is append-only: rows cannot be changed"
SCRUB_ONLY = "erasure may only blank the personal columns of the consent ledger"
TEXT_FIXED = "a consent text customers saw cannot be changed or deleted: add a new version"
_PG_CHANGED = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in UNCHANGED)
_SQLITE_CHANGED = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in UNCHANGED)
_NOT_BLANK = "NEW.email <> '' OR NEW.ip IS NOT NULL OR NEW.user_agent <> '' OR NEW.note <> ''"

POSTGRES_LEDGER = f"""
CREATE OR REPLACE FUNCTION consent_ledger_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION '{LEDGER_DELETE}';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM consent_ledgerpermit WHERE profile_id = OLD.profile_id) THEN
    RAISE EXCEPTION '{LEDGER_UPDATE}';
  END IF;
  IF {_PG_CHANGED} OR {_NOT_BLANK} THEN
    RAISE EXCEPTION '{SCRUB_ONLY}';
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
"""
# 0002's function, for going back.
POSTGRES_LEDGER_0002 = f"""
CREATE OR REPLACE FUNCTION consent_ledger_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF EXISTS (SELECT 1 FROM consent_ledgerpermit WHERE profile_id IS NULL) THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION '{LEDGER_DELETE}';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM consent_ledgerpermit WHERE profile_id = OLD.profile_id) THEN
    RAISE EXCEPTION '{LEDGER_UPDATE}';
  END IF;
  IF {_PG_CHANGED} OR {_NOT_BLANK} THEN
    RAISE EXCEPTION '{SCRUB_ONLY}';
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
"""
POSTGRES_TEXTS = f"""
CREATE OR REPLACE FUNCTION consent_text_guard() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '{TEXT_FIXED}';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_text_guard BEFORE UPDATE OR DELETE ON {TEXTS}
  FOR EACH ROW EXECUTE FUNCTION consent_text_guard();
"""
POSTGRES_TEXTS_DROP = f"""
DROP TRIGGER IF EXISTS consent_text_guard ON {TEXTS};
DROP FUNCTION IF EXISTS consent_text_guard();
"""

# SQLite rebuilds a table to alter a column and its triggers name the permit table: they
# are dropped before the permit column changes and made again after.
SQLITE_LEDGER_DROP = [
    "DROP TRIGGER IF EXISTS consent_ledger_no_delete;",
    "DROP TRIGGER IF EXISTS consent_ledger_no_update;",
]
SQLITE_LEDGER_UPDATE = f"""
CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE ON {LEDGER}
WHEN NOT EXISTS (SELECT 1 FROM consent_ledgerpermit WHERE profile_id = OLD.profile_id)
  OR {_SQLITE_CHANGED} OR {_NOT_BLANK}
BEGIN SELECT RAISE(ABORT, '{LEDGER_UPDATE}'); END;
"""
SQLITE_LEDGER = [
    f"""
CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON {LEDGER}
BEGIN SELECT RAISE(ABORT, '{LEDGER_DELETE}'); END;
""",
    SQLITE_LEDGER_UPDATE,
]
SQLITE_LEDGER_0002 = [
    f"""
CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON {LEDGER}
WHEN NOT EXISTS (SELECT 1 FROM consent_ledgerpermit WHERE profile_id IS NULL)
BEGIN SELECT RAISE(ABORT, '{LEDGER_DELETE}'); END;
""",
    SQLITE_LEDGER_UPDATE,
]
SQLITE_TEXTS = [
    f"""
CREATE TRIGGER consent_text_no_update BEFORE UPDATE ON {TEXTS}
BEGIN SELECT RAISE(ABORT, '{TEXT_FIXED}'); END;
""",
    f"""
CREATE TRIGGER consent_text_no_delete BEFORE DELETE ON {TEXTS}
BEGIN SELECT RAISE(ABORT, '{TEXT_FIXED}'); END;
""",
]
SQLITE_TEXTS_DROP = [
    "DROP TRIGGER IF EXISTS consent_text_no_update;",
    "DROP TRIGGER IF EXISTS consent_text_no_delete;",
]


def _run(schema_editor, *, postgres=(), sqlite=()):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = postgres
    elif vendor == "sqlite":
        statements = sqlite
    else:
        raise RuntimeError(f"No consent ledger guard for {vendor}")
    for statement in statements:
        schema_editor.execute(statement)


def drop_sqlite_ledger_guard(apps, schema_editor):
    _run(schema_editor, sqlite=SQLITE_LEDGER_DROP)


def guard(apps, schema_editor):
    _run(
        schema_editor,
        postgres=[POSTGRES_LEDGER, POSTGRES_TEXTS],
        sqlite=SQLITE_LEDGER + SQLITE_TEXTS,
    )


def unguard(apps, schema_editor):
    _run(
        schema_editor,
        postgres=[POSTGRES_LEDGER_0002, POSTGRES_TEXTS_DROP],
        sqlite=SQLITE_LEDGER_DROP + SQLITE_TEXTS_DROP,
    )


def restore_sqlite_ledger_guard_0002(apps, schema_editor):
    _run(schema_editor, sqlite=SQLITE_LEDGER_0002)


class Migration(migrations.Migration):
    dependencies = [("consent", "0005_token_nonces")]

    operations = [
        migrations.RunPython(drop_sqlite_ledger_guard, restore_sqlite_ledger_guard_0002),
        migrations.AlterField(
            model_name="ledgerpermit",
            name="profile_id",
            field=models.BigIntegerField(),
        ),
        migrations.RunPython(guard, unguard),
    ]
