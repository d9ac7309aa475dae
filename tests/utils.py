"""Helpers shared by tests."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter with only the given settings in the environment
    (and no var/dev.env, so a developer's local settings cannot leak in)."""
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "PYTHONPATH": str(ROOT), "ENV_FILE": "", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def run_django(body: str, *, settings: str = "config.settings.base", **env: str):
    """Set Django up with `settings` in a fresh interpreter (as run_python), then run `body`."""
    setup = (
        f"import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = {settings!r}; django.setup()\n"
    )
    return run_python(setup + body, **env)
