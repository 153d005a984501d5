"""gunicorn configuration: Prometheus multiprocess mode and JSON logs for gunicorn's own lines.

Load it with ``--config python:service.ops.gunicorn_conf`` (on the command line or in
``GUNICORN_CMD_ARGS``); command-line settings still win over it.

- **Metrics.** ``PROMETHEUS_MULTIPROC_DIR`` is set here, in the master, before any worker imports
  ``prometheus_client``: each worker writes its values to files there and ``/metrics`` adds all
  workers up. Without it each worker would answer with its own numbers only. Default: a fresh
  directory in ``/dev/shm`` (memory, writable with a read-only root filesystem), else in the temp
  directory; a directory named by the environment is used as it is. Stale files of an earlier run are
  removed at start, a dead worker's live values at its exit, our own directory at the end.
- **Balance.** A gevent worker accepts a connection only while no other worker holds fewer
  (``service.ops.balance``): an EHR's few keep-alive connections no longer all land on one worker.
- **Logs.** ``JsonLogger`` gives gunicorn's error log (master and workers: start, worker boot,
  timeouts, tracebacks) and its access log the service's redacting JSON formatter
  (``service.logs``). An access line is one JSON object: method, path (redacted), status, bytes,
  duration, request id, the worker's pid; it is written when ``--access-logfile`` is set (the Dockerfile sets ``-``).
  A hook call's access line also carries its summary (hook, service, ``hook_instance``, cards,
  problems, ``answer_ms``), which is then not written as a line of its own (``service.logs``).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_GEVENT_WORKER = "gunicorn.workers.ggevent"
GC_EVERY_REQUESTS = 100  # the young generations (what the last requests left)
GC_FULL_EVERY_REQUESTS = 1_000  # everything not frozen


def _metrics_dir() -> tuple[str, bool]:
    """The multiprocess directory and whether this module created it (and so removes it at exit)."""
    named = os.environ.get(MULTIPROC_ENV)
    if named:
        Path(named).mkdir(parents=True, exist_ok=True)
        return named, False
    shm = Path("/dev/shm")  # noqa: S108 - memory-backed and private to the container; chosen on purpose
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="her2cds-metrics-", dir=base), True


METRICS_DIR, _CREATED = _metrics_dir()
os.environ[MULTIPROC_ENV] = METRICS_DIR

# Imported now, in the master, not inside child_exit: child_exit runs in gunicorn's SIGCHLD handling,
# and two workers dying together made a second handler start while the first was half-way through
# importing prometheus_client (a circular-import error that killed the master).
from prometheus_client import multiprocess as prometheus_multiprocess  # noqa: E402 - needs the variable set first

from service.logs import HOOK_SUMMARY_KEY, summary_on_access_line  # noqa: E402 - after the metrics directory, as above
from service.ops.balance import ConnectionCounts, balance_accepts  # noqa: E402 - after the metrics directory, as above

CONNECTIONS = ConnectionCounts()  # in the master, before any fork: shared with every worker


def on_starting(server: Any) -> None:
    """Values of an earlier run in a reused directory would be added to this run's: remove them."""
    for stale in Path(METRICS_DIR).glob("*.db"):
        stale.unlink(missing_ok=True)


def post_worker_init(worker: Any) -> None:
    """The application is loaded: freeze it out of the garbage collector's sight, and collect between
    requests; under gevent, accept connections only while no other worker holds fewer (``balance``).

    Knowledge, models and modules live as long as the worker; frozen, no collection scans them again.
    The objects of a request are JSON (no reference cycles) and die with it, freed by their reference
    counts; collections triggered while a 1.4 MB body was parsed scanned the growing tree again and
    again (parsing it cost 23 ms in a worker against 8 ms alone; issue 16). So the collector does not
    run by itself in a worker: ``post_request`` collects the young generations every
    ``GC_EVERY_REQUESTS`` requests and everything every ``GC_FULL_EVERY_REQUESTS``, when the
    requests' own objects are gone and only the few cycles they left (about a dozen objects) remain.
    """
    gc.freeze()
    gc.disable()
    logger = getattr(worker, "log", None)
    summary_on_access_line(isinstance(logger, JsonLogger) and logger.writes_access_lines())
    if _GEVENT_WORKER in type(worker).__module__:
        balance_accepts(CONNECTIONS, worker)


def pre_fork(server: Any, worker: Any) -> None:
    """The worker's slot for its connection count (``service.ops.balance``)."""
    worker.connection_slot = CONNECTIONS.claim()


_requests_since_start = 0


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    """Collect the garbage cycles of the last requests now and then; under gevent, let the worker's
    other connections run before this one's next request.

    A greenlet yields only when a read would block. On a keep-alive connection whose client sends the
    next request as soon as it has the answer, that read never blocks, so one connection kept the
    worker while its others waited: p50 0.8 ms but p99 over 200 ms for a trivial Flask app with 8
    connections on 2 workers (issue 16). ``gevent.idle`` resumes this greenlet once the others that
    are ready have run.
    """
    global _requests_since_start  # noqa: PLW0603 - one counter per worker process
    _requests_since_start += 1
    if _requests_since_start % GC_FULL_EVERY_REQUESTS == 0:
        gc.collect()
    elif _requests_since_start % GC_EVERY_REQUESTS == 0:
        gc.collect(1)
    if _GEVENT_WORKER in type(worker).__module__:
        import gevent

        gevent.idle()


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended (restart, kill, timeout): drop its live gauge values; counters keep counting."""
    prometheus_multiprocess.mark_process_dead(worker.pid, METRICS_DIR)
    CONNECTIONS.release(getattr(worker, "connection_slot", None))


def on_exit(server: Any) -> None:
    if _CREATED:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


class JsonLogger(Logger):
    """gunicorn's logger with the service's JSON formatter on every handler and structured access lines."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        from service.logs import json_formatter

        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(json_formatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """One JSON access line (the ``access_log_format`` string is not used)."""
        if not self.writes_access_lines():
            return
        headers = {str(name).lower(): value for name, value in (resp.headers or [])}
        status = str(resp.status or "").split(" ", 1)[0]
        path = req.path + (f"?{req.query}" if req.query else "")
        self.access_log.info(
            "request",
            extra={
                "method": req.method,
                "path": path,
                "status": int(status) if status.isdigit() else status,
                "bytes": getattr(resp, "sent", None),
                "ms": round(request_time.total_seconds() * 1000, 1),
                "request_id": headers.get("x-request-id"),
                "remote": environ.get("REMOTE_ADDR"),
                "worker": os.getpid(),
                **environ.get(HOOK_SUMMARY_KEY, {}),  # a hook call's summary (service.logs.log_hook_summary)
            },
        )

    def writes_access_lines(self) -> bool:
        return bool(self.cfg.accesslog or self.cfg.logconfig or self.cfg.logconfig_dict)


logger_class = JsonLogger
