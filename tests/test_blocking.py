"""service.ops.blocking: database calls off a gevent worker's event loop (issue 16).

Under gevent (in a child process: monkey-patching is for the whole process) a call that blocks in C
runs in a native thread while the other greenlets go on; its result comes back and its exception is
raised in the caller, with nothing printed by gevent's hub. Without gevent the call runs in place.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from service.ops.blocking import gevent_active, run_blocking
from tests.conftest import ROOT

UNDER_GEVENT = """
from gevent import monkey
monkey.patch_all()
import threading, time
import gevent
from service.ops.blocking import gevent_active, run_blocking

blocking_sleep = monkey.get_original("time", "sleep")  # blocks in C, as a database driver does
ticks = []

def ticker():
    for _ in range(100):
        ticks.append(time.monotonic())
        gevent.sleep(0.002)

def slow(seconds):
    blocking_sleep(seconds)
    return threading.get_ident()

def refuse():
    raise LookupError("no such card")

assert gevent_active()
tick = gevent.spawn(ticker)
gevent.sleep(0.01)  # the ticker is ticking
ident = run_blocking(slow, 1.0)
try:
    run_blocking(refuse)
except LookupError as exc:
    print("raised", exc)
tick.join()
gaps = [b - a for a, b in zip(ticks, ticks[1:])]
print("other thread", ident != threading.get_ident())
print("longest pause ms", round(max(gaps) * 1000))
"""


def test_without_gevent_the_call_runs_in_place() -> None:
    assert not gevent_active()
    assert run_blocking(threading.get_ident) == threading.get_ident()
    with pytest.raises(LookupError):
        run_blocking(dict().__getitem__, "missing")


def test_under_gevent_the_call_runs_in_a_thread_and_the_loop_goes_on() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", UNDER_GEVENT], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert "raised no such card" in lines
    assert "other thread True" in lines
    pause = int(next(line for line in lines if line.startswith("longest pause ms")).rsplit(" ", 1)[1])
    assert pause < 500, pause  # in place, the 1 s call stopped the ticker for all of it
    assert "Traceback" not in done.stderr and "LookupError" not in done.stderr, done.stderr
