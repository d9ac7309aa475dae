from typing import Any

from django.core.management.base import BaseCommand

from core.apikeys import api_key_create
from core.models import ApiKey


class Command(BaseCommand):
    help = (
        "Create an API key and print it as the last line. A write key feeds the event API "
        "(and can do nothing else); an admin token reaches the management API."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="what the key is for, e.g. 'webshop production'")
        parser.add_argument("--kind", choices=ApiKey.Kind.values, default=ApiKey.Kind.WRITE)

    def handle(self, *args: Any, **options: Any) -> None:
        key, raw = api_key_create(name=options["name"], kind=options["kind"])
        self.stderr.write(
            f"Created {key.get_kind_display()} '{key.name}'. It is shown only now; store it safely."
        )
        self.stdout.write(raw)
