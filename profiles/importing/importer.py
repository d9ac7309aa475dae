"""The importer: upsert by user id, one bulk write per chunk.

Rows are checked with the same rules as every other way in (`profile_data_clean`). A bad
row is reported with its spreadsheet row number (the header is row 1) and the reason,
and the good rows go in. A dry run does all the checking and writes nothing.
"""

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.db import rows_insert

from .. import registry
from ..models import ChangeSource, Profile, ProfileChange
from ..services import changes_apply, creation_changes, profile_upsert
from ..validation import profile_data_clean
from ..webhooks import profile_changes_emit
from .files import (
    FIELD_OF_COLUMN,
    READ_ONLY_COLUMNS,
    ImportFileError,
    cell_text,
    header_normalise,
    row_data,
    table_read,
)

MAX_ERRORS_KEPT = 1000

MAX_PREVIEW = 100


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
    error_count: int = 0  # refused rows
    errors: list[RowError] = field(default_factory=list)  # their reasons, capped
    refused_rows: set[int] = field(default_factory=set)
    preview: list[dict[str, Any]] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    def refuse(self, row: int, field_name: str, message: str) -> None:
        """One reason a row is refused (a row can have several: one per bad field);
        error_count counts the refused rows."""
        if row not in self.refused_rows:
            self.refused_rows.add(row)
            self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(RowError(row, field_name, message))

    def show(self, row: int, user_id: str, action: str, changes: dict[str, Any]) -> None:
        if len(self.preview) < MAX_PREVIEW:
            self.preview.append(
                {"row": row, "user_id": user_id, "action": action, "changes": changes}
            )


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
        h for h in header if h and h not in FIELD_OF_COLUMN.values() and h not in READ_ONLY_COLUMNS
    ]
    chunk: list[_Row] = []
    for number, values in enumerate(rows, start=2):
        if not any(cell_text(v) for v in values):
            continue
        report.rows += 1
        user_id, data, attrs = row_data(header, values)
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
