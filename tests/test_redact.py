"""Secrets are masked in any text bound for a log or an error."""

from __future__ import annotations

import logging

import pytest

from vaporforge.redact import MASK, RedactingFilter, redact

TOKEN = "sk-ant-oat01-" + "Ab3_-x" * 16


@pytest.mark.parametrize(("text", "secret"), [
    (f"token {TOKEN} printed", TOKEN),
    ('{"refreshToken": "sk-ant-ort01-abcdefghijklmnop"}', "sk-ant-ort01-abcdefghijklmnop"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345"),
    ('access_token="abcdefghijklmnop"', "abcdefghijklmnop"),
    ("pasted AbCdEfGhIjKlMnOpQrSt#UvWxYz012345", "AbCdEfGhIjKlMnOpQrSt#UvWxYz012345"),
    ("https://localhost:1/callback?code=secretcode123&state=1", "secretcode123"),
])
def test_secrets_are_masked(text, secret):
    out = redact(text)
    assert secret not in out and MASK in out


@pytest.mark.parametrize("text", [
    "session abc123 awaiting code",
    "Couldn't log in: getaddrinfo ENOTFOUND platform.claude.com",
])
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_filter_masks_messages_arguments_and_exceptions(caplog):
    logger = logging.getLogger("redact-test")
    logger.addFilter(RedactingFilter())
    try:
        raise ValueError(f"bad {TOKEN}")
    except ValueError:
        logger.exception("failed with %s", TOKEN)
    record = caplog.records[-1]
    assert TOKEN not in record.getMessage()
    assert TOKEN not in (record.exc_text or "")
