"""Importing customers from a spreadsheet: reading the file (files.py), the importer
(importer.py), and an admin import's life as a worker's job (jobs.py)."""

from .files import ImportFileError, header_normalise, table_read
from .importer import MAX_ERRORS_KEPT, ImportReport, RowError, profiles_import
from .jobs import (
    STALLED_AFTER,
    import_job_confirm,
    import_job_create,
    import_job_run,
    import_jobs_erase,
    import_jobs_tidy,
)

__all__ = [
    "MAX_ERRORS_KEPT",
    "STALLED_AFTER",
    "ImportFileError",
    "ImportReport",
    "RowError",
    "header_normalise",
    "import_job_confirm",
    "import_job_create",
    "import_job_run",
    "import_jobs_erase",
    "import_jobs_tidy",
    "profiles_import",
    "table_read",
]
