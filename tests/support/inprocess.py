"""The API in-process: Flask's test client on a real Redis, with the same calls
as :class:`tests.support.stack.Stack` (:class:`tests.support.client.ApiCalls`),
and a stand-in for the worker's side of a session made of the very lifecycle
functions the worker calls (no CLI involved)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from api import create_app
from tests.support.client import ApiCalls
from tests.support.processes import broker_url_for
from vaporforge.session import lifecycle
from vaporforge.session.store import SessionStore
from vaporforge.settings import Settings

CLI_URL = ("https://claude.com/cai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9-88ed-"
           "5944d1962f5e&response_type=code&redirect_uri=https%3A%2F%2Fplatform.claude.com%2F"
           "oauth%2Fcode%2Fcallback&scope=user%3Ainference&code_challenge=abc&"
           "code_challenge_method=S256&state=xyz")


@dataclass
class ApiClient(ApiCalls):
    app: Flask
    client: FlaskClient
    store: SessionStore
    settings: Settings

    @classmethod
    def build(cls, store_url: str, **overrides: Any) -> ApiClient:
        settings = Settings(redis_url=store_url, broker_url=broker_url_for(store_url),
                            create_rate="1000/minute", poll_rate="1000/minute",
                            action_rate="1000/minute", probe_rate="1000/minute")
        settings = dataclasses.replace(settings, **overrides)
        app = create_app({"SETTINGS": settings, "TESTING": True})
        store = SessionStore(redis.Redis.from_url(store_url, decode_responses=True),
                             settings.key_prefix)
        return cls(app, app.test_client(), store, settings)

    def with_settings(self, **overrides: Any) -> ApiClient:
        return ApiClient.build(self.settings.redis_url, **overrides)

    def _request(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        return self.client.open(path, method=method, **kwargs)

    @staticmethod
    def _json(response: Any) -> Any:
        return response.get_json()

    @staticmethod
    def _text(response: Any) -> str:
        return str(response.get_data(as_text=True))

    # -- the worker's side, through the same lifecycle functions ----------------------
    def take_and_publish(self, session: dict, owner: str = "test-worker") -> None:
        sid = session["session_id"]
        assert lifecycle.take(self.store, sid, owner, self.settings.heartbeat_ttl)
        lifecycle.publish_url(self.store, sid, CLI_URL)

    def waiting(self, mode: str = "oauth", **extra: Any) -> dict:
        """A session in ``awaiting_code``."""
        session = self.create(mode, **extra)
        self.take_and_publish(session)
        return session
