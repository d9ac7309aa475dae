"""Make docs/dashboard.png: the admin's front page with make run's demo data.

    .venv/bin/python docs/screenshot.py

Uses a throw-away SQLite database and Debian's chromium (no browser download).
"""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PORT = 8765


def main() -> int:
    with tempfile.TemporaryDirectory() as var:
        env = {
            **os.environ,
            "ENV_FILE": "",
            "DEBUG": "true",
            "SECRET_KEY": "screenshot-only",
            "VAR_DIR": var,
            "DATABASE_URL": f"sqlite:///{var}/demo.sqlite3",
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
        }
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)  # noqa: S603
        subprocess.run([*manage, "load_demo"], env=env, check=True)  # noqa: S603
        subprocess.run(  # noqa: S603
            [
                *manage,
                "shell",
                "-c",
                "from django.contrib.auth.models import User;"
                "User.objects.create_superuser('demo', 'demo@example.com', 'demo-password')",
            ],
            env=env,
            check=True,
        )
        server = subprocess.Popen(  # noqa: S603
            [*manage, "runserver", f"127.0.0.1:{PORT}", "--noreload"], env=env
        )
        try:
            for _ in range(60):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1)  # noqa: S310
                    break
                except OSError:
                    time.sleep(0.5)
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="nl-NL")
                page.goto(f"http://127.0.0.1:{PORT}/admin/login/?next=/admin/")
                page.fill("#id_username", "demo")
                page.fill("#id_password", "demo-password")
                page.click("input[type=submit]")
                page.wait_for_selector("html[data-dashboard-drawn='1']")
                page.screenshot(path=str(ROOT / "docs" / "dashboard.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    print("docs/dashboard.png written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
