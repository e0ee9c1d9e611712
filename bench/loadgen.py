"""An open-loop HTTP load client at a fixed request rate (wrk2 is not packaged).

    python -m bench.loadgen URL --rate 500 --duration 10 [--header 'Name: value']

Request ``i`` is due at ``start + i / rate`` whatever happened to the ones
before it; its latency runs from when it was due to the last byte of its
answer, so a slow server cannot hide its queue (no coordinated omission).
Keep-alive connections are reused when the server allows it, opened as needed
otherwise. Prints one JSON object: requests, achieved rate, non-200 answers,
latency percentiles, and how late the client itself sent (its own share).
Loopback only: the URL must be http://127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer


async def _exchange(conn: Conn, raw: bytes, idle: list[Conn]) -> int:
    conn.writer.write(raw)
    head = await conn.reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if line)}
    await conn.reader.readexactly(int(headers.get("content-length", "0")))
    if headers.get("connection", "").lower() == "close":
        conn.writer.close()
    else:
        idle.append(conn)
    return status


async def _request(host: str, port: int, raw: bytes, idle: list[Conn]) -> int:
    """One request; on a reused connection the server may have closed meanwhile
    (keep-alive timeout), so a failure there is retried once on a new one, as
    browsers do."""
    if idle:
        conn = idle.pop()
        try:
            return await _exchange(conn, raw, idle)
        except (OSError, asyncio.IncompleteReadError):
            conn.writer.close()
    conn = Conn(*await asyncio.open_connection(host, port))
    return await _exchange(conn, raw, idle)


async def run(url: str, rate: float, duration: float, headers: list[str]) -> dict[str, object]:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        raise SystemExit("loadgen only targets http://127.0.0.1")
    host, port = parts.hostname, parts.port or 80
    extra = "".join(f"{h}\r\n" for h in headers)
    raw = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
           "Connection: keep-alive\r\n\r\n").encode()
    idle: list[Conn] = []
    latencies: list[float] = []
    lateness: list[float] = []
    statuses: dict[int, int] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def one(due: float) -> None:
        lateness.append(time.perf_counter() - due)
        try:
            status = await _request(host, port, raw, idle)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status = 0
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1

    total = int(rate * duration)
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for conn in idle:
        conn.writer.close()
    latencies.sort()
    lateness.sort()

    def pct(values: list[float], p: float) -> float:
        return round(values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000, 2)

    return {"target_rate": rate, "requests": total, "achieved_rate": round(total / elapsed, 1),
            "non_200": total - statuses.get(200, 0), "statuses": statuses,
            "p50_ms": pct(latencies, 50), "p90_ms": pct(latencies, 90),
            "p99_ms": pct(latencies, 99), "max_ms": round(latencies[-1] * 1000, 2),
            "client_late_p99_ms": pct(lateness, 99)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.rate, args.duration, args.header))))


if __name__ == "__main__":
    main()
