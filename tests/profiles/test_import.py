"""Migrating existing accounts: a marketer's CSV or XLSX goes in, bad rows are named."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import Workbook

from profiles.importing import ImportFileError, profiles_import
from profiles.models import ImportJob, Profile, ProfileChange
from profiles.selectors import EXPORT_COLUMNS, profile_export_rows
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

GOOD_CSV = """user_id,email,first_name,last_name,postal_code,country,birth_date,loyalty_tier
A1,anna@example.com,Anna,Jansen,1012AB,NL,1990-02-14,gold
A2,bram@example.com,Bram,de Boer,3511 LK,NL,,silver
"""


def run(text: str | bytes, *, dry_run: bool = False, filename: str = "klanten.csv", **kw):
    content = text.encode() if isinstance(text, str) else text
    return profiles_import(content=content, filename=filename, dry_run=dry_run, **kw)


def test_a_csv_creates_customers_with_clean_values_and_history():
    report = run(GOOD_CSV)
    assert (report.rows, report.created, report.updated, report.error_count) == (2, 2, 0, 0)
    anna = Profile.objects.get(user_id="A1")
    assert anna.postal_code == "1012 AB"
    assert anna.custom_attributes == {"loyalty_tier": "gold"}
    assert report.extra_columns == ["loyalty_tier"]
    creation = anna.changes.get()
    assert creation.source == "import"
    assert creation.created
    assert creation.note == "klanten.csv"


def test_a_dry_run_shows_what_would_happen_and_saves_nothing():
    ProfileFactory(user_id="A2", email="bram@example.com", first_name="Bram", last_name="Boer")
    report = run(GOOD_CSV, dry_run=True)
    assert (report.created, report.updated) == (1, 1)
    update = next(p for p in report.preview if p["action"] == "update")
    assert update["row"] == 3
    assert update["changes"]["last_name"] == ["Boer", "de Boer"]
    assert Profile.objects.count() == 1
    assert Profile.objects.get(user_id="A2").last_name == "Boer"
    assert ProfileChange.objects.count() == 0


def test_bad_rows_are_named_by_row_number_while_good_rows_go_in():
    text = (
        "user_id,email,postal_code,country,timezone\n"
        "A1,anna@example.com,1012 AB,NL,Europe/Amsterdam\n"  # row 2: fine
        "A2,not-an-address,1012 AB,NL,\n"  # row 3: bad email
        ",nobody@example.com,,,\n"  # row 4: no user id
        "A4,dirk@example.com,99,NL,\n"  # row 5: bad postal code
        "A5,eva@example.com,,,Europe/Amsterdm\n"  # row 6: unknown time zone
        "A1,anna2@example.com,,,\n"  # row 7: user id again
        "A7,ANNA@example.com,,,\n"  # row 8: address again
        "A8,fleur@example.com,,,\n"  # row 9: fine
    )
    report = run(text)
    refused = {(e.row, e.field) for e in report.errors}
    assert refused == {
        (3, "email"),
        (4, "user_id"),
        (5, "postal_code"),
        (6, "timezone"),
        (7, "user_id"),
        (8, "email"),
    }
    assert all(e.message for e in report.errors)
    assert set(Profile.objects.values_list("user_id", flat=True)) == {"A1", "A8"}
    assert report.created == 2


def test_an_import_updates_by_user_id_and_leaves_empty_cells_alone():
    profile = ProfileFactory(
        user_id="A1", email="anna@example.com", city="Delft", phone="0612345678"
    )
    report = run("user_id,email,city,phone\nA1,anna@example.com,Leiden,\n")
    assert (report.created, report.updated) == (0, 1)
    profile.refresh_from_db()
    assert profile.city == "Leiden"
    assert profile.phone == "0612345678"
    change = profile.changes.get()
    assert change.changes == {"city": ["Delft", "Leiden"]}
    assert change.source == "import"


def test_an_address_of_another_customer_is_refused():
    ProfileFactory(user_id="B1", email="bezet@example.com")
    report = run("user_id,email\nA1,Bezet@example.com\n")
    assert [(e.row, e.field) for e in report.errors] == [(2, "email")]
    assert "B1" in report.errors[0].message


def test_dutch_column_names_semicolons_and_windows_encoding_work():
    text = "Klantnummer;E-mailadres;Voornaam;Achternaam;Postcode;Land;Geboortedatum\r\n"
    text += "K7;jose@example.com;José;Müller;1234ab;Nederland;31-12-1985\r\n"
    report = run(text.encode("cp1252"))
    assert report.error_count == 0, report.errors
    profile = Profile.objects.get(user_id="K7")
    assert (profile.first_name, profile.last_name, profile.postal_code) == (
        "José",
        "Müller",
        "1234 AB",
    )
    assert profile.country.code == "NL"
    assert str(profile.birth_date) == "1985-12-31"


def test_an_xlsx_workbook_is_read_like_a_csv():
    book = Workbook()
    sheet = book.active
    sheet.append(["user_id", "email", "postal_code", "house_number", "birth_date"])
    import datetime as dt

    sheet.append([1001, "xl@example.com", "2511 CV", 12, dt.datetime(1970, 5, 1)])  # noqa: DTZ001 - a spreadsheet date has no zone
    sheet.append([1002, "kapot", None, None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    report = run(buffer.getvalue(), filename="klanten.xlsx")
    assert report.created == 1
    assert [(e.row, e.field) for e in report.errors] == [(3, "email")]
    profile = Profile.objects.get(user_id="1001")
    assert profile.house_number == "12"
    assert str(profile.birth_date) == "1970-05-01"


@pytest.mark.parametrize(
    ("text", "filename"),
    [
        ("email,first_name\na@example.com,A\n", "no-user-id.csv"),
        ("user_id,first_name\nA1,A\n", "no-email.csv"),
        (b"PK\x03\x04 not really a workbook", "broken.xlsx"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(text, filename):
    with pytest.raises(ImportFileError):
        run(text, filename=filename)
    assert not Profile.objects.exists()


def test_the_export_escapes_formulas_and_imports_back_unchanged():
    ProfileFactory(
        user_id="A1", email="a@example.com", first_name='=HYPERLINK("x")', phone="+31 6 1234 5678"
    )
    rows = list(profile_export_rows(Profile.objects.all()))
    exported = dict(zip(EXPORT_COLUMNS, rows[0], strict=True))
    from core.spreadsheet import csv_stream

    text = "".join(csv_stream(EXPORT_COLUMNS, rows))
    assert "'=HYPERLINK" in text
    assert "'+31 6 1234 5678" in text
    assert exported["first_name"] == '=HYPERLINK("x")'
    report = run(text.encode())
    assert (report.unchanged, report.updated, report.error_count) == (1, 0, 0), report.errors


def test_each_chunk_is_one_bulk_write_not_a_query_per_row():
    def queries_for(n: int, offset: int) -> int:
        text = "user_id,email,city\n" + "".join(
            f"C{offset + i},c{offset + i}@example.com,Zwolle\n" for i in range(n)
        )
        with CaptureQueriesContext(connection) as ctx:
            report = run(text, chunk_size=1000)
        assert report.created == n
        return len(ctx.captured_queries)

    # A query per row would add about 495 queries; SQLite splits an insert into a few
    # statements (its 999-parameter limit), PostgreSQL sends one.
    extra = queries_for(500, 1000) - queries_for(5, 0)
    assert extra < 20
    if connection.vendor == "postgresql":
        assert extra == 0


def test_the_command_prints_a_summary_and_names_bad_rows(tmp_path: Path, capsys):
    path = tmp_path / "klanten.csv"
    path.write_text(GOOD_CSV + "A3,stuk,,,,,\n")
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_profiles", str(path), "--dry-run")
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert "2 would be created" in out
    assert "row 4: email" in err
    assert not Profile.objects.exists()

    path.write_text(GOOD_CSV)
    call_command("import_profiles", str(path))
    out, _ = capsys.readouterr()
    assert "2 were created" in out
    assert Profile.objects.count() == 2


def test_the_command_shows_a_progress_bar(tmp_path: Path, capsys):
    path = tmp_path / "klanten.csv"
    path.write_text("user_id,email\n" + "".join(f"P{i},p{i}@example.com\n" for i in range(30)))
    call_command("import_profiles", str(path), "--dry-run", "--chunk-size", "10", verbosity=2)
    _, err = capsys.readouterr()
    assert "10/30 rows" in err
    assert "30/30 rows" in err


def test_the_command_refuses_a_missing_file():
    proc = subprocess.run(
        [sys.executable, "manage.py", "import_profiles", "/nonexistent.csv"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        check=False,
    )
    assert proc.returncode != 0
    assert "No such file" in proc.stderr


def test_a_refused_row_does_not_block_its_corrected_copy_further_down():
    report = run(
        "user_id,email,postal_code,country\nA1,a@example.com,99,NL\nA1,a@example.com,1012 AB,NL\n"
    )
    assert [(e.row, e.field) for e in report.errors] == [(2, "postal_code")]
    assert Profile.objects.get(user_id="A1").postal_code == "1012 AB"


def test_files_and_reports_do_not_outlive_their_use():
    import datetime as dt

    from django.utils import timezone

    from profiles.importing import import_jobs_tidy

    now = timezone.now()
    old = ImportJob.objects.create(
        filename="old.csv",
        content=b"user_id,email\n",
        status="done",
        preview=[{"row": 2}],
        errors=[{"row": 3}],
    )
    stuck = ImportJob.objects.create(
        filename="stuck.csv",
        content=b"x",
        status="running",
        heartbeat_at=now - dt.timedelta(hours=1),
    )
    fresh = ImportJob.objects.create(
        filename="new.csv", content=b"user_id,email\n", status="done", preview=[{"row": 2}]
    )
    ImportJob.objects.filter(pk__in=[old.pk, stuck.pk]).update(
        created_at=now - dt.timedelta(days=40)
    )
    result = import_jobs_tidy(now=now)
    assert result == {"stalled": 1, "files": 2, "reports": 1}
    old.refresh_from_db()
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert (bytes(old.content), old.preview, old.errors) == (b"", [], [])
    assert stuck.status == "failed"
    assert bytes(fresh.content) != b"" and fresh.preview


def test_the_summary_counts_refused_rows_not_refused_fields():
    """Two bad rows, one of them bad in two fields: "2 refused", with the three reasons."""
    report = run(
        "user_id,email,birth_date\n"
        "A1,not-an-address,2999-01-01\n"  # two reasons
        "A2,bram@example.com,1990-01-01\n"
        "A3,,1990-01-01\n"
    )
    assert (report.created, report.error_count) == (1, 2)
    assert sorted((e.row, e.field) for e in report.errors) == [
        (2, "birth_date"),
        (2, "email"),
        (4, "email"),
    ]
