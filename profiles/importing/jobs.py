"""An import started in the admin, run by a worker: the job's life from upload to a tidy
end (its file and report are personal data and do not outlive their use)."""

import datetime as dt
import json
import logging
import re

from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.queue import task_queue

from ..models import ImportJob
from .files import ImportFileError, cell_text, header_normalise, table_read
from .importer import ImportReport, profiles_import

logger = logging.getLogger(__name__)

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
            cell = cell_text(raw)
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


def import_job_create(
    *, filename: str, content: bytes, dry_run: bool, actor: User | None
) -> ImportJob:
    """Queue an import of an uploaded file; the worker runs it (see importing.import_job_run)."""
    job = ImportJob.objects.create(
        filename=filename[:255], content=content, dry_run=dry_run, created_by=actor
    )
    task_queue("profiles.tasks.run_import_job", job.pk)
    return job


def import_job_confirm(*, dry_run: ImportJob, actor: User | None) -> ImportJob:
    """Import for real the file a dry run checked (or start a stopped import again):
    the new job reads the dry run's copy of the file, nothing is copied."""
    source = dry_run.source_job or dry_run
    if (
        not source.dry_run
        or not ImportJob.objects.filter(pk=source.pk).exclude(content=b"").exists()
    ):
        raise ImportFileError(_("The file of this dry run is no longer kept; upload it again."))
    job = ImportJob.objects.create(
        filename=source.filename, content=b"", source_job=source, dry_run=False, created_by=actor
    )
    task_queue("profiles.tasks.run_import_job", job.pk)
    return job
