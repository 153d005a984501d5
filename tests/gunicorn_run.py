"""gunicorn as production runs it, for the metrics and logging tests: the Dockerfile's arguments plus
the operations config (``--config python:service.ops.gunicorn_conf``), on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.processes import ROOT, dockerfile_gunicorn_args, free_port, stop

OPS_CONFIG = ["--config", "python:service.ops.gunicorn_conf"]


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    base_url: str
    stdout: Path  # the access log (--access-logfile -)
    stderr: Path  # gunicorn's error log and the service's own log lines

    def metrics_dir(self) -> Path:
        """The multiprocess directory the config chose: where the workers' open ``*.db`` files are."""
        for pid in self.worker_pids():
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = Path(fd.readlink())
                except OSError:
                    continue
                if target.suffix == ".db" and target.name.startswith(("counter_", "histogram_")):
                    return target.parent
        raise AssertionError("no worker has a metrics file open")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return sorted(int(pid) for pid in children)

    def wait_for_workers(self, count: int = 2, seconds: float = 60, other_than: set[int] | None = None) -> list[int]:
        """Wait until ``count`` workers (none of ``other_than``) answer /livez; their pids."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count and not set(pids) & (other_than or set()):
                try:
                    if requests.get(f"{self.base_url}/readyz", timeout=5).status_code == 200:
                        return pids
                except requests.RequestException:
                    pass  # a worker still booting
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail("gunicorn workers did not come up: " + self.stderr.read_text()[-3000:])


def start_gunicorn(workdir: Path, env_extra: dict[str, str] | None = None) -> Gunicorn:
    """The Dockerfile's start: one create_app() first, then gunicorn with the ops config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HER2CDS_", "GUNICORN_", "PROMETHEUS_"))}
    env["HER2CDS_DATABASE_URL"] = f"sqlite:///{workdir}/feedback.sqlite3"
    env.update(env_extra or {})
    subprocess.run(
        [sys.executable, "-c", "import service; service.create_app()"], cwd=workdir, env=env, check=True, capture_output=True
    )
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", *dockerfile_gunicorn_args(port), *OPS_CONFIG, "--pythonpath", str(ROOT)]
    stdout, stderr = workdir / "gunicorn.out", workdir / "gunicorn.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen([*command, "service:create_app()"], cwd=workdir, env=env, stdout=out, stderr=err)
    server = Gunicorn(process, f"http://127.0.0.1:{port}", stdout, stderr)
    try:
        server.wait_for_workers()
    except BaseException:
        stop(process)
        raise
    return server
