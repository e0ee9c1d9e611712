"""An example host app for the VaporForge login broker (a demo, not a product).

It signs its own demo users in (a form and a session cookie), mints connect
tickets for them in its backend with its host key, serves a page that embeds
``<vaporforge-connect ticket-url=...>`` from the broker's origin, verifies the
broker's signed webhooks, and shows "connected" once ``login.claimed`` arrives.
Its "Disconnect Claude" button revokes the user at the broker
(``POST /api/auth/revocations``) and erases the set stored in the browser.

Run (after ``python -m vaporforge.hostkeys new host-app`` and giving the broker
the printed VF_HOST_KEYS entry, VF_WEBHOOK_URL=http://127.0.0.1:5050/vaporforge/webhook,
the same VF_WEBHOOK_SECRET, and VF_ALLOWED_ORIGINS=http://127.0.0.1:5050):

    VAPORFORGE_URL=http://127.0.0.1:8000 VAPORFORGE_HOST_KEY=vfhk_... \\
      VAPORFORGE_WEBHOOK_SECRET=... python examples/host-app/app.py

Environment: VAPORFORGE_URL (the broker), VAPORFORGE_HOST_KEY,
VAPORFORGE_WEBHOOK_SECRET (the broker's VF_WEBHOOK_SECRET) are required;
HOST_APP_PORT (5050), HOST_APP_USERS ("name:password,..."; default two demo
users), HOST_APP_SECRET_KEY (the cookie key; random per start by default).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask, Response, abort, jsonify, redirect, render_template, request, session
from webhooks import HEADER, verify

DEMO_USERS = "ada:lovelace,grace:hopper"


@dataclass
class Inbox:
    """Verified events per end user (in memory: one process is enough for a demo)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: set[str] = field(default_factory=set)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, event: dict[str, Any]) -> bool:
        """Keeps a new event; False for a repeat (delivery is at least once)."""
        with self.lock:
            if event["id"] in self.seen:
                return False
            self.seen.add(event["id"])
            user = event.get("data", {}).get("end_user", "")
            self.events.setdefault(user, []).append(event)
            return True

    def of(self, user: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events.get(user, []))


ENDINGS = {"token.revoked", "token.reuse_detected"}
"""Events after which the user's Claude account is no longer connected here."""


def connected(events: list[dict[str, Any]]) -> bool:
    """Connected when the latest login event is a claim, and no revocation or
    reuse came after it."""
    kinds = [e["type"] for e in events if e["type"].startswith("login.") or e["type"] in ENDINGS]
    return bool(kinds) and kinds[-1] == "login.claimed"


def create_app(broker: str, host_key: str, webhook_secret: str, users: dict[str, str],
               secret_key: str | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret_key or secrets.token_urlsafe(32),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    broker = broker.rstrip("/")
    inbox = Inbox()

    def own_origin() -> str:
        return request.host_url.rstrip("/")

    @app.get("/")
    def home() -> str:
        user = session.get("user")
        if not user:
            return render_template("signin.html", error=None, broker=broker)
        return render_template("home.html", user=user, broker=broker)

    @app.post("/signin")
    def signin() -> Any:
        name = request.form.get("name", "")
        password = request.form.get("password", "")
        known = users.get(name)
        if known is None or not secrets.compare_digest(known, password):
            return render_template("signin.html", broker=broker,
                                   error="Unknown name or wrong password."), 401
        session.clear()
        session["user"] = name
        return redirect("/", 303)

    @app.post("/signout")
    def signout() -> Any:
        session.clear()
        return redirect("/", 303)

    def ask_broker(path: str, body: dict[str, Any], what: str, refused: str,
                   message: str) -> Any:
        """POST ``body`` to the broker with the host key for the signed-in user (who
        is put in it as ``end_user``), from this app's own pages only; the broker's
        201 answer, or this app's JSON error response."""
        user = session.get("user")
        if not user:
            return jsonify(error={"code": "signed_out", "message": "Sign in first."}), 401
        # Only this app's own pages may ask (the element's same-origin POST).
        if request.headers.get("Origin") != own_origin():
            abort(403)
        try:
            answer = requests.post(f"{broker}{path}", timeout=10,
                                   headers={"Authorization": f"Bearer {host_key}"},
                                   json={"end_user": user, **body})
        except requests.RequestException:
            return jsonify(error={"code": "broker_unreachable",
                                  "message": "The broker could not be reached."}), 502
        if answer.status_code != 201:
            app.logger.warning("%s refused by the broker: %s", what, answer.status_code)
            return jsonify(error={"code": refused, "message": message}), 502
        return answer

    @app.post("/vaporforge/ticket")
    def ticket() -> Any:
        """A connect ticket for the signed-in user, minted with the host key."""
        answer = ask_broker("/api/auth/tickets", {"origin": own_origin()}, "ticket",
                            "ticket_refused", "The broker refused a ticket.")
        if not isinstance(answer, requests.Response):
            return answer
        return jsonify(ticket=answer.json()["ticket"])

    @app.post("/vaporforge/disconnect")
    def disconnect() -> Any:
        """Revoke the signed-in user at the broker: its refresh grants stop working
        and a login of theirs under way ends (POST /api/auth/revocations)."""
        answer = ask_broker("/api/auth/revocations", {}, "revocation", "revocation_refused",
                            "The broker refused the revocation.")
        if not isinstance(answer, requests.Response):
            return answer
        return jsonify(revoked_at=answer.json()["revoked_at"])

    @app.post("/vaporforge/webhook")
    def webhook() -> Response:
        """The broker's events: verified, deduplicated by id, kept per user."""
        body = request.get_data(cache=False)
        if not verify(webhook_secret, request.headers.get(HEADER, ""), body):
            return Response("bad signature\n", 400, mimetype="text/plain")
        try:
            event = json.loads(body)
            inbox.add(event)
        except (ValueError, TypeError, KeyError, AttributeError):
            return Response("not an event\n", 400, mimetype="text/plain")
        return Response(status=204)

    @app.get("/vaporforge/status")
    def status() -> Any:
        user = session.get("user")
        if not user:
            return jsonify(error={"code": "signed_out", "message": "Sign in first."}), 401
        events = inbox.of(user)
        return jsonify(connected=connected(events),
                       events=[{"id": e["id"], "type": e["type"]} for e in events])

    @app.after_request
    def headers(response: Response) -> Response:
        # Scripts from this app and the broker only; fetches to both.
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(broker))
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'self' {origin}; style-src 'self' {origin}; "
            f"connect-src 'self' {origin}; img-src 'self' {origin}; frame-ancestors 'none'")
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


def main() -> None:
    users = dict(pair.split(":", 1) for pair in
                 os.environ.get("HOST_APP_USERS", DEMO_USERS).split(",") if ":" in pair)
    app = create_app(os.environ["VAPORFORGE_URL"], os.environ["VAPORFORGE_HOST_KEY"],
                     os.environ["VAPORFORGE_WEBHOOK_SECRET"], users,
                     os.environ.get("HOST_APP_SECRET_KEY"))
    app.run(host="127.0.0.1", port=int(os.environ.get("HOST_APP_PORT", "5050")), threaded=True)


if __name__ == "__main__":
    main()
