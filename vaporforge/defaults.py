"""Every default the broker uses, in one place (TTLs in seconds)."""

from __future__ import annotations

SESSION_TTL = 900
"""How long a login session may live, from creation to the end of the code wait."""

CREDENTIALS_TTL = 120
"""How long a ready credential payload waits in Redis for its one claim."""

CODE_WAIT_TIMEOUT = 600
"""How long a worker waits for the user's code after publishing the URL."""

URL_TIMEOUT = 30
"""How long the CLI may take, from spawn, to print its sign-in URL."""

EXCHANGE_TIMEOUT = 45
"""How long the CLI may take to answer a pasted code (its own limit is 30 s)."""

RECORD_GRACE = 300
"""How long a session record outlives its end, so a poll can still read the outcome."""

START_TIMEOUT = 30
"""How long a new session may wait for a worker to take it (then ``not_started``)."""

HEARTBEAT_TTL = 15
"""A live session whose owning worker has not renewed this for so long is lost."""

CODE_POLL_INTERVAL = 2
"""Longest single blocking pop on the code list; bounds how fast cancel/expiry is seen."""

REAP_INTERVAL = 30
"""How often each worker sweeps for orphaned login processes and containers."""

POLL_AFTER_MS = 1000
"""What the API tells the browser to wait between status polls."""

MAX_BODY_BYTES = 16 * 1024
MAX_CODE_BYTES = 512

WORKER_CONCURRENCY = 32
"""Threads per worker process; each waiting login holds one (and ~150 MB of CLI)."""

LOGIN_COMMAND = "claude"
KEY_PREFIX = "vf"
PTY_COLUMNS = 500
PTY_ROWS = 50

RUN_LOGIN_TASK = "vaporforge.run_login"
LOGIN_QUEUE = "vaporforge.logins"
CLI_VERSION_TTL = 3600
"""How long a worker's report of its CLI version stays in Redis (renewed by the reaper)."""

AT_CAPACITY_RETRY_AFTER = 30
"""Seconds a refused creation is told to wait (Retry-After) when the broker is full."""

METRICS_TTL = 30 * 24 * 3600
"""The counters' hash lapses after a month without any session (a reset Prometheus handles)."""

BIND_TTL = 60
"""How long a warm entry's bind list waits for its worker to read it."""

WARM_MAX_AGE = 600
"""Seconds a warm CLI waits at its prompt before it is recycled (see BENCHMARKS.md)."""

TICKET_TTL = 600
"""How long a connect ticket may wait for the creation it allows."""

IDLE_TIMEOUT = 180
"""An ``awaiting_code`` session nobody polled for so long is ``abandoned``."""

GRANT_TTL = 90 * 24 * 3600
"""How long a refresh grant stays valid (each refresh answers a new one)."""

EVENTS_QUEUE = "vaporforge.events"
DELIVER_EVENT_TASK = "vaporforge.deliver_event"
WEBHOOK_TIMEOUT = 10
"""Seconds one webhook delivery attempt may take in all."""

WEBHOOK_RETRY_FOR = 24 * 3600
"""How long a webhook event is retried before it is given up (logged)."""

WEBHOOK_BACKOFF_START = 1
WEBHOOK_BACKOFF_MAX = 600
