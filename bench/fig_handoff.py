"""Figure 2: code handoff, ``POST …/code`` until the CLI has the code.

The simulator runs with ``--stamp-codes``: it appends the wall-clock time each
pasted line reaches it to ``$HOME/code-received``. The bench takes the time
just before the POST, so one sample is API + Redis list + the owning worker's
BLPOP wake-up + the write into the CLI's PTY. The pasted code lacks the ``#``,
so the CLI re-prompts and the same session takes the next one (the attempt cap
is lifted for the run). The ceiling is the POST's own round trip.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from bench.common import SIMULATOR, HttpClient, Lab, Options, summary, wait_for


def _stamps(path: Path) -> list[float]:
    try:
        return [float(line) for line in path.read_text().split()]
    except FileNotFoundError:
        return []


def run(lab: Lab, opts: Options) -> dict[str, Any]:
    codes = opts.pick(100, 15)
    handoff, post = [], []
    with lab.stack("handoff", db=8, login_command=f"{sys.executable} {SIMULATOR} --stamp-codes",
                   env={"VF_MAX_CODE_ATTEMPTS": "1000000"}) as stack:
        client = HttpClient(stack)
        session = client.create()
        client.wait_state(session, "awaiting_code")
        (home,) = list(stack.work_dir.iterdir())
        receipt = home / "code-received"
        for i in range(codes + 1):  # the first one warms the path up
            seen = len(_stamps(receipt))
            started = time.time()
            response = client.call("POST", session, "/code", json={"code": "not-a-full-code"})
            answered = time.time()
            if response.status_code != 202:
                raise RuntimeError(f"code {i}: {response.status_code} {response.text[:200]}")
            stamps = wait_for(lambda n=seen: _stamps(receipt)[n:], timeout=10, interval=0.002,
                              what="the simulator's receipt")
            if i:
                handoff.append(stamps[0] - started)
                post.append(answered - started)
            client.wait_state(session, "awaiting_code", interval=0.005)
        client.call("DELETE", session)
    result = {"codes": codes, "handoff": summary(handoff), "post_round_trip": summary(post)}
    print(f"  handoff p50 {result['handoff']['p50_ms']} ms, p99 {result['handoff']['p99_ms']} ms"
          f" (POST alone p50 {result['post_round_trip']['p50_ms']} ms)", flush=True)
    return result
