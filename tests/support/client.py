"""The one API client of the tests and the benchmarks: the broker's REST calls
(create, call, status, wait for a state, a whole sign-in) over any transport.

:class:`ApiCalls` holds the calls; a transport supplies ``_request``. Over HTTP:
:class:`HttpClient` (one keep-alive connection, for benchmarks and threads) and
:class:`tests.support.stack.Stack` (a fresh connection per call); in-process:
:class:`tests.support.inprocess.ApiClient` (Flask's test client). Each returns
its transport's own response object (``requests.Response`` or werkzeug's
``TestResponse``), so a test reads the answer as that library does.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from tests.support.stack import Stack

SESSIONS = "/api/auth/sessions"
ENDED = ("claimed", "failed", "expired", "cancelled")
"""States a session never leaves: waiting for another state past one of them fails at once."""


class ApiCalls:
    """The REST calls a browser makes, on top of one ``_request`` of a transport."""

    wait_timeout = 20.0

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def _json(response: Any) -> Any:
        return response.json()

    @staticmethod
    def _text(response: Any) -> str:
        return str(response.text)

    def create(self, mode: str | None = "oauth", headers: dict | None = None,
               **extra: Any) -> dict:
        """POST a session (``mode`` None: no mode field); asserts the 202."""
        body = {} if mode is None else {"mode": mode}
        body.update(extra)
        response = self._request("POST", SESSIONS, json=body, headers=headers)
        assert response.status_code == 202, self._text(response)
        return dict(self._json(response))

    def call(self, method: str, session: dict, suffix: str = "", **kwargs: Any) -> Any:
        """``method`` on the session's URL (+ ``suffix``) with its bearer token."""
        headers = {"Authorization": f"Bearer {session['session_token']}"}
        headers.update(kwargs.pop("headers", None) or {})
        return self._request(method, f"{SESSIONS}/{session['session_id']}{suffix}",
                             headers=headers, **kwargs)

    def status(self, session: dict) -> dict:
        response = self.call("GET", session)
        assert response.status_code == 200, self._text(response)
        return dict(self._json(response))

    def wait_state(self, session: dict, *states: str, timeout: float | None = None,
                   interval: float = 0.05) -> dict:
        """Poll until the session is in one of ``states`` (its status body); an
        AssertionError with the last body seen after ``timeout`` seconds or at an
        ended state that is not waited for."""
        deadline = time.monotonic() + (self.wait_timeout if timeout is None else timeout)
        while True:
            seen = self.status(session)
            if seen["state"] in states:
                return seen
            if seen["state"] in ENDED or time.monotonic() > deadline:
                raise AssertionError(f"never reached {states}; last seen [{seen}]")
            time.sleep(interval)

    def sign_in(self, mode: str, code: str) -> tuple[dict, Any]:
        """A whole login as a browser runs it: create, wait for the URL, paste
        ``code``, wait for ``ready``, claim. The session and the claim's answer."""
        session = self.create(mode)
        self.wait_state(session, "awaiting_code")
        pasted = self.call("POST", session, "/code", json={"code": code})
        assert pasted.status_code == 202, self._text(pasted)
        self.wait_state(session, "ready")
        return session, self.call("POST", session, "/credentials")


class HttpClient(ApiCalls):
    """The API over HTTP on one keep-alive connection (one per thread: a
    ``requests.Session`` is not shared between threads)."""

    wait_timeout = 60.0

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = requests.Session()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.stack.url(path), timeout=30, **kwargs)
