"""A fake Anthropic OAuth/API server that lets the real Claude Code CLI finish a login.

Observed against @anthropic-ai/claude-code 2.1.332 (Bun executable). The CLI trusts
a CA given in NODE_EXTRA_CA_CERTS (or SSL_CERT_FILE), so with this server on
127.0.0.1:443 inside a private network namespace whose /etc/hosts maps the
Anthropic host names to 127.0.0.1 (see tests/netns_run.sh), these all succeed:

  claude auth login            -> "Login successful.", writes ~/.claude/.credentials.json
  claude auth login --console  -> "Login successful.", API key in ~/.claude.json (primaryApiKey)
  claude setup-token           -> prints the access token  sk-ant-oat01-...

Two ways to point the CLI here (both observed to work):
  * production host names (no extra env): map platform.claude.com and
    api.anthropic.com (plus claude.com, claude.ai for the sign-in links) to 127.0.0.1;
  * CLAUDE_CODE_CUSTOM_OAUTH_URL=https://claude.fedstart.com (one of the CLI's
    allow-listed values): every request then goes to claude.fedstart.com; the
    config file becomes ~/.claude-custom-oauth.json, credentials stay in
    ~/.claude/.credentials.json.

Endpoints the CLI used in those runs (all answered here):
  HEAD /api/hello                                   connection warm-up (api host)
  POST /v1/oauth/token                              code -> tokens (platform host)
  GET  /api/oauth/profile                           account/org (optional: 404 still logs in)
  GET  /api/oauth/claude_cli/roles                  auth login only (optional)
  POST /api/oauth/claude_cli/create_api_key         --console only (REQUIRED: {"raw_key"})
  POST /api/eval/<key>, POST /api/event_logging/v2/batch
                                                    telemetry; gone with
                                                    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
  GET  /api/organization/claude_code_first_token_date, GET /api/claude_cli/bootstrap
                                                    answered 404 (the CLI ignores that)
Plus, for tests that play the user's browser:
  GET  /oauth/authorize, /cai/oauth/authorize       validates the sign-in URL's query and
                                                    answers JSON {"code", "state", "paste"}
                                                    where paste = "<code>#<state>" is what a
                                                    user would paste into the CLI. The code is
                                                    remembered with its scope and PKCE
                                                    challenge; the token exchange then checks
                                                    the verifier and returns that scope.
                                                    Append &fake_account=console to grant
                                                    "org:create_api_key user:profile" instead
                                                    (the CLI asks for user:inference even with
                                                    --console; only a grant without it makes
                                                    the CLI mint an API key), or
                                                    &fake_scope=<scopes> for any other grant.
  GET  /__fake/requests                             the (redacted) request log as JSON.

The refresh grant follows FACTS.md "Token refresh": a JSON POST of
{"grant_type": "refresh_token", "refresh_token", "client_id", "scope"} to
/v1/oauth/token. The client id must be the CLI's; refresh tokens rotate (a
refresh token is good once: the second use is 400 invalid_grant, as when two
holders share one login); the answer is an 8-hour access token, a new refresh
token and the requested scope. Refresh tokens "sk-ant-ort01-bad..." are refused
(invalid_grant), "sk-ant-ort01-err..." get a 500, "sk-ant-ort01-slow..." wait
FakeOAuthServer.slow_refresh seconds. In-process, FakeOAuthServer.refresh_bodies
holds each refresh request's parsed body and content type (with the tokens: it
is never logged or served), hold_refreshes() keeps answers back until released,
and refresh_token_lifetime (seconds) adds "refresh_token_expires_in" to answers
(not observed from the real service; off by default).

Token values are derived from the code the CLI sends (the part before '#'),
so tests can predict them: see tokens_for_code(). Codes with special prefixes
inject failures: "bad..." -> 400 invalid_grant; "err..." -> 500; "slowN..."
-> answer after N seconds (N <= 60). Unknown codes are accepted unless
--strict; their scope is guessed: setup-token (request has expires_in) ->
"user:inference"; code starting with "console" -> "org:create_api_key
user:profile" (makes `auth login --console` mint an API key); else the full
claude.ai scope list. Note: a token answer WITHOUT refresh_token makes
`auth login` print "Login successful." yet store nothing.

The log never contains codes, verifiers, tokens or keys.

CLI:  python -m tests.support.fake_oauth --host 127.0.0.1 --port 443 --certdir DIR [--log FILE]
      writes DIR/ca.pem, DIR/cert.pem, DIR/key.pem if missing, prints
      "fake-oauth listening on https://HOST:PORT ca=DIR/ca.pem" when ready.
In-process: srv = FakeOAuthServer(certdir=...); srv.start(); ...; srv.stop().
FakeOAuthServer(tls=False) serves plain HTTP (loopback only), for the broker's refresh relay.
"""

from tests.support.fake_oauth.certs import make_certs
from tests.support.fake_oauth.server import FakeOAuthServer, main
from tests.support.fake_oauth.tokens import (
    CLAUDE_AI_SCOPES,
    CLIENT_ID,
    CONSOLE_SCOPES,
    SETUP_TOKEN_SCOPES,
    api_key_for_access_token,
    pkce_challenge,
    tokens_for_code,
    tokens_for_refresh,
)

__all__ = ["CLAUDE_AI_SCOPES", "CLIENT_ID", "CONSOLE_SCOPES", "SETUP_TOKEN_SCOPES",
           "FakeOAuthServer", "api_key_for_access_token", "main", "make_certs",
           "pkce_challenge", "tokens_for_code", "tokens_for_refresh"]
