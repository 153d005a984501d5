"""A deliberately broken app for tests/test_feedback_durability.py: it acknowledges feedback before storing it.

``write_behind_app()`` answers 200 at once and writes each feedback a moment later in a background
thread, the classic "commit after responding" mistake. The durability test runs it under the same
SIGKILL as the real app and must find acknowledged feedback missing, which shows the test can fail.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

from service import create_app

WRITE_DELAY_SECONDS = 0.5


def write_behind_app() -> Flask:
    app = create_app()
    feedback = app.extensions["her2cds"].feedback
    store = feedback.store

    def acknowledge_then_store(service_id: str, items: list[dict[str, Any]], *args: Any) -> int:
        threading.Timer(WRITE_DELAY_SECONDS, store, (service_id, items, *args)).start()
        return len(items)

    feedback.store = acknowledge_then_store
    return app
