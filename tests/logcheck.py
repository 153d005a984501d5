"""Every test's log output, at DEBUG for every logger through the service's own formatter, must hold
none of the secrets its requests carried.

The autouse fixture ``no_secrets_in_logs`` (imported by tests/conftest.py) wraps the Flask test client
and records, for each request: the ``Authorization`` header (and the token in it), the
``fhirAuthorization`` access token, ``context.patientId``, and the ids, identifier values and names of
Patient resources in the body (prefetch included). At teardown none of those strings of four
characters or more may occur in the captured log text.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from service.logs import json_formatter

MIN_SECRET_LENGTH = 4


def _patient_strings(value: Any) -> Iterator[str]:
    """Ids, identifier values and names of every Patient resource nested in ``value``."""
    if isinstance(value, list):
        for item in value:
            yield from _patient_strings(item)
    elif isinstance(value, dict):
        if value.get("resourceType") == "Patient":
            yield str(value.get("id") or "")
            for identifier in value.get("identifier") or []:
                yield str(identifier.get("value") or "")
            for name in value.get("name") or []:
                yield from (str(part) for part in [name.get("text"), name.get("family"), *(name.get("given") or [])] if part)
        for item in value.values():
            yield from _patient_strings(item)


def secrets_of_request(kwargs: dict[str, Any]) -> set[str]:
    """The secrets one test-client request carries."""
    found: set[str] = set()
    headers = kwargs.get("headers") or {}
    for name, value in headers.items() if isinstance(headers, dict) else headers:
        if name.lower() == "authorization":
            found.update({value, value.partition(" ")[2]})
    body = kwargs.get("json")
    if body is None and isinstance(kwargs.get("data"), bytes | str):
        try:
            body = orjson.loads(kwargs["data"])
        except orjson.JSONDecodeError:
            body = None
    if isinstance(body, dict):
        authorization = body.get("fhirAuthorization")
        if isinstance(authorization, dict):
            found.add(str(authorization.get("access_token") or ""))
        context = body.get("context")
        if isinstance(context, dict):
            found.add(str(context.get("patientId") or ""))
        found.update(_patient_strings(body))
    return {secret for secret in found if len(secret) >= MIN_SECRET_LENGTH}


class LeakCheck:
    """Captures log output through the service's formatter and remembers the secrets to look for."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.captured = io.StringIO()
        self.handler = logging.StreamHandler(self.captured)
        self.handler.setFormatter(json_formatter())
        self._level = logging.NOTSET

    def start(self) -> None:
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self.handler)
        root.setLevel(logging.DEBUG)

    def stop(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self._level)

    def text(self) -> str:
        return self.captured.getvalue()

    def leaks(self) -> list[str]:
        text = self.text()
        return sorted(secret for secret in self.secrets if secret in text)


@pytest.fixture(autouse=True)
def no_secrets_in_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[LeakCheck]:
    """Capture all logs of the test at DEBUG; fail it when a request's secret shows up in them."""
    check = LeakCheck()
    original_open = FlaskClient.open

    def recording_open(self: FlaskClient, *args: Any, **kwargs: Any) -> Any:
        check.secrets.update(secrets_of_request(kwargs))
        return original_open(self, *args, **kwargs)

    monkeypatch.setattr(FlaskClient, "open", recording_open)
    monkeypatch.setenv("HER2CDS_LOG_LEVEL", "DEBUG")  # create_app must not raise the level again
    check.start()
    try:
        yield check
    finally:
        check.stop()
    leaked = check.leaks()
    if leaked:
        pytest.fail(f"secrets of this test's requests appear in the logs: {leaked}\n{check.text()[-4000:]}")
