"""The Flask app itself: an unexpected error is JSON and says nothing internal."""

from __future__ import annotations

from api import create_app
from vaporforge.settings import Settings


def test_an_unhandled_exception_is_a_json_500_without_details(redis_db):
    app = create_app({"SETTINGS": Settings(redis_url=redis_db)})

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("sk-ant-oat01-should-never-be-shown-0123456789")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"error": {"code": "internal_error",
                                             "message": "Something went wrong on our side."}}
    assert b"sk-ant" not in response.data


def test_security_headers_on_every_response(redis_db):
    app = create_app({"SETTINGS": Settings(redis_url=redis_db)})
    response = app.test_client().get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
