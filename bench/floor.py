"""The floor: a trivial Flask app that parses the same hook request and answers one fixed card.

Served by gunicorn with the service's own settings, it is what any Flask CDS service costs before it
does any work: HTTP, the framework, and parsing the JSON body (Flask's ``request.get_json``).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

CARD = {
    "summary": "Fixed card",
    "indicator": "info",
    "source": {"label": "bench floor"},
}


def create_app() -> Flask:
    app = Flask("bench-floor")

    @app.post("/cds-services/<service_id>")
    def hook(service_id: str) -> Response:
        body = request.get_json()
        if not isinstance(body, dict) or "hook" not in body:
            return Response(status=400)
        return jsonify({"cards": [CARD]})

    return app
