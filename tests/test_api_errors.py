"""Every bad input gets its documented status and a JSON error body."""

from __future__ import annotations

import pytest
import requests


def error_of(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def waiting(stack):
    session = stack.create("oauth")
    stack.wait_state(session, "awaiting_code")
    yield session
    stack.call("DELETE", session)


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
def test_create_refuses_bad_bodies(stack, kwargs, status, code):
    response = requests.post(stack.url(CREATE), timeout=10, **kwargs)
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
def test_code_refuses_bad_bodies(stack, waiting, body, status, code):
    response = stack.call("POST", waiting, "/code", json=body)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert stack.status(waiting)["state"] == "awaiting_code"


def test_code_of_exactly_512_bytes_is_accepted(stack, waiting):
    code = "a#" + "b" * 510
    response = stack.call("POST", waiting, "/code", json={"code": code})
    assert response.status_code == 202


def test_code_body_must_be_json(stack, waiting):
    response = stack.call("POST", waiting, "/code", data="code=abc#def",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    response = stack.call("POST", waiting, "/code", data="{",
                          headers={"Content-Type": "application/json"})
    assert error_of(response)["code"] == "invalid_json"


@pytest.mark.parametrize(("method", "suffix", "kwargs"), [
    ("GET", "", {}),
    ("DELETE", "", {}),
    ("POST", "/code", {"json": {"code": "abc#def"}}),
    ("POST", "/credentials", {}),
])
def test_unknown_id_and_wrong_token_look_the_same(stack, waiting, method, suffix, kwargs):
    wrong_token = {**waiting, "session_token": "x" * 43}
    unknown_id = {**waiting, "session_id": "A" * 22}
    no_token = stack.url(f"/api/auth/sessions/{waiting['session_id']}{suffix}")
    responses = [stack.call(method, wrong_token, suffix, **kwargs),
                 stack.call(method, unknown_id, suffix, **kwargs),
                 requests.request(method, no_token, timeout=10, **kwargs),
                 stack.call(method, {**waiting, "session_id": "bad id!"}, suffix, **kwargs)]
    bodies = {r.text for r in responses}
    assert {r.status_code for r in responses} == {404}
    assert len(bodies) == 1
    assert error_of(responses[0])["code"] == "not_found"
    assert stack.status(waiting)["state"] == "awaiting_code"


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/nope", 404, "not_found"),
    ("GET", "/api/auth/nothing-here", 404, "not_found"),
    ("PUT", "/api/auth/sessions", 405, "method_not_allowed"),
    ("GET", "/api/auth/sessions", 405, "method_not_allowed"),
    ("PATCH", "/healthz", 405, "method_not_allowed"),
])
def test_flask_errors_are_json(stack, method, path, status, code):
    response = requests.request(method, stack.url(path), timeout=10)
    assert response.status_code == status
    assert error_of(response)["code"] == code
