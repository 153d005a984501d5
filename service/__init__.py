"""her2-cds: a CDS Hooks 2.0 service for HER2-positive metastatic breast cancer.

``create_app()`` builds the Flask application (gunicorn serves ``service:create_app()``); nothing
runs at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application (see ``service.app.create_app``)."""
    from service.app import create_app as build

    return build(config)
