"""Errors become HTTP in one place: a JSON OperationOutcome, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from service.jsonio import json_response

log = logging.getLogger(__name__)

ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    412: "incomplete",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    500: "exception",
}


class ApiError(Exception):
    """An error with a status code and a message safe to show the caller."""

    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def operation_outcome(status: int, message: str, details: list[str] | None = None) -> dict[str, Any]:
    """A FHIR OperationOutcome body (CDS Hooks 3.0 style error)."""
    code = ISSUE_CODES.get(status, "processing")
    issues = [{"severity": "error", "code": code, "diagnostics": text} for text in [message, *(details or [])[:20]]]
    return {"resourceType": "OperationOutcome", "issue": issues}


def error_response(status: int, message: str, details: list[str] | None = None) -> Response:
    response = json_response(operation_outcome(status, message, details), status)
    response.headers["Content-Type"] = "application/fhir+json" if status != 401 else "application/json"
    return response


def register_error_handlers(app: Flask) -> None:
    """Every error, expected or not, leaves as JSON."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.message, error.details)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        response = error_response(status, error.name if status != 413 else "request body too large")
        for name, value in error.get_headers():
            if name.lower() == "allow":
                response.headers["Allow"] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error in request")  # traceback to the log, never to the caller
        return error_response(500, "internal error")
