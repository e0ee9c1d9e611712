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
WAKE_TTL = CODE_POLL_INTERVAL * 5
"""How long a wake-up pushed on a code list waits for its worker's next pop."""

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

# Settings' own defaults (``vaporforge.settings_table.VARS`` shows each with its variable).
REDIS_URL = "redis://127.0.0.1:6379/0"
BROKER_URL = "redis://127.0.0.1:6379/1"
"""From the environment, the broker's default is REDIS_URL's server with database + 1."""
REDIS_SENTINEL_MASTER = "mymaster"
RUNTIME = "local"
METRICS_PORT = 0
"""0: a worker serves no metrics port."""
LOG_FORMAT = "json"
LOGIN_IMAGE = "vaporforge/login:latest"
DOCKER_NETWORK = "bridge"
DOCKER_MEMORY = "512m"
DOCKER_CPUS = 1.0
DOCKER_PIDS = 128
DOCKER_HOST = "unix:///var/run/docker.sock"
"""The engine the Docker runtime talks to when DOCKER_HOST is not set."""
REQUIRE_CLIENT_KEY = True
"""Sealed credentials unless VF_REQUIRE_CLIENT_KEY=false says otherwise."""
CREATE_RATE = "10/minute"
POLL_RATE = "240/minute"
ACTION_RATE = "30/minute"
PROBE_RATE = "60/minute"
REFRESH_RATE = "30/minute"
MAX_CODE_ATTEMPTS = 5
MAX_SESSIONS = 1000
TRUSTED_PROXIES = 0
TOKEN_URL = "https://platform.claude.com/v1/oauth/token"
"""Where the refresh relay sends the refresh grant."""
REFRESH_TIMEOUT = 10.0
"""Seconds the refresh relay waits on the sign-in service."""
REFRESH_CONNECT_TIMEOUT = 5.0
"""At most this much of REFRESH_TIMEOUT goes to connecting."""
MODES = ("oauth", "console", "setup-token")
"""The sign-in modes a deployment offers unless VF_MODES says otherwise; the first
is preselected and used when a creation names none."""

STORE_RETRY_AFTER = 5
"""Seconds a client is told to wait (Retry-After) while Redis does not answer."""

# The warm pool's pacing (worker/warm.py).
WARM_WAIT_SLICE = 1.0
"""Longest wait for a taker before a warm entry checks its age, CLI and the drain."""
WARM_REFILL_EVERY = 0.2
"""Seconds between the pool's checks for missing entries."""
WARM_RETRY_AFTER = 5.0
"""After an entry failed to start, its mode waits this long before the next try."""
WARM_TAKEN_WAIT = 5.0
"""Seconds a withdrawn entry waits for the id of the session that took it in the same instant."""
WARM_EXPIRY_MARGIN = 60
"""Seconds a warm entry's place outlives its longest possible use (age + session TTL)."""

# Login containers (worker/runtimes/docker_runtime.py).
DOCKER_HOME_SIZE = "32m"
"""Size of the tmpfs that is the CLI's HOME in a login container."""
DOCKER_UID = 10001
"""User (and group) id the login container runs as."""
DOCKER_START_GRACE = 10.0
"""Seconds a fresh login container is safe from the reaper (its session may be newer
than the live ids the reaper read)."""
DOCKER_TIMEOUT = 60
"""Seconds the docker SDK waits on one engine call."""
DOCKER_PROBE_TTL = 120
"""Seconds a worker's start-up ``--version`` container may live."""

# Host-authorised logins.
TICKET_TTL = 600
"""How long a connect ticket may wait for the creation it allows."""
TICKET_RATE = "600/minute"
USER_CREATE_RATE = "20/hour"
USER_REFRESH_RATE = "60/hour"
IDLE_TIMEOUT = 180
"""An ``awaiting_code`` session nobody polled for so long is ``abandoned``."""
GRANT_TTL = 90 * 24 * 3600
"""How long a refresh grant stays valid (each refresh answers a new one)."""
REFRESH_MAX_ANSWER = 64 * 1024
"""Bytes of the sign-in service's answer the relay reads at most."""

EVENTS_QUEUE = "vaporforge.events"
DELIVER_EVENT_TASK = "vaporforge.deliver_event"
WEBHOOK_TIMEOUT = 10
"""Seconds one webhook delivery attempt may take in all (a slow drip is cut at it)."""
WEBHOOK_CONNECT_TIMEOUT = 5.0
"""At most this much of WEBHOOK_TIMEOUT goes to connecting."""
WEBHOOK_MAX_ANSWER = 64 * 1024
"""Bytes of a webhook receiver's answer read at most; a longer answer is a failed attempt."""
WEBHOOK_CONCURRENCY = 4
"""Threads per worker process that deliver webhooks (none of them a login thread)."""
WEBHOOK_BACKLOG = 16
"""Events one worker process holds in memory for its webhook threads; more go back
to the events queue for WEBHOOK_DEFER_MAX seconds at most (so not many are lost with
a killed process, and a flood does not churn)."""
WEBHOOK_DEFER_MAX = 60
WEBHOOK_RETRY_FOR = 24 * 3600
"""How long a webhook event is retried before it is given up (logged)."""
WEBHOOK_BACKOFF_START = 1
WEBHOOK_BACKOFF_MAX = 600
