"""CSV helpers shared by every export: cells a spreadsheet would run as a formula are
escaped (OWASP "CSV injection")."""

import csv
from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """Text for one CSV cell; a leading formula character is neutralised with a quote."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_stream(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV lines one at a time, for a StreamingHttpResponse: memory stays flat."""
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM, so Excel opens UTF-8 (é, ë, ö) correctly
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_safe(cell) for cell in row])
