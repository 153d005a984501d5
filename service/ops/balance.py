"""Keep-alive connections spread evenly over gunicorn's gevent workers.

The workers share one listening socket, and a gevent worker accepts whenever its event loop runs. An
EHR, an integration engine or a proxy keeps a small pool of keep-alive connections open, and which
worker a connection landed on is where all its requests go. With 8 connections on 2 workers the spread
was 4/4, 5/3, 6/2 or 8/0 from one run to the next: at 8/0 one core stayed idle while the other
queued every request (half the throughput; issue 16's bench varied by as much).

Each worker publishes how many connections it holds in memory shared by the master and its workers
(one slot per worker, given at fork, freed when it exits). Before accepting, a worker writes its own
count and accepts only if no other live worker holds fewer; otherwise it looks again after
``RETRY_SECONDS``, and the worker with fewer takes the connection. A count is written as soon as it
changes (after an accept, when a connection closes), so two workers cannot both wait for each other
for long: the worker with the fewest always accepts. One worker (or a worker left without a slot)
always accepts.
"""

from __future__ import annotations

import logging
import mmap
import struct
from typing import Any

MAX_WORKERS = 256
RETRY_SECONDS = 0.001
_COUNT = struct.Struct("q")
_UNUSED = -1

log = logging.getLogger("her2cds")


class ConnectionCounts:
    """Per-worker connection counts in anonymous shared memory: created in the master, inherited at fork."""

    def __init__(self, slots: int = MAX_WORKERS) -> None:
        self.slots = slots
        self._memory = mmap.mmap(-1, slots * _COUNT.size)  # MAP_SHARED: the workers see each other's writes
        self._all = struct.Struct(f"{slots}q")  # every slot in one read
        self._free = list(range(slots))
        for slot in range(slots):
            self.write(slot, _UNUSED)

    def claim(self) -> int | None:
        """A slot for a worker about to be forked (in the master); None when all are taken."""
        if not self._free:
            return None
        slot = self._free.pop(0)
        self.write(slot, 0)
        return slot

    def release(self, slot: int | None) -> None:
        """The worker of ``slot`` exited (in the master)."""
        if slot is not None and slot not in self._free:
            self.write(slot, _UNUSED)
            self._free.append(slot)

    def write(self, slot: int, count: int) -> None:
        _COUNT.pack_into(self._memory, slot * _COUNT.size, count)

    def may_accept(self, slot: int, count: int) -> bool:
        """Publish ``count`` for ``slot``; True unless another live worker holds fewer connections."""
        self.write(slot, count)
        return not any(_UNUSED < theirs < count for theirs in self._all.unpack_from(self._memory))  # ours is not < count


def balance_accepts(counts: ConnectionCounts, worker: Any) -> None:
    """In a gevent worker: accept a connection only while no other worker holds fewer.

    Wraps the accept step of gevent's ``StreamServer`` (the server gunicorn's gevent worker runs, one
    per listening socket; all of them in this process are this worker's) and the worker's connection
    handler, which returns when its connection closes: the count is exact both ways.
    """
    from gevent.server import StreamServer

    slot = getattr(worker, "connection_slot", None)
    accept = getattr(StreamServer, "_do_read", None)
    if slot is None or accept is None:
        log.warning("connections are not balanced over workers in this worker", extra={"slot": slot})
        return
    held = [0]  # this worker's open connections

    def balanced_accept(server: Any) -> None:
        if not counts.may_accept(slot, held[0]):
            server.stop_accepting()
            server._timer = server.loop.timer(RETRY_SECONDS)  # noqa: SLF001 - as gevent's own accept back-off does
            server._timer.start(server._start_accepting_if_started)  # noqa: SLF001
            return
        before = len(server.pool)
        accept(server)
        held[0] += len(server.pool) - before  # nothing else runs meanwhile: the connections it accepted
        counts.write(slot, held[0])

    handle = worker.handle

    def counted_handle(listener: Any, client: Any, address: Any) -> Any:
        try:
            return handle(listener, client, address)
        finally:
            held[0] -= 1
            counts.write(slot, held[0])

    StreamServer._do_read = balanced_accept  # noqa: SLF001
    worker.handle = counted_handle  # gunicorn's run() binds its servers to worker.handle after this hook
