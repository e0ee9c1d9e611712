"""Every bad input gets its documented status and a JSON error body."""

from __future__ import annotations

import pytest
from werkzeug.test import TestResponse


def error_of(response: TestResponse) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def waiting(api):
    return api.waiting()


CREATE = "/api/auth/sessions"


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400,
     "invalid_json"),
    ({"data": "[1, 2]", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
    ({"data": "mode=oauth", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
     415, "unsupported_media_type"),
    ({"data": '{"mode": "oauth"}', "headers": {"Content-Type": "text/plain"}}, 415,
     "unsupported_media_type"),
    ({"json": {"mode": "password"}}, 400, "validation_error"),
    ({"json": {"mode": 7}}, 400, "validation_error"),
    ({"json": {"mode": "oauth", "extra": 1}}, 400, "validation_error"),
    ({"data": '{"mode": "' + "x" * 20000 + '"}', "headers": {"Content-Type": "application/json"}},
     413, "payload_too_large"),
])
def test_create_refuses_bad_bodies(api, kwargs, status, code):
    response = api.client.post(CREATE, **kwargs)
    assert response.status_code == status
    assert error_of(response)["code"] == code


@pytest.mark.parametrize(("body", "status", "code"), [
    ({}, 400, "validation_error"),
    ({"code": ""}, 400, "validation_error"),
    ({"code": "   "}, 400, "validation_error"),
    ({"code": None}, 400, "validation_error"),
    ({"code": 12345}, 400, "validation_error"),
    ({"code": "a#" + "b" * 511}, 400, "validation_error"),
    ({"code": "ab\ncd#ef"}, 400, "validation_error"),
    ({"code": "abc#def", "more": True}, 400, "validation_error"),
])
def test_code_refuses_bad_bodies(api, waiting, body, status, code):
    response = api.call("POST", waiting, "/code", json=body)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert api.status(waiting)["state"] == "awaiting_code"


def test_code_of_exactly_512_bytes_is_accepted(api, waiting):
    code = "a#" + "b" * 510
    response = api.call("POST", waiting, "/code", json={"code": code})
    assert response.status_code == 202


def test_code_body_must_be_json(api, waiting):
    response = api.call("POST", waiting, "/code", data="code=abc#def",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    response = api.call("POST", waiting, "/code", data="{",
                          headers={"Content-Type": "application/json"})
    assert error_of(response)["code"] == "invalid_json"


@pytest.mark.parametrize(("method", "suffix", "kwargs"), [
    ("GET", "", {}),
    ("DELETE", "", {}),
    ("POST", "/code", {"json": {"code": "abc#def"}}),
    ("POST", "/credentials", {}),
])
def test_unknown_id_and_wrong_token_look_the_same(api, waiting, method, suffix, kwargs):
    wrong_token = {**waiting, "session_token": "x" * 43}
    unknown_id = {**waiting, "session_id": "A" * 22}
    no_token = f"/api/auth/sessions/{waiting['session_id']}{suffix}"
    responses = [api.call(method, wrong_token, suffix, **kwargs),
                 api.call(method, unknown_id, suffix, **kwargs),
                 api.client.open(no_token, method=method, **kwargs),
                 api.call(method, {**waiting, "session_id": "bad id!"}, suffix, **kwargs)]
    bodies = {r.get_data() for r in responses}
    assert {r.status_code for r in responses} == {404}
    assert len(bodies) == 1
    assert error_of(responses[0])["code"] == "not_found"
    assert api.status(waiting)["state"] == "awaiting_code"


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/nope", 404, "not_found"),
    ("GET", "/api/auth/nothing-here", 404, "not_found"),
    ("PUT", "/api/auth/sessions", 405, "method_not_allowed"),
    ("GET", "/api/auth/sessions", 405, "method_not_allowed"),
    ("PATCH", "/healthz", 405, "method_not_allowed"),
])
def test_flask_errors_are_json(api, method, path, status, code):
    response = api.client.open(path, method=method)
    assert response.status_code == status
    assert error_of(response)["code"] == code
