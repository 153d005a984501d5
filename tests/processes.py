"""Child processes the tests, the bench and the soak start: a free port, gunicorn as the Dockerfile
runs it, and a stop that never leaves a process behind."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
