"""The poll ceiling: a bare Flask endpoint that reads one Redis hash.

    REDIS_URL=redis://127.0.0.1:6379/2 gunicorn 'bench.bare_app:create_app()'

``GET /bare/<session_id>`` answers the session's hash as JSON with one HGETALL
(of the key :func:`vaporforge.keys.key_for` names): no token check, no rate
limit, no schema. Served under the same gunicorn settings as the API, it is
what the machine allows for a Redis-backed poll.
"""

from __future__ import annotations

import os

import redis
from flask import Flask, abort, jsonify
from flask.typing import ResponseReturnValue

from vaporforge import defaults
from vaporforge.keys import KeyKind, key_for


def create_app() -> Flask:
    app = Flask(__name__)
    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    prefix = os.environ.get("VF_KEY_PREFIX", defaults.KEY_PREFIX)

    @app.get("/bare/<session_id>")
    def bare(session_id: str) -> ResponseReturnValue:
        data = client.hgetall(key_for(prefix, KeyKind.SESSION, session_id))
        if not data:
            abort(404)
        data.pop("token_hash", None)
        return jsonify(data)

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    return app
