"""Blocking calls kept off a gevent worker's event loop: the database.

Under the Dockerfile's gevent worker every request of a worker is a greenlet on one event loop, and a
greenlet yields only at I/O that gevent patched. The database drivers (``sqlite3``, psycopg) block in
C, so a write stopped every request of the worker for as long as it took: 20-30 ms for a checkpoint of
the SQLite file, and up to ``busy_timeout`` (5 s) while another process held the write lock (issue 16).
``run_blocking`` runs such a call in the hub's pool of native threads instead (the drivers release the
GIL while they wait) and suspends only the calling greenlet. Without gevent (thread workers, the CLI,
the tests' in-process app) the call simply runs.

An exception of the call is raised again in the caller, not printed by gevent's hub: it would reach
stderr past the service's redacting JSON logs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def gevent_active() -> bool:
    """True in a process whose ``threading`` gevent patched (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def run_blocking(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``; under gevent in a native thread, the other greenlets running meanwhile."""
    if not gevent_active():
        return function(*args)
    import gevent

    failed, outcome = gevent.get_hub().threadpool.apply(_outcome, (function, args))
    if failed:
        raise outcome
    return outcome


def _outcome(function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    try:
        return False, function(*args)
    except Exception as exc:  # noqa: BLE001 - handed back to the caller, which raises it
        return True, exc
