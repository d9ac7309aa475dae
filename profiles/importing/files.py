"""Reading an import file: CSV (comma, semicolon or tab; UTF-8 or Windows-1252) or an XLSX
workbook, with Dutch or English column names mapped onto the profile's fields."""

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _

from core.errors import DomainError

from ..validation import WRITABLE_FIELDS

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

FIELD_OF_COLUMN = {
    alias: name for name, aliases in HEADER_ALIASES.items() for alias in [name, *aliases]
}

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

_FORMULA_ESCAPED = re.compile(r"^'[=+\-@\t\r]")


class ImportFileError(DomainError):
    """The file as a whole cannot be read (not CSV/XLSX, no user_id column, …)."""

    default_code = "unreadable_file"

    def __init__(self, message: str) -> None:
        super().__init__(message=message)


def header_normalise(name: str) -> str:
    key = re.sub(r"[\s\-.]+", "_", str(name or "").strip().lower())
    return FIELD_OF_COLUMN.get(key, str(name or "").strip())


def cell_text(value: Any) -> str:
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
    if "\x00" in text:  # UTF-16 or UTF-32 without a marker, or no text at all
        raise ImportFileError(
            _("The file holds NUL characters: it is no text file (save it as CSV in UTF-8).")
        )
    # The delimiter is whichever of , ; or tab the header uses most (Dutch Excel writes ;).
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    rows = _csv_rows(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header = next(rows, [])
    # For the progress bar only: newlines inside quoted cells may count a few rows too many.
    total = max(0, text.count("\n") + (0 if text.endswith("\n") else 1) - 1)
    return header, rows, total


def _csv_rows(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a file the csv module cannot read is refused (ImportFileError),
    naming the line, never a crash halfway."""
    try:
        yield from reader
    except csv.Error as exc:
        raise ImportFileError(
            _("The file is not readable CSV (line %(line)d).") % {"line": reader.line_num}
        ) from exc


def row_data(header: list[str], values: list[Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(user id, profile data, custom attributes) of one row; empty cells are left out."""
    data: dict[str, Any] = {}
    attrs: dict[str, str] = {}
    user_id = ""
    for name, raw in zip(header, values, strict=False):
        value = cell_text(raw)
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
