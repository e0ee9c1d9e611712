"""Bodies the JSON parser would choke on answer 400 with a JSON error body, on
every route that takes a body (in-process: Flask's test client on a real Redis).

Every route of the app with POST, PUT, PATCH or DELETE is found in its URL map,
so a route added later is covered without touching this file. Each gets, with
a real session's id and token where it names one: nesting far beyond
``api.bodies.MAX_DEPTH`` (8,000 ``[``), huge numbers (``1e999999``, 5,000
digits), bytes that are not UTF-8 and lone surrogate escapes; first as fixed
cases, then as hypothesis draws. With ``TESTING`` Flask re-raises what a route
raises, so a 500 would fail the test as an exception even before its status
is read.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.bodies import MAX_DEPTH, MAX_NUMBER_CHARS, METHODS
from tests.support.inprocess import ApiClient
from tests.support.processes import Databases

JSON = {"Content-Type": "application/json"}
EXAMPLES = 100
FIELDS = ["mode", "code", "refresh_token", "scope", "end_user", "modes", "origin",
          "session_id", "client_public_key"]


@pytest.fixture(scope="module")
def app_client(databases: Databases) -> Iterator[ApiClient]:
    store_url = databases.allocate()
    yield ApiClient.build(store_url, max_sessions=1_000_000)
    databases.release(store_url)


@pytest.fixture(scope="module")
def session(app_client: ApiClient) -> dict:
    """A login waiting for its code: a body that got through would move it."""
    return app_client.waiting()


def json_routes(client: ApiClient) -> list[tuple[str, str]]:
    """(method, rule) of every route that may take a body."""
    routes = set()
    for rule in client.app.url_map.iter_rules():
        for method in (rule.methods or set()) & METHODS:
            routes.add((method, rule.rule))
    return sorted(routes)


def send(client: ApiClient, session: dict, route: tuple[str, str], body: bytes):
    method, rule = route
    path = re.sub(r"<[^>]+>", session["session_id"], rule)  # every path argument
    headers = {**JSON, "Authorization": f"Bearer {session['session_token']}"}
    return client.client.open(path, method=method, data=body, headers=headers)


def refused(response, codes: tuple[str, ...]) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    assert body["error"]["code"] in codes, body
    return str(body["error"]["code"])


def test_every_json_route_is_covered(app_client):
    routes = json_routes(app_client)
    for route in [("POST", "/api/auth/sessions"), ("POST", "/api/auth/sessions/<session_id>/code"),
                  ("POST", "/api/auth/sessions/<session_id>/credentials"),
                  ("DELETE", "/api/auth/sessions/<session_id>"),
                  ("POST", "/api/auth/tickets"), ("POST", "/api/auth/refresh")]:
        assert route in routes


FIXED = [
    pytest.param(b"[" * 8000, "validation_error", id="8000-open-brackets"),
    pytest.param(b"[" * 8000 + b"]" * 8000, "validation_error", id="8000-nested-arrays"),
    pytest.param(b'{"a":' * 2500 + b"1" + b"}" * 2500, "validation_error", id="2500-objects"),
    pytest.param(b'{"mode": ' + b"[" * (MAX_DEPTH) + b"]" * MAX_DEPTH + b"}",
                 "validation_error", id="one-level-too-deep"),
    pytest.param(b'{"code": 1e999999}', "validation_error", id="1e999999"),
    pytest.param(b'{"code": -1e999999}', "validation_error", id="-1e999999"),
    pytest.param(b'{"code": 1' + b"0" * 5000 + b"}", "validation_error",
                 id="10**5000"),
    pytest.param(b'{"code": 1.' + b"5" * 5000 + b"}", "validation_error", id="5000-decimals"),
    pytest.param(b'{"code": NaN}', "invalid_json", id="NaN"),
    pytest.param(b'{"code": -Infinity}', "invalid_json", id="-Infinity"),
    pytest.param(b'{"code": "\xff\xfe"}', "invalid_json", id="not-utf8"),
    pytest.param(b'{"code": "\xed\xa0\x80"}', "invalid_json", id="encoded-surrogate"),
    pytest.param(b'{"code": "ab\xc3"}', "invalid_json", id="truncated-utf8"),
    pytest.param('{"mode": "oauth"}'.encode("utf-16"), "invalid_json", id="utf16"),
    pytest.param(b'{"code": "\\ud800#x"}', "validation_error", id="lone-surrogate-escape"),
    pytest.param(b'{"\\udfff": "x"}', "validation_error", id="lone-surrogate-key"),
    pytest.param(b'{"end_user": ["\\ud83d"]}', "validation_error", id="half-a-pair"),
]


@pytest.mark.parametrize(("body", "code"), FIXED)
def test_bad_body_on_every_route(app_client, session, caplog, body, code):
    caplog.set_level(logging.ERROR, logger="vaporforge.api")
    for route in json_routes(app_client):
        assert refused(send(app_client, session, route, body), (code,)) == code, route
    assert "unhandled" not in caplog.text
    assert app_client.status(session)["state"] == "awaiting_code"


def test_what_is_not_refused_reaches_the_schema(app_client, session):
    """At the limits (depth MAX_DEPTH, 40-character numbers, a surrogate pair)
    the body is parsed and the route's own validation answers."""
    deep = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    number = b"1" * MAX_NUMBER_CHARS
    for body in (b'{"mode": ' + deep + b"}", b'{"mode": ' + number + b"}",
                 b'{"mode": "\\ud83d\\ude00"}', b'{"mode": 1e-999999}'):
        response = send(app_client, session, ("POST", "/api/auth/sessions"), body)
        assert refused(response, ("validation_error",)) == "validation_error"
        assert "mode" in response.get_json()["error"]["message"]
    other = app_client.waiting()
    ok = send(app_client, other, ("POST", "/api/auth/sessions/<session_id>/code"),
              json.dumps({"code": "abc#\U0001f600"}).encode())
    assert ok.status_code == 202


# -- hypothesis ------------------------------------------------------------------------

LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 6, 10 ** 6),
                   st.text(max_size=12)).map(json.dumps)


@st.composite
def too_deep(draw) -> bytes:
    depth = draw(st.integers(MAX_DEPTH + 1, 2000))
    kinds = draw(st.lists(st.sampled_from(["[", "{"]), min_size=1, max_size=5))
    leaf = draw(LEAVES)
    opened = [kinds[i % len(kinds)] for i in range(depth)]
    head = "".join('{"k": ' if kind == "{" else "[" for kind in opened)
    tail = "".join("}" if kind == "{" else "]" for kind in reversed(opened))
    closed = draw(st.booleans())  # unclosed is malformed too: still not a 5xx
    body = head + leaf + (tail if closed else "")
    if draw(st.booleans()):
        body = '{"' + draw(st.sampled_from(FIELDS)) + '": ' + body + "}"
    return body.encode()


@st.composite
def huge_number(draw) -> bytes:
    sign = draw(st.sampled_from(["", "-"]))
    number = draw(st.one_of(
        st.integers(MAX_NUMBER_CHARS + 1, 5000).map(lambda n: "9" * n),
        st.integers(309, 999999).map(lambda e: f"1e{e}"),
        st.integers(309, 999999).map(lambda e: f"2.5E+{e}"),
        st.integers(MAX_NUMBER_CHARS, 5000).map(lambda n: "0." + "3" * n),
    ))
    value = sign + number
    if draw(st.booleans()):
        value = f"[1, {value}]"
    return ('{"' + draw(st.sampled_from(FIELDS)) + '": ' + value + "}").encode()


BAD_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80",
            b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80"]


@st.composite
def not_utf8(draw) -> bytes:
    before = draw(st.text(max_size=20)).encode()
    after = draw(st.text(max_size=20)).encode()
    bad = draw(st.sampled_from(BAD_UTF8))
    text = json.dumps(before.decode())[1:-1].encode() + bad + \
        json.dumps(after.decode())[1:-1].encode()
    return b'{"' + draw(st.sampled_from(FIELDS)).encode() + b'": "' + text + b'"}'


@st.composite
def lone_surrogate(draw) -> bytes:
    half = draw(st.integers(0xD800, 0xDFFF))
    around = draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=10))
    value = json.dumps(around)[1:-1] + f"\\u{half:04x}"
    if half < 0xDC00 and draw(st.booleans()):
        value += "x"  # a high half followed by anything but a low half
    return ('{"' + draw(st.sampled_from(FIELDS)) + '": "' + value + '"}').encode()


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize(("strategy", "codes"), [
    pytest.param(too_deep(), ("validation_error",), id="nested"),
    pytest.param(huge_number(), ("validation_error",), id="huge-number"),
    pytest.param(not_utf8(), ("invalid_json",), id="invalid-utf8"),
    pytest.param(lone_surrogate(), ("validation_error",), id="lone-surrogate"),
])
def test_fuzzed_bodies_are_400_on_every_route(app_client, session, caplog, strategy, codes):
    caplog.set_level(logging.ERROR, logger="vaporforge.api")
    routes = json_routes(app_client)
    seen: list[str] = []

    @given(route=st.sampled_from(routes), body=strategy)
    @SETTINGS
    def check(route, body) -> None:
        seen.append(refused(send(app_client, session, route, body), codes))

    check()
    assert len(seen) >= EXAMPLES
    assert "unhandled" not in caplog.text
    assert app_client.status(session)["state"] == "awaiting_code"
