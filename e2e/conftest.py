"""The end-to-end check's fixtures: the deployed product (built, migrated, started) and a
headless Chromium. See e2e/stack.py; run with `make e2e`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS

from .stack import Stack

_stack: Stack | None = None
_steps: list[tuple[str, float, str]] = []


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest):
    global _stack
    workdir = Path(os.environ.get("E2E_DIR") or tempfile.mkdtemp(prefix="klantbeeld-e2e-"))
    _stack = stack = Stack(workdir=workdir)
    try:
        stack.timed("build with deploy/build.sh (fresh directory and venv)", stack.build)
        stack.timed("fresh database, empty Redis database, SMTP server", stack.backing_services)
        stack.environment()
        stack.start()
        stack.timed("API keys with manage.py create_api_key", stack.keys)
    except BaseException:
        stack.stop()
        stack.release()
        print(f"\nThe build, its logs and the database are kept: {workdir}")
        raise
    yield stack
    stack.stop()
    if request.session.testsfailed or os.environ.get("E2E_KEEP"):
        print(f"\nThe build, its logs and the database are kept: {workdir}")
    else:
        stack.drop_backing_data()
        shutil.rmtree(workdir, ignore_errors=True)
    stack.release()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("needs Debian's chromium: apt-get install chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh, phone-sized tab with no cookies, as a customer opening a link in a mail."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        name = report.nodeid.split("::")[-1].removeprefix("test_").replace("_", " ")
        _steps.append((name, report.duration, report.outcome))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    write = terminalreporter.write_line
    write("")
    write("Klantbeeld as deployed, step by step:")
    total = 0.0
    for name, seconds in _stack.timings if _stack else []:
        write(f"  {seconds:7.1f} s  {name}")
        total += seconds
    for name, seconds, outcome in _steps:
        mark = "" if outcome == "passed" else f"  [{outcome.upper()}]"
        write(f"  {seconds:7.1f} s  {name}{mark}")
        total += seconds
    write(f"  {total:7.1f} s  in all")
    if _stack and exitstatus != 0:
        for name in ("web", "worker", "beat"):
            write(f"\n--- the last lines of {name}'s log ---")
            write(_stack.tail(name, 40))
