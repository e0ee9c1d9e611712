"""The poll path's cost in Redis: one script that reads the session (record,
heartbeat and payload together) and steps the session's rate-limit counter for
the token holder, nothing else."""

from __future__ import annotations

import threading

import redis

from tests.support.processes import wait_for


def commands_during(url: str, action) -> list[str]:
    """The commands sent to ``url``'s database while ``action`` ran (the server
    is shared with other stacks; their databases are left out)."""
    db = int(url.rsplit("/", 1)[1])
    seen: list[str] = []
    listening, start, marker = threading.Event(), "vf-monitor-start", "vf-monitor-end"

    def listen() -> None:
        with redis.Redis.from_url(url).monitor() as monitor:
            for command in monitor.listen():
                if start in command["command"]:
                    listening.set()
                elif marker in command["command"]:
                    return
                elif command.get("db") == db:
                    seen.append(command["command"])

    probe = redis.Redis.from_url(url)
    probe.ping()  # connected (HELLO, SELECT) before MONITOR starts: not in ``seen``
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    # MONITOR is registered once it reports a command: probe until it does.
    wait_for(lambda: probe.get(start) is None and listening.wait(0.05), timeout=5,
             what="MONITOR to report a command")
    action()
    redis.Redis.from_url(url).get(marker)  # on the same database: ends the listening
    thread.join(5)
    return seen


def test_a_poll_is_one_round_trip(api):
    session = api.waiting()
    api.status(session)  # scripts loaded
    seen = commands_during(api.settings.redis_url, lambda: api.status(session))
    # MONITOR also shows the commands a script runs; the round trips are its calls.
    round_trips = [c for c in seen if c.split()[0].upper() in ("EVALSHA", "EVAL")]
    # The marker's own connection says HELLO and SELECT; the rest is the poll.
    inside = ("HGETALL", "HGET", "HSET", "EXISTS", "INCRBY", "EXPIRE")  # HSET: polled_at
    others = [c for c in seen if not c.upper().startswith(("EVALSHA", "EVAL", "HELLO", "SELECT",
                                                           *inside))]
    assert len(round_trips) == 1, seen
    assert others == [], others
    assert ":limit" in round_trips[0]  # the limit lives under VF_KEY_PREFIX
    steps = [c for c in seen if c.upper().startswith("INCRBY")]
    assert len(steps) == 1 and ":limit/poll/" in steps[0], seen
