"""Create the local admin user on first run and print its login (every run)."""

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin user for local use (once) and print its login."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        login_file = settings.VAR_DIR / "admin-login.txt"
        user_model = get_user_model()
        if not user_model.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser(username=username, email="", password=password)
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            login_file.write_text(f"{username}\n{password}\n")
            login_file.chmod(0o600)
        if login_file.exists():
            name, password = login_file.read_text().split()[:2]
            self.stdout.write(
                self.style.SUCCESS(
                    f"Admin: {settings.SITE_URL}/admin/  user: {name}  password: {password}"
                )
            )
        else:
            self.stdout.write(f"Admin user '{username}' exists; use the password you gave it.")
