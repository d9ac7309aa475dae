"""Debian's Chromium, as the browser tests and the end-to-end check (e2e/) start it:
headless, no sandbox (root in CI), and none of its own network traffic, which this
machine's closed network refuses. No Django here: e2e/ imports it too."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
