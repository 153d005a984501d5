"""Start-up checks that depend on where the service listens (issue 13, item 3).

Development mode (no trusted clients) authenticates nobody, so it may listen on loopback addresses
only. On any other address the service refuses to start unless ``insecure_development`` says so
(``her2-cds serve --insecure-development`` or ``HER2CDS_INSECURE_DEVELOPMENT=true``), and then it says
so loudly in the log.

Where the service listens is known exactly for ``her2-cds serve`` (its ``--host``). Under gunicorn it is
read from the listening sockets the worker inherited, else from gunicorn's own command line and
``GUNICORN_CMD_ARGS``; the Docker image's start script builds the app once before gunicorn starts, with
``GUNICORN_CMD_ARGS`` already set, so the refusal comes before any socket is opened.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shlex
import socket
import sys
from collections.abc import Sequence

from service.config import ConfigError, Settings

log = logging.getLogger("her2cds")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1``, ``localhost`` or a unix socket; anything else (``0.0.0.0``, a name) is not."""
    host = host.strip().strip("[]")
    if host.startswith("unix:") or host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def bind_host(bind: str) -> str:
    """The host of a gunicorn ``--bind`` value: ``HOST:PORT``, ``[V6]:PORT``, ``HOST``, ``unix:PATH``, ``fd://N``."""
    if bind.startswith(("unix:", "fd://")):
        return bind
    if bind.startswith("["):
        return bind[1 : bind.index("]")] if "]" in bind else bind
    if bind.count(":") == 1:
        return bind.split(":")[0]
    return bind  # a bare IPv6 address or a bare host name


def _running_under_gunicorn() -> bool:
    program = sys.argv[0] if sys.argv else ""
    return os.path.basename(program) == "gunicorn" or program.replace("\\", "/").endswith("gunicorn/__main__.py")


def _listening_sockets() -> list[str]:
    """The hosts of the listening TCP sockets this process holds (Linux ``/proc``; empty elsewhere)."""
    hosts = []
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return []
    for name in descriptors:
        try:
            probe = socket.socket(fileno=os.dup(int(name)))
        except (OSError, ValueError):
            continue
        with probe:
            try:
                listening = probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                address = probe.getsockname()
            except OSError:
                continue
            if listening and probe.family in (socket.AF_INET, socket.AF_INET6):
                hosts.append(str(address[0]))
            elif listening and probe.family == socket.AF_UNIX:
                hosts.append(f"unix:{address}")
    return hosts


def _gunicorn_binds(arguments: Sequence[str]) -> list[str]:
    """The ``--bind`` values of a gunicorn command line (gunicorn's own parser; its default when none)."""
    from gunicorn.config import Config

    parser = Config().parser()
    try:
        parsed, _ = parser.parse_known_args(list(arguments))
    except SystemExit:
        return []
    return list(parsed.bind or [])


def listen_hosts(explicit: Sequence[str] | None = None) -> list[str] | None:
    """The hosts the service listens (or is about to listen) on; ``None`` when that cannot be known."""
    if explicit:
        return list(explicit)
    environment_args = shlex.split(os.environ.get("GUNICORN_CMD_ARGS", ""))
    if _running_under_gunicorn():
        sockets = _listening_sockets()
        if sockets:
            return sockets
        binds = _gunicorn_binds(sys.argv[1:]) or _gunicorn_binds(environment_args) or ["127.0.0.1:8000"]
        return [bind_host(bind) for bind in binds]
    if environment_args:  # the image's start script: gunicorn starts next with these arguments
        return [bind_host(bind) for bind in _gunicorn_binds(environment_args) or ["127.0.0.1:8000"]]
    return None


def check_listen_addresses(settings: Settings, hosts: Sequence[str] | None) -> None:
    """Refuse development mode on a non-loopback address unless ``insecure_development`` is set (then warn)."""
    if not settings.development_mode or hosts is None:
        return
    exposed = sorted({host for host in hosts if not is_loopback(host)})
    if not exposed:
        return
    if not settings.insecure_development:
        raise ConfigError(
            f"development mode (no trusted clients: nothing is authenticated) listens on loopback only, not on "
            f"{', '.join(exposed)}. Name a configuration file with trusted clients in HER2CDS_CONFIG (see "
            "config.example.yaml), or bind 127.0.0.1; to expose an unauthenticated service anyway, for a "
            "throwaway trial without patient data, set HER2CDS_INSECURE_DEVELOPMENT=true "
            "(her2-cds serve --insecure-development)"
        )
    log.warning(
        "INSECURE DEVELOPMENT MODE on %s: anyone who can reach this address can call every hook, post feedback "
        "and use /sandbox without authentication. Never use it with patient data.",
        ", ".join(exposed),
    )
