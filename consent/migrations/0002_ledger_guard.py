"""The database itself refuses UPDATE and DELETE of consent ledger rows.

The one exception is erasure (consent.services.ledger_scrub), which inserts a
LedgerPermit row for the profile inside its own transaction and may then only blank the
personal columns (email, ip, user_agent, note). A permit without profile lets a test
database be flushed.
"""

from django.db import migrations

TABLE = "consent_consentevent"
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

POSTGRES = f"""
CREATE OR REPLACE FUNCTION consent_ledger_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF EXISTS (SELECT 1 FROM consent_ledgerpermit WHERE profile_id IS NULL) THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the consent ledger is append-only: rows cannot be deleted';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM consent_ledgerpermit WHERE profile_id = OLD.profile_id) THEN
    RAISE EXCEPTION 'the consent ledger is append-only: rows cannot be changed';
  END IF;
  IF {" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in UNCHANGED)}
     OR NEW.email <> '' OR NEW.ip IS NOT NULL OR NEW.user_agent <> '' OR NEW.note <> '' THEN
    RAISE EXCEPTION 'erasure may only blank the personal columns of the consent ledger';
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_ledger_guard BEFORE UPDATE OR DELETE ON {TABLE}
  FOR EACH ROW EXECUTE FUNCTION consent_ledger_guard();
"""
POSTGRES_DROP = f"""
DROP TRIGGER IF EXISTS consent_ledger_guard ON {TABLE};
DROP FUNCTION IF EXISTS consent_ledger_guard();
"""

SQLITE = [
    f"""
CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON {TABLE}
WHEN NOT EXISTS (SELECT 1 FROM consent_ledgerpermit WHERE profile_id IS NULL)
BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only: rows cannot be deleted'); END;
""",
    f"""
CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE ON {TABLE}
WHEN NOT EXISTS (SELECT 1 FROM consent_ledgerpermit WHERE profile_id = OLD.profile_id)
  OR {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in UNCHANGED)}
  OR NEW.email <> '' OR NEW.ip IS NOT NULL OR NEW.user_agent <> '' OR NEW.note <> ''
BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only: rows cannot be changed'); END;
""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS consent_ledger_no_delete;",
    "DROP TRIGGER IF EXISTS consent_ledger_no_update;",
]


def _run(schema_editor, postgres, sqlite):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(postgres)
    elif vendor == "sqlite":
        for statement in sqlite:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"No consent ledger guard for {vendor}")


def forwards(apps, schema_editor):
    _run(schema_editor, POSTGRES, SQLITE)


def backwards(apps, schema_editor):
    _run(schema_editor, POSTGRES_DROP, SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
