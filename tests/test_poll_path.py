"""The poll path's cost in Redis: one script that reads the session (record,
heartbeat and payload together) and steps the session's rate-limit counter for
the token holder, nothing else."""

from __future__ import annotations

import threading
import time

import redis


def commands_during(url: str, action) -> list[str]:
    """The commands sent to ``url``'s database while ``action`` ran (the server
    is shared with other stacks; their databases are left out)."""
    db = int(url.rsplit("/", 1)[1])
    seen: list[str] = []
    ready, marker = threading.Event(), "vf-monitor-end"

    def listen() -> None:
        with redis.Redis.from_url(url).monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if marker in command["command"]:
                    return
                if command.get("db") == db:
                    seen.append(command["command"])

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(5)
    time.sleep(0.1)  # MONITOR is registered once its first reply came back
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
