"""Tracking service throughput: open pixel, click redirect and a webhook beside an empty endpoint.

The service runs in its own process (uvicorn, one worker, durability on: every answered event is
fsync'd to the spool first, and the flusher writes the lake meanwhile). Beside its endpoints, the
same FastAPI app on the same server serves ``GET /empty`` (the same GIF bytes, nothing recorded):
the framework's ceiling on this machine. An aiohttp client in this process keeps ``--concurrency``
requests in flight; each round sends ``--requests`` requests to each endpoint in turn, rounds are
interleaved, and the table shows each endpoint's median round and its ratio to the empty endpoint
of the same round. Before timing, each endpoint's answer is checked (the pixel's bytes equal the
empty endpoint's, the click redirects to its signed URL, the webhook accepts its event); after
timing, the spool is drained and every acknowledged event is counted in the lake, exactly once.

``--crash-cycles N`` then runs the bigger crash test: N cycles of sustained traffic (pixels with
one contact id each, Mailgun webhooks each delivered twice) during which the server is killed
with SIGKILL at a random moment and restarted on the same spool; at the end every acknowledged
event must be in the lake exactly once.

Every round is recorded (``results.py``) for ``make bench``: its wall seconds, and the server
process's CPU seconds during the round and its peak resident memory so far (from ``/proc``), the
server being what is measured; the client runs in this process.

    .venv/bin/python benchmarks/bench_tracking.py --requests 5000 --rounds 3 --concurrency 32 --crash-cycles 5
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import machine_info
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import Recorder, Run, peer_versions

KEY = "bench-tracking-key-0123456789"
MAILGUN_KEY = "bench-mailgun-signing-key"
ENDPOINTS = ("empty", "open", "click", "mailgun")


def serve(home: Path, port_file: Path) -> None:
    """The server role: the tracking app with /empty, on 127.0.0.1, port written to ``port_file``."""
    import uvicorn
    from pydantic import SecretStr

    from aicmo.settings import Settings, TrackingSettings
    from aicmo.storage.db import make_engine
    from aicmo.storage.lake import Lake
    from aicmo.storage.migrate import upgrade
    from aicmo.tasks.tracking.service import create_app

    engine = make_engine(f"sqlite:///{home / 'aicmo.db'}")
    upgrade(engine)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    tracking = TrackingSettings(
        base_url=f"http://127.0.0.1:{port}",
        keys=[SecretStr(KEY)],
        spool_dir=home / "spool",
        mailgun_signing_key=SecretStr(MAILGUN_KEY),
    )
    app = create_app(
        Settings(home=home, tracking=tracking),
        engine=engine,
        lake=Lake(str(home / "lake")),
        empty_endpoint=True,
    )
    port_file.write_text(str(port))
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, backlog=4096)).run(
        sockets=[sock]
    )


@dataclass
class Round:
    """One endpoint's timed batch."""

    endpoint: str
    seconds: float
    latencies_s: list[float]
    ok: int
    failed: int

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def _mailgun_body(i: int, event_id: str | None = None) -> bytes:
    stamp, token = str(int(time.time())), uuid.uuid4().hex + uuid.uuid4().hex[:18]
    signature = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": stamp, "token": token, "signature": signature},
            "event-data": {"event": "opened", "id": event_id or f"bench-{uuid.uuid4().hex}", "timestamp": time.time(),
                           "recipient": f"r{i}@example.com", "client-info": {"user-agent": "Mozilla/5.0 (X11)"},
                           "user-variables": {"aicmo_campaign_id": "1", "aicmo_contact_id": str(i)}},
        }
    ).encode()  # fmt: skip


def _requests(endpoint: str, n: int) -> list[tuple[str, str, bytes | None]]:
    from aicmo.tasks.tracking.tokens import CLICK, OPEN, TokenSigner, TrackingToken

    signer = TokenSigner([KEY])
    issued = int(time.time()) - 3600
    out: list[tuple[str, str, bytes | None]] = []
    for i in range(n):
        if endpoint == "empty":
            out.append(("GET", "/empty", None))
        elif endpoint == "open":
            out.append(
                ("GET", f"/o/{signer.sign(TrackingToken(OPEN, 1, i, 'email', None, issued))}.gif", None)
            )
        elif endpoint == "click":
            token = signer.sign(TrackingToken(CLICK, 1, i, "email", f"https://example.com/p/{i % 7}", issued))
            out.append(("GET", f"/c/{token}", None))
        else:
            out.append(("POST", "/webhooks/mailgun", _mailgun_body(i)))
    return out


async def _run(
    url: str, endpoint: str, requests: list[tuple[str, str, bytes | None]], concurrency: int
) -> Round:
    latencies: list[float] = []
    failed = 0
    queue = list(reversed(requests))
    headers = {
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        "Content-Type": "application/json",
    }
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failed
        while queue:
            method, path, body = queue.pop()
            started = time.perf_counter()
            async with session.request(
                method, url + path, data=body, headers=headers, allow_redirects=False
            ) as r:
                await r.read()
                if r.status in (200, 302):
                    latencies.append(time.perf_counter() - started)
                else:
                    failed += 1

    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Round(endpoint, seconds, latencies, len(latencies), failed)


def _server_cpu_and_peak(pid: int) -> tuple[float, float]:
    """A process's CPU seconds (user + system) and resident-set high-water mark in MB, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        status = Path(f"/proc/{pid}/status").read_text()
        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return cpu, int(hwm.split()[1]) / 1024
    except (OSError, StopIteration, IndexError, ValueError):
        return 0.0, 0.0


async def _check(url: str) -> None:
    """Each endpoint answers what it should before anything is timed."""
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/empty") as r:
            empty = await r.read()
        _, path, _ = _requests("open", 1)[0]
        async with session.get(url + path) as r:
            assert r.status == 200 and await r.read() == empty, "the pixel differs from the empty endpoint's"
        _, path, _ = _requests("click", 1)[0]
        async with session.get(url + path, allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "https://example.com/p/0"
        _, path, body = _requests("mailgun", 1)[0]
        async with session.post(url + path, data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 200 and (await r.json())["events"] == 1


def _wait_drained(url: str, timeout_s: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if httpx.get(url + "/healthz").json()["queue_depth"] == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("the spool did not drain")


def _start(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server role on ``home``; returns the process and its URL once /healthz answers."""
    import httpx

    port_file = home / f"port-{time.monotonic_ns()}"
    env = {**os.environ, "AICMO_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(home), str(port_file)], env=env)
    while True:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        if port_file.exists() and port_file.read_text():
            url = f"http://127.0.0.1:{port_file.read_text()}"
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
        time.sleep(0.1)


async def _crash_traffic(url: str, first_id: int, seconds: float, concurrency: int, acked: set[int]) -> int:
    """Pixels (even ids) and doubly delivered Mailgun webhooks (odd ids) until the time is up or the
    server is gone; returns how many ids were tried."""
    from aicmo.tasks.tracking.tokens import OPEN, TokenSigner, TrackingToken

    signer = TokenSigner([KEY])
    next_id = first_id
    deadline = time.monotonic() + seconds
    down = False

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_id, down
        while time.monotonic() < deadline and not down:
            i, next_id = next_id, next_id + 1
            try:
                if i % 2 == 0:
                    token = signer.sign(TrackingToken(OPEN, 2, i, "email", None, None))
                    async with session.get(f"{url}/o/{token}.gif") as r:
                        ok = r.status == 200
                else:
                    statuses = []
                    for _ in range(2):
                        async with session.post(f"{url}/webhooks/mailgun", data=_mailgun_body(i, f"crash-{i}"),
                                                headers={"Content-Type": "application/json"}) as r:  # fmt: skip
                            statuses.append(r.status)
                    ok = 200 in statuses
            except (TimeoutError, aiohttp.ClientError):
                down = True
                continue
            if ok:
                acked.add(i)

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout
    ) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return next_id - first_id


def crash_run(cycles: int, seconds: float, concurrency: int) -> bool:
    """Traffic with kill -9 and restarts; True when the lake holds every acknowledged event exactly once."""
    from aicmo.storage.lake import Lake

    home = Path(tempfile.mkdtemp(prefix="bench-tracking-crash-"))
    rng = random.Random(5)
    acked: set[int] = set()
    tried = 0
    started = time.perf_counter()
    for _ in range(cycles):
        proc, url = _start(home)

        async def cycle(proc: subprocess.Popen[bytes] = proc, url: str = url, first: int = tried) -> int:
            traffic = asyncio.create_task(_crash_traffic(url, first, seconds, concurrency, acked))
            await asyncio.sleep(rng.uniform(seconds * 0.3, seconds * 0.9))
            proc.send_signal(signal.SIGKILL)
            return await traffic

        tried += asyncio.run(cycle())
        proc.wait()
    proc, url = _start(home)
    _wait_drained(url)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    events = Lake(str(home / "lake")).scan("events").collect()
    ids = events.get_column("contact_id")
    missing = acked - set(ids.to_list())
    doubled = int(ids.is_duplicated().sum())
    print(
        f"crash run: {cycles} kill -9 cycles in {time.perf_counter() - started:.0f} s, {tried:,} ids tried, "
        f"{len(acked):,} acknowledged, {events.height:,} in the lake, {len(missing)} missing, {doubled} doubled"
    )
    return not missing and doubled == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000, help="requests per endpoint per round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (0: crash run only)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--crash-cycles", type=int, default=0, help="then kill -9 cycles under load (0: none)"
    )
    parser.add_argument("--crash-seconds", type=float, default=5.0, help="traffic per crash cycle")
    parser.add_argument("--serve", nargs=2, metavar=("HOME", "PORT_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]))
        return 0
    if args.rounds > 0 and throughput_run(args) != 0:
        return 1
    if args.crash_cycles and not crash_run(args.crash_cycles, args.crash_seconds, args.concurrency):
        print("MISMATCH after the crash cycles", file=sys.stderr)
        return 1
    return 0


def throughput_run(args: argparse.Namespace) -> int:
    """The timed rounds against the empty endpoint; 0 when the lake matches what was acknowledged."""
    import fastapi
    import uvicorn

    from aicmo.storage.lake import Lake

    home = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    port_file = home / "port"
    env = {**os.environ, "AICMO_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(home), str(port_file)], env=env)
    try:
        while not (port_file.exists() and port_file.read_text()):
            if proc.poll() is not None:
                raise RuntimeError("the server exited")
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        import httpx

        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        rec = Recorder(
            "tracking",
            "Tracking service: open pixel, click redirect and a webhook beside an empty endpoint",
            f"{args.requests:,} requests per endpoint per round, {args.rounds} interleaved rounds, "
            f"{args.concurrency} in flight from an aiohttp client, against one uvicorn worker with durability "
            "on (every answered event fsync'd to the spool first). `empty` is the same app serving the same "
            "GIF bytes and recording nothing: the framework's ceiling. CPU and peak memory are the server "
            "process's (CPU during the round; peak resident memory since it started).",
            {k: str(v) for k, v in vars(args).items() if k != "serve"},
        )
        try:
            asyncio.run(_check(url))
            passed, detail = True, "pixel bytes equal the empty endpoint's; click 302 to its URL; webhook 200"
        except AssertionError as exc:
            passed, detail = False, str(exc)
        rec.check("each endpoint's answer before timing", "exact", passed, detail)
        rounds: dict[str, list[Round]] = {e: [] for e in ENDPOINTS}
        for _ in range(args.rounds):
            for endpoint in ENDPOINTS:
                batch = _requests(endpoint, args.requests)
                cpu0, _ = _server_cpu_and_peak(proc.pid)
                one = asyncio.run(_run(url, endpoint, batch, args.concurrency))
                cpu1, peak = _server_cpu_and_peak(proc.pid)
                rounds[endpoint].append(one)
                role = "floor" if endpoint == "empty" else "ours"
                run = Run(one.seconds, cpu1 - cpu0, round(peak, 1))
                rec.add(endpoint, role, "round", args.requests, "requests", run)
        _wait_drained(url)
        acknowledged = 3 + sum(r.ok for e in ENDPOINTS if e != "empty" for r in rounds[e])
        events = Lake(str(home / "lake")).scan("events").collect()
        duplicates = int(events.get_column("event_id").is_duplicated().sum())
        info = machine_info.machine(
            fastapi=fastapi.__version__, uvicorn=uvicorn.__version__, aiohttp=aiohttp.__version__
        )
        print(machine_info.describe(info), f"load {info['load_avg']}")
        print(
            f"{args.requests} requests per endpoint per round, {args.rounds} rounds, {args.concurrency} in flight"
        )
        print("| endpoint | req/s (median round) | range | of ceiling | p50 ms | p99 ms | failed |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for endpoint in ENDPOINTS:
            rs = rounds[endpoint]
            rates = [r.rate for r in rs]
            ratios = [r.rate / e.rate for r, e in zip(rs, rounds["empty"], strict=True)]
            lat = np.array([x for r in rs for x in r.latencies_s]) * 1000
            print(
                f"| {endpoint} | {statistics.median(rates):,.0f} | {min(rates):,.0f}-{max(rates):,.0f} | "
                f"{statistics.median(ratios):.0%} | {np.percentile(lat, 50):.1f} | {np.percentile(lat, 99):.1f} | "
                f"{sum(r.failed for r in rs)} |"
            )
        print(f"acknowledged events {acknowledged:,}; in the lake {events.height:,}; duplicates {duplicates}")
        failed = {e: sum(r.failed for r in rounds[e]) for e in ENDPOINTS}
        for endpoint in ENDPOINTS:
            rs = rounds[endpoint]
            share = statistics.median(r.rate / e.rate for r, e in zip(rs, rounds["empty"], strict=True))
            lat = np.array([x for r in rs for x in r.latencies_s]) * 1000
            rec.note(
                f"{endpoint}: {statistics.median(r.rate for r in rs):,.0f} req/s (median round), "
                f"{share:.0%} of the empty endpoint's rate in the same round; latency p50 "
                f"{np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms; {failed[endpoint]} failed."
            )
        lake_ok = events.height == acknowledged and not duplicates
        if not lake_ok:
            print("MISMATCH between acknowledged events and the lake", file=sys.stderr)
        else:
            rec.check(
                "after timing: every acknowledged event in the lake, exactly once",
                "exact",
                True,
                f"{acknowledged:,} acknowledged, {events.height:,} in the lake, {duplicates} duplicates",
            )
            rec.save(**peer_versions("fastapi", "uvicorn", "aiohttp"))
        return 0 if lake_ok else 1
    finally:
        proc.terminate()
        proc.wait(timeout=120)


if __name__ == "__main__":
    sys.exit(main())
