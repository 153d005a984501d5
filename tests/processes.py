"""Child processes the tests, the bench and the soak start: a free port, gunicorn as the Dockerfile
runs it, and a stop that never leaves a process behind."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and not one this process was given
    before: callers take several before binding any, and the system may offer a just-closed port again
    (a soak once started gunicorn on its fault server's port, and read the fault server's 404 as /metrics)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def dockerfile_gunicorn_args(port: int | None = None) -> list[str]:
    """The Dockerfile's GUNICORN_CMD_ARGS (its ENV line, not the comment's example), so bench, soak and
    durability tests serve exactly as production does; with ``port``, bound to 127.0.0.1:port."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    found = re.search(r'^\s+GUNICORN_CMD_ARGS="([^"]+)"', text, re.MULTILINE)
    if found is None:
        raise SystemExit("Dockerfile: no GUNICORN_CMD_ARGS found")
    args = shlex.split(found.group(1))
    if port is not None:
        args[args.index("--bind") + 1] = f"127.0.0.1:{port}"
    return args


def stop(process: subprocess.Popen[bytes], grace_seconds: float = 30) -> None:
    """SIGTERM, then SIGKILL when it has not ended within ``grace_seconds``; reaped either way."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Service:
    """A gunicorn master serving the app as the Dockerfile does, on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def service_env(workdir: Path, settings: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a served app: no HER2CDS_/GUNICORN_ variables of ours, its own database in ``workdir``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HER2CDS_", "GUNICORN_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["HER2CDS_DATABASE_URL"] = f"sqlite:///{workdir}/her2cds-feedback.sqlite3"
    env.update(settings or {})
    return env


@contextmanager
def served(
    workdir: Path,
    settings: dict[str, str] | None = None,
    port: int | None = None,
    start_seconds: float = 60,
    gunicorn_args: tuple[str, ...] = (),
) -> Iterator[Service]:
    """The Dockerfile's her2cds-start (``create_app()`` once, then gunicorn with its GUNICORN_CMD_ARGS) on
    127.0.0.1; ``settings`` are HER2CDS_* variables; ``gunicorn_args`` come after the Dockerfile's and so
    win (``--workers 1``). Stopped (and reaped) on exit."""
    env = service_env(workdir, settings)
    check = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", "from service import create_app; create_app()"], cwd=workdir, env=env, capture_output=True
    )
    if check.returncode != 0:
        raise RuntimeError("create_app() failed: " + check.stderr.decode(errors="replace")[-3000:])
    port = port or free_port()
    log = workdir / f"gunicorn-{port}.log"
    app = "service:create_app()"
    command = [sys.executable, "-m", "gunicorn", *dockerfile_gunicorn_args(port), *gunicorn_args, "--pythonpath", str(ROOT), app]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    service = Service(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start: " + service.log_text()[-3000:])
            try:
                if requests.get(service.base_url + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet
            time.sleep(0.2)
        yield service
    finally:
        stop(process)
