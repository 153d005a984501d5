"""Browser tests of the /sandbox page: the real service as a subprocess, Debian's chromium via Playwright.

Needs ``apt-get install chromium`` and ``pip install playwright`` (never ``playwright install``).
A missing browser or library is a test FAILURE with a clear message, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("HER2CDS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EVALUATION_DATE = "2026-06-01"


class Server:
    def __init__(self, base_url: str, database: Path) -> None:
        self.base_url = base_url
        self.database = database

    def post_json(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(
            self.base_url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("sandbox-server")
    database = folder / "feedback.sqlite3"
    port = free_port()
    env = dict(os.environ, HER2CDS_DATABASE_URL=f"sqlite:///{database}", HER2CDS_SANDBOX="true")
    command = shutil.which("her2-cds", path=str(Path(sys.executable).parent)) or "her2-cds"
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [command, "serve", "--port", str(port), "--now", EVALUATION_DATE], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"her2-cds serve exited with {process.returncode}: {(folder / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(base_url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"her2-cds serve did not answer /healthz in 30 s: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield Server(base_url, database)
    finally:
        stop(process, grace_seconds=10)
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # a failure, not a skip: CI must install it
        pytest.fail(f"Playwright for Python is not installed ({exc}); run: .venv/bin/pip install playwright")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"chromium not found at {CHROMIUM}; run (as root): apt-get install -y chromium (or set HER2CDS_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.js_errors = errors
    page.goto(server.base_url + "/sandbox")
    page.wait_for_selector("body[data-state='idle']", timeout=15000)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
