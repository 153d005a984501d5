"""Start-up refusals of issue 13, against the real service as it is run:

- item 3: development mode (no trusted clients) listens on loopback only. The Docker image's start script
  with its default environment (no HER2CDS_CONFIG, gunicorn bound to 0.0.0.0), gunicorn bound to all
  interfaces, and ``her2-cds serve --host 0.0.0.0`` all used to serve every hook to anyone; now they refuse
  to start with a message naming HER2CDS_CONFIG, unless ``insecure_development`` says so (then loudly).
- item 6: production mode (clients configured) without ``public_base_url`` used to check JWT audiences
  against the caller's Host header; now it refuses to start, naming ``public_base_url``.

Every server here is bound to or called on loopback only, except the one refused gunicorn bind on
0.0.0.0, whose worker stops before it answers anything.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from service import create_app
from service.config import ConfigError
from service.startup import bind_host, is_loopback
from tests.conftest import ROOT
from tests.processes import dockerfile_gunicorn_args, free_port, stop
from tests.tokens import ISSUER, jwks, signing_key

START_SCRIPT_CHECK = "from service import create_app; create_app()"  # the Dockerfile's her2cds-start, first line


def environment(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HER2CDS_") and k != "GUNICORN_CMD_ARGS"}
    env["HER2CDS_DATABASE_URL"] = f"sqlite:///{workdir}/feedback.sqlite3"
    env.update(extra)
    return env


def gunicorn(workdir: Path, bind: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    """gunicorn with the Dockerfile's arguments, bound to ``bind``."""
    args = dockerfile_gunicorn_args()
    args[args.index("--bind") + 1] = bind
    log = workdir / "gunicorn.log"
    with log.open("w") as out:
        command = [sys.executable, "-m", "gunicorn", *args, "--pythonpath", str(ROOT), "service:create_app()"]
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, log


def outcome(process: subprocess.Popen[bytes], url: str, seconds: float = 30) -> str:
    """``"served"`` when ``url`` answers 200, ``"exited"`` when the process ends first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return "exited"
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return "served"
        except (requests.ConnectionError, requests.Timeout):  # the master holds the socket; no worker answers
            pass
        time.sleep(0.1)
    return "neither"


def production_config(workdir: Path, **settings: object) -> Path:
    path = workdir / "her2cds.yaml"
    document = {"clients": [{"issuer": ISSUER, "jwks": jwks(signing_key("ES384"))}], **settings}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_the_image_without_her2cds_config_refuses_to_start_naming_it(tmp_path: Path) -> None:
    """The start script's first step, with the image's GUNICORN_CMD_ARGS (0.0.0.0) and no HER2CDS_CONFIG."""
    image_args = shlex.join(dockerfile_gunicorn_args())
    assert "--bind 0.0.0.0:8080" in image_args
    started = subprocess.run(
        [sys.executable, "-c", START_SCRIPT_CHECK],
        cwd=tmp_path,
        env=environment(tmp_path, GUNICORN_CMD_ARGS=image_args, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    assert "HER2CDS_CONFIG" in started.stderr and "0.0.0.0" in started.stderr
    assert "HER2CDS_INSECURE_DEVELOPMENT" in started.stderr  # the way out is named too


def test_the_image_with_a_configuration_passes_the_start_script(tmp_path: Path) -> None:
    config = production_config(tmp_path, public_base_url="https://cds.example.org")
    started = subprocess.run(
        [sys.executable, "-c", START_SCRIPT_CHECK],
        cwd=tmp_path,
        env=environment(
            tmp_path, GUNICORN_CMD_ARGS=shlex.join(dockerfile_gunicorn_args()), PYTHONPATH=str(ROOT), HER2CDS_CONFIG=str(config)
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr[-2000:]


def test_gunicorn_on_all_interfaces_in_development_mode_refuses_to_serve(tmp_path: Path) -> None:
    port = free_port()
    process, log = gunicorn(tmp_path, f"0.0.0.0:{port}", environment(tmp_path))
    try:
        assert outcome(process, f"http://127.0.0.1:{port}/cds-services") == "exited", log.read_text()[-3000:]
    finally:
        stop(process, grace_seconds=10)
    assert "HER2CDS_CONFIG" in log.read_text()


def test_gunicorn_on_loopback_in_development_mode_serves(tmp_path: Path) -> None:
    port = free_port()
    process, log = gunicorn(tmp_path, f"127.0.0.1:{port}", environment(tmp_path))
    try:
        assert outcome(process, f"http://127.0.0.1:{port}/cds-services") == "served", log.read_text()[-3000:]
    finally:
        stop(process, grace_seconds=10)


def test_production_without_public_base_url_refuses_to_start_naming_it(tmp_path: Path) -> None:
    port = free_port()
    config = production_config(tmp_path)
    process, log = gunicorn(tmp_path, f"127.0.0.1:{port}", environment(tmp_path, HER2CDS_CONFIG=str(config)))
    try:
        assert outcome(process, f"http://127.0.0.1:{port}/healthz") == "exited", log.read_text()[-3000:]
    finally:
        stop(process, grace_seconds=10)
    assert "public_base_url" in log.read_text()


def test_production_with_public_base_url_serves(tmp_path: Path) -> None:
    port = free_port()
    config = production_config(tmp_path, public_base_url=f"http://127.0.0.1:{port}")
    process, log = gunicorn(tmp_path, f"127.0.0.1:{port}", environment(tmp_path, HER2CDS_CONFIG=str(config)))
    try:
        assert outcome(process, f"http://127.0.0.1:{port}/healthz") == "served", log.read_text()[-3000:]
        assert requests.get(f"http://127.0.0.1:{port}/cds-services", timeout=5).status_code == 401
    finally:
        stop(process, grace_seconds=10)


def test_serve_on_all_interfaces_refuses_before_binding(tmp_path: Path) -> None:
    port = free_port()
    binary = Path(sys.executable).parent / "her2-cds"
    started = subprocess.run(
        [str(binary), "serve", "--host", "0.0.0.0", "--port", str(port)],  # noqa: S104 - the refused address
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 2
    assert "HER2CDS_CONFIG" in started.stderr and "--insecure-development" in started.stderr


def test_insecure_development_starts_and_says_so_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """In process (no socket opened on all interfaces): the override is explicit and logged as a warning."""
    settings = {"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "listen_hosts": ["0.0.0.0"]}  # noqa: S104
    with pytest.raises(ConfigError, match="HER2CDS_CONFIG"):
        create_app(dict(settings))
    app = create_app({**settings, "insecure_development": True})
    assert app.test_client().get("/healthz").status_code == 200
    assert any("INSECURE DEVELOPMENT MODE on 0.0.0.0" in record.getMessage() for record in caplog.records)


def test_clients_make_any_address_acceptable(tmp_path: Path) -> None:
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/f.sqlite3",
            "listen_hosts": ["0.0.0.0"],  # noqa: S104
            "clients": [{"issuer": ISSUER, "jwks": jwks(signing_key("ES384"))}],
            "public_base_url": "https://cds.example.org",
        }
    )
    assert app.test_client().get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [
        ("127.0.0.1:8080", True),
        ("127.8.9.10:80", True),
        ("[::1]:8080", True),
        ("localhost:8080", True),
        ("unix:/run/her2cds.sock", True),
        ("0.0.0.0:8080", False),
        ("[::]:8080", False),
        ("10.0.0.5:8080", False),
        ("cds.example.org:8080", False),
        ("fd://3", False),
        ("::", False),
    ],
)
def test_bind_addresses(bind: str, loopback: bool) -> None:
    assert is_loopback(bind_host(bind)) is loopback
