"""`python manage.py tick [--now ISO-8601]`: every periodic job once, to completion."""

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.periodic import periodic_run_all


class Command(BaseCommand):
    help = (
        "Run every periodic job once, to completion (sending included), as if the clock "
        "read --now; everything recorded uses that clock."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--now", help="ISO-8601 moment, e.g. 2026-12-01T09:00:00+01:00")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        if options["now"]:
            try:
                now = dt.datetime.fromisoformat(options["now"])
            except ValueError as exc:
                raise CommandError(f"--now: not an ISO-8601 moment: {options['now']}") from exc
            if timezone.is_naive(now):
                now = timezone.make_aware(now)
        report = periodic_run_all(now=now)
        self.stdout.write(json.dumps({"now": now.isoformat(), **report}, default=str, indent=2))
