import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from profiles.importing import ImportFileError, ImportReport, profiles_import


class Command(BaseCommand):
    help = (
        "Import customers from a CSV or XLSX file, upserting by user_id. Bad rows are "
        "reported with their row number (the header is row 1) and the good rows go in. "
        "Exits with status 1 when any row was refused."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="a .csv or .xlsx file; the first row names the columns")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check everything and show what would change; save nothing",
        )
        parser.add_argument("--chunk-size", type=int, default=None, help="rows per bulk write")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        show_progress = sys.stderr.isatty() or options["verbosity"] >= 2

        def progress(done: int, total: int, report: ImportReport) -> None:
            if not show_progress:
                return
            total = max(total, done, 1)
            width = 30
            filled = int(width * done / total)
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows"
                f"  created {report.created}  changed {report.updated}  refused {report.error_count}"
            )
            sys.stderr.flush()

        try:
            report = profiles_import(
                content=path.read_bytes(),
                filename=path.name,
                dry_run=options["dry_run"],
                chunk_size=options["chunk_size"],
                progress=progress,
            )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        if show_progress:
            sys.stderr.write("\n")
        verb = "would be" if options["dry_run"] else "were"
        self.stdout.write(
            f"{report.rows} rows: {report.created} {verb} created, {report.updated} {verb} changed, "
            f"{report.unchanged} unchanged, {report.error_count} refused."
        )
        if report.extra_columns:
            self.stdout.write("Kept as custom attributes: " + ", ".join(report.extra_columns))
        if options["dry_run"]:
            for item in report.preview[:20]:
                changes = "; ".join(
                    f"{k}: {v[0] or '—'} → {v[1] or '—'}" for k, v in item["changes"].items()
                )
                self.stdout.write(
                    f"  row {item['row']} {item['action']} {item['user_id']}: {changes}"
                )
        for error in report.errors:
            self.stderr.write(f"row {error.row}: {error.field}: {error.message}")
        shown = len({error.row for error in report.errors})
        if report.error_count > shown:
            self.stderr.write(f"… and {report.error_count - shown} more refused rows")
        if report.error_count:
            sys.exit(1)
