"""Import existing accounts from CSV or XLSX: upsert by user id, one bulk write per chunk.

Rows are checked with the same rules as every other way in (`profile_data_clean`). A bad
row is reported with its spreadsheet row number (the header is row 1) and the reason,
and the good rows go in. A dry run does all the checking and writes nothing.
"""

import csv
import datetime as dt
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.db import rows_insert

from . import registry
from .models import ChangeSource, ImportJob, Profile, ProfileChange
from .services import changes_apply, creation_changes, profile_upsert
from .validation import WRITABLE_FIELDS, profile_data_clean
from .webhooks import profile_changes_emit

# Column names a Dutch or English spreadsheet is likely to use, mapped to our fields.
HEADER_ALIASES = {
    "user_id": ["userid", "user", "klantnummer", "klant_id", "customer_id", "customer_number"],
    "email": ["e_mail", "emailadres", "e_mailadres", "email_address", "mail"],
    "first_name": ["voornaam", "firstname", "given_name"],
    "last_name": ["achternaam", "lastname", "surname", "family_name"],
    "birth_date": ["geboortedatum", "birthday", "date_of_birth", "dob", "birthdate"],
    "phone": ["telefoon", "telefoonnummer", "phone_number", "mobile", "mobiel"],
    "street": ["straat", "street_name"],
    "house_number": ["huisnummer", "number"],
    "postal_code": ["postcode", "zip", "zipcode", "zip_code", "postcode_nl"],
    "city": ["plaats", "woonplaats", "stad", "town"],
    "country": ["land", "country_code"],
    "language": ["taal", "locale"],
    "timezone": ["tijdzone", "time_zone"],
    "lifecycle_stage": ["stage", "fase", "levensfase"],
    "acquisition_source": ["bron", "source", "herkomst"],
    "custom_attributes": [],
}
_ALIAS = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in [name, *aliases]}
# Columns our own export writes that are not for import (figures kept by events).
READ_ONLY_COLUMNS = {
    "order_count",
    "total_spent",
    "first_order_at",
    "last_order_at",
    "last_seen_at",
    "created_at",
    "updated_at",
}
logger = logging.getLogger(__name__)
MAX_ERRORS_KEPT = 1000
MAX_PREVIEW = 100
_FORMULA_ESCAPED = re.compile(r"^'[=+\-@\t\r]")


@dataclass
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    def refuse(self, row: int, field_name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(RowError(row, field_name, message))

    def show(self, row: int, user_id: str, action: str, changes: dict[str, Any]) -> None:
        if len(self.preview) < MAX_PREVIEW:
            self.preview.append(
                {"row": row, "user_id": user_id, "action": action, "changes": changes}
            )


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not CSV/XLSX, no user_id column, …)."""


def header_normalise(name: str) -> str:
    key = re.sub(r"[\s\-.]+", "_", str(name or "").strip().lower())
    return _ALIAS.get(key, str(name or "").strip())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.date() if value.time() == dt.time(0) else value
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    if _FORMULA_ESCAPED.match(text):  # undo our own export's formula escaping
        text = text[1:]
    return text


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):  # Excel on Windows still saves CSV as cp1252
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(_("The file is not UTF-8 or Windows-1252 text."))


def table_read(content: bytes, filename: str) -> tuple[list[str], Iterator[list[Any]], int]:
    """(header, data rows, number of data rows) of a CSV or XLSX file."""
    if filename.lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise ImportFileError(_("The file is not a readable XLSX workbook.")) from exc
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(h or "") for h in next(rows, [])]
        total = max(0, (sheet.max_row or 1) - 1)
        return header, (list(r) for r in rows), total
    text = _decode(content)
    # The delimiter is whichever of , ; or tab the header uses most (Dutch Excel writes ;).
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, [])
    # For the progress bar only: newlines inside quoted cells may count a few rows too many.
    total = max(0, text.count("\n") + (0 if text.endswith("\n") else 1) - 1)
    return header, reader, total


def _row_data(header: list[str], values: list[Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(user id, profile data, custom attributes) of one row; empty cells are left out."""
    data: dict[str, Any] = {}
    attrs: dict[str, str] = {}
    user_id = ""
    for name, raw in zip(header, values, strict=False):
        value = _cell(raw)
        if not value or not name or name in READ_ONLY_COLUMNS:
            continue
        if name == "user_id":
            user_id = value
        elif name == "custom_attributes":
            data["custom_attributes"] = value
        elif name in WRITABLE_FIELDS:
            data[name] = value
        else:
            attrs[name] = value
    return user_id, data, attrs


@dataclass
class _Row:
    number: int
    user_id: str
    data: dict[str, Any]


class _Importer:
    def __init__(self, *, dry_run: bool, actor: User | None, now: dt.datetime, note: str):
        self.dry_run = dry_run
        self.actor = actor
        self.now = now
        self.note = note
        self.report = ImportReport()
        # User ids and addresses of the rows taken so far: a later row with the same one
        # is refused. A refused row claims nothing, so a corrected copy further down wins.
        self.seen_user_ids: dict[str, int] = {}
        self.seen_emails: dict[str, int] = {}

    def _refuse_all(self, number: int, exc: ValidationError) -> None:
        for name, messages in exc.message_dict.items():
            self.report.refuse(number, name, " ".join(messages))

    def chunk(self, rows: list[_Row]) -> None:
        """Check and write one chunk. For real, the chunk's customers are read with a row
        lock and written in the same transaction: a change someone makes meanwhile waits,
        and is never overwritten with what this chunk read before it."""
        if self.dry_run:
            new, changed = self._plan(rows, lock=False)
            self.report.created += len(new)
            self.report.updated += len(changed)
            self._show(new, changed)
            return
        try:
            with transaction.atomic():
                new, changed = self._plan(rows, lock=True)
                self._write(new, changed)
        except IntegrityError:
            # Someone created one of these customers meanwhile: go row by row.
            self._write_one_by_one(self._pending)
            return
        self.report.created += len(new)
        self.report.updated += len(changed)
        self._show(new, changed)

    def _show(self, new: list, changed: list) -> None:
        for action, batch in (("create", new), ("update", changed)):
            for row, _profile, changes in batch:
                self.report.show(row.number, row.user_id, action, changes)

    def _plan(self, rows: list[_Row], *, lock: bool) -> tuple[list, list]:
        """Which rows create and which change a customer; refuses the bad ones (a row's
        refusal does not depend on the write, so it is recorded at once)."""
        found = Profile.objects.filter(user_id__in=[r.user_id for r in rows])
        if lock:
            found = found.select_for_update().order_by("pk")  # one order: no deadlocks
        existing = {p.user_id: p for p in found}
        cleaned: list[tuple[_Row, dict[str, Any]]] = []
        for row in rows:
            profile = existing.get(row.user_id)
            try:
                clean = profile_data_clean(
                    _parse_attrs(row.data),
                    today=timezone.localdate(self.now),
                    country_default=str(profile.country) if profile else "",
                    postal_code_current=profile.postal_code if profile else "",
                    require_email=profile is None,
                )
            except ValidationError as exc:
                self._refuse_all(row.number, exc)
                continue
            cleaned.append((row, clean))

        emails = [c["email"] for _, c in cleaned if "email" in c]
        owners = dict(
            Profile.objects.filter(email__lower__in=emails).values_list("email", "user_id")
        )
        new: list[tuple[_Row, Profile, dict[str, Any]]] = []
        changed: list[tuple[_Row, Profile, dict[str, Any]]] = []
        self._pending = []
        for row, clean in cleaned:
            first = self.seen_user_ids.get(row.user_id)
            if first is not None:
                message = _("User id also on row %(row)d.") % {"row": first}
                self.report.refuse(row.number, "user_id", message)
                continue
            email = clean.get("email")
            if email:
                owner = owners.get(email)
                first = self.seen_emails.get(email)
                if owner is not None and owner != row.user_id:
                    message = _("Email address belongs to customer %(user_id)s.") % {
                        "user_id": owner
                    }
                    self.report.refuse(row.number, "email", message)
                    continue
                if first is not None:
                    message = _("Email address also on row %(row)d.") % {"row": first}
                    self.report.refuse(row.number, "email", message)
                    continue
                self.seen_emails[email] = row.number
            self.seen_user_ids[row.user_id] = row.number
            profile = existing.get(row.user_id)
            if profile is None:
                profile = Profile(user_id=row.user_id, **clean)
                new.append((row, profile, creation_changes(clean)))
                self._pending.append(row)
            else:
                changes = changes_apply(profile, clean)
                if changes:
                    changed.append((row, profile, changes))
                    self._pending.append(row)
                else:
                    self.report.unchanged += 1
        return new, changed

    def _write(self, new: list, changed: list) -> None:
        """One transaction: one bulk insert of the new customers, one bulk update of the
        changed ones, one bulk insert of their history."""
        with transaction.atomic():
            rows_insert(Profile, [p for _, p, _ in new])
            if new:
                ids = dict(
                    Profile.objects.filter(user_id__in=[p.user_id for _, p, _ in new]).values_list(
                        "user_id", "pk"
                    )
                )
                for _, profile, _ in new:
                    profile.pk = ids[profile.user_id]
            if changed:
                fields = sorted({f for _, _, changes in changed for f in changes})
                for _, profile, _ in changed:
                    profile.updated_at = self.now
                Profile.objects.bulk_update([p for _, p, _ in changed], [*fields, "updated_at"])
            registry.address_changed(
                [p for _, p, _ in new] + [p for _, p, changes in changed if "email" in changes]
            )
            rows_insert(
                ProfileChange,
                [
                    ProfileChange(
                        profile_id=profile.pk,
                        changed_at=self.now,
                        source=ChangeSource.IMPORT,
                        actor=self.actor,
                        created=created,
                        changes=changes,
                        note=self.note,
                    )
                    for created, batch in ((True, new), (False, changed))
                    for _, profile, changes in batch
                ],
            )
            profile_changes_emit(
                [
                    (profile, created, changes)
                    for created, batch in ((True, new), (False, changed))
                    for _, profile, changes in batch
                ],
                source=ChangeSource.IMPORT,
                now=self.now,
            )

    def _write_one_by_one(self, rows: list[_Row]) -> None:
        for row in rows:
            try:
                _profile, created, changes = profile_upsert(
                    user_id=row.user_id,
                    data=_parse_attrs(row.data),
                    source=ChangeSource.IMPORT,
                    actor=self.actor,
                    now=self.now,
                    note=self.note,
                )
            except ValidationError as exc:
                self._refuse_all(row.number, exc)
                continue
            if created:
                self.report.created += 1
            elif changes:
                self.report.updated += 1
            else:
                self.report.unchanged += 1


def _parse_attrs(data: dict[str, Any]) -> dict[str, Any]:
    """The custom_attributes column holds JSON (as our export writes it); parse it."""
    value = data.get("custom_attributes")
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value  # profile_data_clean refuses it with a message naming the field
        return {**data, "custom_attributes": parsed}
    return data


def profiles_import(
    *,
    content: bytes,
    filename: str,
    dry_run: bool,
    actor: User | None = None,
    now: dt.datetime | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int, ImportReport], None] | None = None,
) -> ImportReport:
    """Upsert the customers in a CSV/XLSX file by user id; returns what happened per row.

    Refuses the whole file (ImportFileError) only when it cannot be read or has no
    user_id or email column; otherwise refuses single rows and imports the rest. Each
    chunk is written in one transaction with one bulk insert and one bulk update.
    """
    now = now or timezone.now()
    chunk_size = chunk_size or settings.PROFILE_IMPORT_CHUNK_SIZE
    raw_header, rows, total = table_read(content, filename)
    header = [header_normalise(h) for h in raw_header]
    if "user_id" not in header:
        raise ImportFileError(_("The file has no user_id column."))
    if "email" not in header:
        raise ImportFileError(_("The file has no email column."))
    importer = _Importer(dry_run=dry_run, actor=actor, now=now, note=filename[:200])
    report = importer.report
    report.extra_columns = [
        h for h in header if h and h not in _ALIAS.values() and h not in READ_ONLY_COLUMNS
    ]
    chunk: list[_Row] = []
    for number, values in enumerate(rows, start=2):
        if not any(_cell(v) for v in values):
            continue
        report.rows += 1
        user_id, data, attrs = _row_data(header, values)
        if not user_id:
            report.refuse(number, "user_id", _("A user id is required."))
            continue
        if len(user_id) > 255:
            report.refuse(number, "user_id", _("At most 255 characters."))
            continue
        if attrs:
            given = _parse_attrs(data).get("custom_attributes")
            if given is None or isinstance(given, dict):
                data["custom_attributes"] = {**(given or {}), **attrs}
        chunk.append(_Row(number, user_id, data))
        if len(chunk) >= chunk_size:
            importer.chunk(chunk)
            chunk = []
            if progress:
                progress(report.rows, total, report)
    if chunk:
        importer.chunk(chunk)
    if progress:
        progress(report.rows, total, report)
    return report


# A running import that has not reported progress for this long has stopped (a worker
# was killed or restarted): the admin offers to start it again.
STALLED_AFTER = dt.timedelta(minutes=15)
# Uploaded files are personal data: gone once imported, or after this long unused.
FILE_KEPT = dt.timedelta(days=7)
# Previews and refused rows name people too: scrubbed after this long.
REPORT_KEPT = dt.timedelta(days=30)


def import_job_run(*, job_id: int, now: dt.datetime | None = None) -> None:
    """Run a queued admin import, keeping its progress and outcome on the job row.

    Never leaves a job "running" when it stops: any error marks it failed, with a message
    for the marketer (and only the job id and the error's kind in the log)."""
    # Claim the job atomically: a redelivered task or a second worker finds it taken.
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    if not claimed:
        return
    job = ImportJob.objects.select_related("source_job").get(pk=job_id)
    content_job = job.source_job or job

    def progress(done: int, total: int, report: ImportReport) -> None:
        ImportJob.objects.filter(pk=job_id).update(
            rows_done=done,
            rows_total=max(total, done),
            created_count=report.created,
            updated_count=report.updated,
            unchanged_count=report.unchanged,
            error_count=report.error_count,
            heartbeat_at=timezone.now(),
        )

    try:
        report = profiles_import(
            content=bytes(content_job.content),
            filename=job.filename,
            dry_run=job.dry_run,
            actor=job.created_by,
            now=now,
            progress=progress,
        )
    except ImportFileError as exc:
        _job_failed(job_id, str(exc))
        return
    except Exception as exc:
        logger.error("import job %s stopped: %s", job_id, type(exc).__name__)
        done = ImportJob.objects.get(pk=job_id).rows_done
        _job_failed(
            job_id,
            _(
                "The import stopped after about %(rows)d rows (%(error)s). The rows before it "
                "were imported; importing the file again is safe, as rows are matched on user_id."
            )
            % {"rows": done, "error": type(exc).__name__},
        )
        return
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJob.Status.DONE,
        finished_at=timezone.now(),
        rows_done=report.rows,
        rows_total=report.rows,
        created_count=report.created,
        updated_count=report.updated,
        unchanged_count=report.unchanged,
        error_count=report.error_count,
        errors=[e.as_dict() for e in report.errors],
        preview=report.preview,
        extra_columns=report.extra_columns,
    )
    if not job.dry_run:
        # Imported: the file is not needed any more (nor its dry run's copy).
        ImportJob.objects.filter(pk__in=[job.pk, content_job.pk]).update(content=b"")


def _job_failed(job_id: int, message: str) -> None:
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJob.Status.FAILED, failure=message, finished_at=timezone.now()
    )


def import_jobs_tidy(*, now: dt.datetime) -> dict[str, int]:
    """Daily: drop uploaded files not imported within a week, and scrub previews and
    refused rows (they name people) after a month. Stalled jobs are marked failed."""
    stalled = ImportJob.objects.filter(
        status=ImportJob.Status.RUNNING, heartbeat_at__lt=now - STALLED_AFTER
    ).update(
        status=ImportJob.Status.FAILED,
        finished_at=now,
        failure=_("The import stopped (no progress for a while). Start it again from its dry run."),
    )
    files = (
        ImportJob.objects.filter(created_at__lt=now - FILE_KEPT)
        .exclude(content=b"")
        .update(content=b"")
    )
    reports = (
        ImportJob.objects.filter(created_at__lt=now - REPORT_KEPT)
        .exclude(preview=[], errors=[])
        .update(preview=[], errors=[])
    )
    return {"stalled": stalled, "files": files, "reports": reports}


ERASED = "[erased]"


def _rows_of(job: ImportJob, *, email: str, user_id: str) -> set[int] | None:
    """The row numbers of the stored file that are the person's (by user id or address);
    None when no file is kept. An unreadable file counts as theirs if it holds the
    address anywhere."""
    content = bytes(job.content or (job.source_job.content if job.source_job else b""))
    if not content:
        return None
    try:
        raw_header, rows, _total = table_read(content, job.filename)
    except ImportFileError:
        return {0} if email.encode() in content.lower() else set()
    header = [header_normalise(h) for h in raw_header]
    theirs = set()
    for number, values in enumerate(rows, start=2):
        for name, raw in zip(header, values, strict=False):
            cell = _cell(raw)
            if (name == "user_id" and cell == user_id) or cell.lower() == email:
                theirs.add(number)
                break
    return theirs


def import_jobs_erase(*, email: str, user_id: str) -> int:
    """Erasure (GDPR art. 17) of what the kept imports hold on the person: a stored file
    with a row of theirs is dropped (a dry run must then be uploaded again), their rows
    leave the preview, the messages of their refused rows are blanked, and their address
    is scrubbed from every other message. Returns the number of jobs changed."""
    email = email.strip().lower()
    address = re.compile(re.escape(email), re.IGNORECASE)
    changed = 0
    jobs = ImportJob.objects.select_related("source_job").filter(
        ~Q(content=b"") | ~Q(preview=[]) | ~Q(errors=[]) | ~Q(failure="")
    )
    for job in jobs:
        rows = _rows_of(job, email=email, user_id=user_id) or set()
        fields = []
        if rows and job.content:
            job.content = b""
            fields.append("content")
        preview = [
            entry
            for entry in job.preview
            if entry.get("row") not in rows
            and entry.get("user_id") != user_id
            and not address.search(json.dumps(entry, ensure_ascii=False))
        ]
        if preview != job.preview:
            job.preview = preview
            fields.append("preview")
        errors = [
            {**e, "message": ERASED}
            if e.get("row") in rows
            else {**e, "message": address.sub(ERASED, str(e.get("message", "")))}
            for e in job.errors
        ]
        if errors != job.errors:
            job.errors = errors
            fields.append("errors")
        failure = address.sub(ERASED, job.failure)
        if failure != job.failure:
            job.failure = failure
            fields.append("failure")
        if fields:
            job.save(update_fields=fields)
            changed += 1
    return changed
