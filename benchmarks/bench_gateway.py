"""Provider gateway throughput: ours vs raw aiohttp vs a naive sequential loop, in one run.

A fake Clearbit-style Company API runs in a separate process on 127.0.0.1 (aiohttp server) with a
lognormal latency per request and injected faults. Against it, in the same run and on the same
keys (``--items``, default 10,000 domains, each looked up once), each contender is timed
``--repeat`` times, interleaved, and the median run is reported:

- ours: ``enrich_many`` on one ``ProviderChain`` (breaker, rate limit, retries with tenacity,
  metrics), at ``--concurrency`` calls in flight, over each httpx transport: ``aiohttp`` (the
  default ``GatewayClient``), ``httpx-aiohttp`` (``httpx_aiohttp.AiohttpTransport``) and ``httpx``
  (httpcore's pool; on ``--slow-items`` only, it is several times slower);
- raw aiohttp: one ``ClientSession``, the same number of workers, and the minimal retry loop any
  correct client needs (429: sleep Retry-After; 5xx: exponential backoff with full jitter);
- sequential: one ``httpx.Client`` call after another with the same retry loop, on
  ``--sequential-items`` and extrapolated to ``--items`` (labelled so).

Scenarios: ``spec`` (lognormal latency, median 20 ms, sigma 0.5; 1.5 % 5xx; 1 % 429 with
``Retry-After: 0``), ``retry-after-1s`` (the same with ``Retry-After: 1``), ``no-latency`` (no
latency, no faults: the per-call CPU cost decides). The ceiling of a scenario is
``concurrency / mean latency``. Each row also gives the client process's CPU time per item
(``time.process_time``; the server runs in another process), which decides how close to the
ceiling a client can get on a busy machine.

Every round of every contender is recorded (``results.py``) for ``make bench``: wall seconds as
measured (the sequential loop at its own, smaller size, not extrapolated), the client process's
CPU seconds and its peak memory; stage = scenario. After each round the contender must have
answered every item (no failures), and the server must have seen at least one request per item.

    .venv/bin/python benchmarks/bench_gateway.py --items 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import machine_info
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import Recorder, _PeakSampler
from results import Run as Measured

from aicmo.fakes.faults import RandomFaults
from aicmo.fakes.provider_server import FakeProviderServer
from aicmo.settings import GatewaySettings
from aicmo.tasks.gateway import ProviderChain, TransportName, enrich_many, make_client, reset_guards
from aicmo.tasks.providers.company import CompanyHttpProvider

PATH = "/v2/companies/find"
SCENARIOS: dict[str, RandomFaults] = {
    "spec": RandomFaults(p_5xx=0.015, p_429=0.01, retry_after="0", latency_median_s=0.020, latency_sigma=0.5),
    "retry-after-1s": RandomFaults(
        p_5xx=0.015, p_429=0.01, retry_after="1", latency_median_s=0.020, latency_sigma=0.5
    ),
    "no-latency": RandomFaults(),
}
MAX_ATTEMPTS = 4
BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 1.0


@dataclass
class Run:
    """One contender's timed run."""

    name: str
    items: int
    seconds: float
    latencies_s: list[float]
    failed: int
    requests: int
    extrapolated_from: int | None = None
    paired_ratio: float = 1.0
    cpu_s: float = 0.0
    measured: Measured | None = None

    @property
    def cpu_us_per_item(self) -> float:
        """The client process's CPU time per item (the server runs in another process)."""
        return self.cpu_s / (self.extrapolated_from or self.items) * 1e6

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds

    def p(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.latencies_s), q) * 1000)


def machine() -> dict[str, Any]:
    """The machine and the HTTP clients' versions, for the report."""
    return machine_info.machine(aiohttp=aiohttp.__version__, httpx=httpx.__version__)


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))


async def _raw_aiohttp(
    base_url: str, token: str, keys: list[str], concurrency: int
) -> tuple[list[float], int]:
    """Raw aiohttp with a minimal correct retry loop; returns per-item latencies and failures."""
    latencies: list[float] = []
    failed = 0
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=5)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout
    ) as session:
        queue = iter(keys)

        async def worker() -> None:
            nonlocal failed
            for key in queue:
                started = time.perf_counter()
                for attempt in range(1, MAX_ATTEMPTS + 1):
                    try:
                        async with session.get(
                            f"{base_url}{PATH}", params={"domain": key}, headers=headers
                        ) as r:
                            body = await r.read()
                            status = r.status
                            retry_after = r.headers.get("Retry-After")
                    except (aiohttp.ClientError, TimeoutError):
                        await asyncio.sleep(_backoff(attempt))
                        continue
                    if status == 429:
                        await asyncio.sleep(float(retry_after or 0))
                        continue
                    if status >= 500:
                        await asyncio.sleep(_backoff(attempt))
                        continue
                    orjson.loads(body)
                    break
                else:
                    failed += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, failed


async def _ours(
    base_url: str, token: str, keys: list[str], concurrency: int, transport: TransportName
) -> tuple[list[float], int]:
    reset_guards()
    settings = GatewaySettings(
        timeout_s=5,
        max_attempts=MAX_ATTEMPTS,
        backoff_base_s=BACKOFF_BASE_S,
        backoff_max_s=BACKOFF_MAX_S,
        concurrency=concurrency,
    )
    chain = ProviderChain(
        "company_by_domain", [CompanyHttpProvider(base_url, token, settings=settings)], settings=settings
    )
    async with make_client(settings, transport=transport) as client:
        result = await enrich_many(chain, keys, concurrency=concurrency, client=client)
    return [o.elapsed_s for o in result.outcomes], sum(1 for o in result.outcomes if not o.ok)


def _sequential(base_url: str, token: str, keys: list[str]) -> tuple[list[float], int]:
    latencies: list[float] = []
    failed = 0
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5) as client:
        for key in keys:
            started = time.perf_counter()
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    response = client.get(f"{base_url}{PATH}", params={"domain": key})
                except httpx.TransportError:
                    time.sleep(_backoff(attempt))
                    continue
                if response.status_code == 429:
                    time.sleep(float(response.headers.get("Retry-After") or 0))
                    continue
                if response.status_code >= 500:
                    time.sleep(_backoff(attempt))
                    continue
                response.json()
                break
            else:
                failed += 1
            latencies.append(time.perf_counter() - started)
    return latencies, failed


def _timed(
    name: str,
    server: FakeProviderServer,
    keys: list[str],
    call: Callable[[], Any],
    scale_to: int | None = None,
) -> Run:
    before = server.request_count()
    with _PeakSampler() as sampler:
        started = time.perf_counter()
        cpu_started = time.process_time()
        outcome = call()
        latencies, failed = asyncio.run(outcome) if inspect.iscoroutine(outcome) else outcome
        seconds = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
    requests = server.request_count() - before
    measured = Measured(seconds, cpu_s, round(sampler.peak, 1))
    if scale_to is not None:
        return Run(
            name,
            scale_to,
            seconds * scale_to / len(keys),
            latencies,
            failed,
            requests,
            len(keys),
            cpu_s=cpu_s,
            measured=measured,
        )
    return Run(name, len(keys), seconds, latencies, failed, requests, cpu_s=cpu_s, measured=measured)


def run_scenario(
    name: str, faults: RandomFaults, args: argparse.Namespace, rec: Recorder | None = None
) -> list[Run]:
    """Every contender on one scenario, ``args.repeat`` interleaved rounds, median round each.

    ``rec``, when given, receives every round (at the size actually run) and its answer check.
    """
    runs: dict[str, list[Run]] = {}
    answered: dict[str, bool] = {}
    with FakeProviderServer(process=True, random_faults=faults) as server:
        os.environ["AICMO_GATEWAY_PROVIDER_LIMITS"] = json.dumps(
            {"company_http": {"rps": 100_000, "concurrency": args.concurrency}}
        )
        token = server.credentials["company"]
        url = server.base_url
        c = args.concurrency
        for round_no in range(args.repeat):
            keys = [f"r{round_no}-shop-{i}.example.com" for i in range(args.items)]
            slow = keys[: args.slow_items]
            contenders: list[tuple[str, list[str], Callable[[], Any], int | None]] = [
                ("ours (aiohttp, default)", keys, partial(_ours, url, token, keys, c, "aiohttp"), None),
                ("raw aiohttp", keys, partial(_raw_aiohttp, url, token, keys, c), None),
                ("ours (httpx-aiohttp)", keys, partial(_ours, url, token, keys, c, "httpx-aiohttp"), None),
            ]
            if args.slow_items and name != "retry-after-1s":
                contenders.append(
                    ("ours (httpx default)", slow, partial(_ours, url, token, slow, c, "httpx"), None)
                )
            if args.sequential_items and name == "spec":
                seq = keys[: args.sequential_items]
                contenders.append(
                    ("sequential httpx", seq, partial(_sequential, url, token, seq), args.items)
                )
            for label, ks, call, scale in contenders:
                run = _timed(label, server, ks, call, scale)
                runs.setdefault(label, []).append(run)
                if rec is not None and run.measured is not None:
                    role = "ours" if label.startswith("ours") else "peer"
                    rec.add(label, role, name, len(ks), "items", run.measured)
                    answered[label] = (
                        answered.get(label, True) and run.failed == 0 and run.requests >= len(ks)
                    )
                print(
                    f"  [{name} round {round_no + 1}] {label}: {run.items_per_s:,.0f} items/s, "
                    f"p95 {run.p(95):.1f} ms, client CPU {run.cpu_us_per_item:.0f} us/item, failed {run.failed}",
                    flush=True,
                )
    raw_rounds = runs["raw aiohttp"]
    medians = []
    for rs in runs.values():
        median = sorted(rs, key=lambda r: r.items_per_s)[len(rs) // 2]
        # Rounds are interleaved, so a contender and raw aiohttp of the same round saw the same load:
        # the median of the per-round ratios is steadier than a ratio of two medians.
        ratios = sorted(r.items_per_s / raw.items_per_s for r, raw in zip(rs, raw_rounds, strict=True))
        median.paired_ratio = ratios[len(ratios) // 2]
        medians.append(median)
    if rec is not None:
        rec.check(
            f"{name}: every contender answered every item in every round (checked after each round)",
            "no failed item; at least one request per item at the server",
            all(answered.values()),
            ", ".join(f"{k}: {'ok' if v else 'FAILED'}" for k, v in answered.items()),
        )
        for m in medians:
            extra = f" (extrapolated from {m.extrapolated_from:,})" if m.extrapolated_from else ""
            rec.note(
                f"{name}, {m.name}: {m.items_per_s:,.0f} items/s{extra} in the median round, "
                f"{m.paired_ratio:.2f}x raw aiohttp's rate (median of per-round ratios), p95 {m.p(95):.1f} ms, "
                f"client CPU {m.cpu_us_per_item:,.0f} us/item, {m.requests:,} HTTP requests."
            )
        rec.ratio("raw aiohttp", "ours (aiohttp, default)", name, args.items)
        rec.ratio("ours (httpx-aiohttp)", "ours (aiohttp, default)", name, args.items)
    return medians


def report(name: str, faults: RandomFaults, runs: list[Run], concurrency: int) -> str:
    """A markdown table of one scenario."""
    mean_latency = (
        faults.latency_median_s * math.exp(faults.latency_sigma**2 / 2) if faults.latency_median_s else 0
    )
    ceiling = concurrency / mean_latency if mean_latency else None
    lines = [
        f"**{name}** (latency median {faults.latency_median_s * 1000:.0f} ms, sigma {faults.latency_sigma}; "
        f"5xx {faults.p_5xx:.1%}, 429 {faults.p_429:.1%} with Retry-After {faults.retry_after}; "
        f"ceiling {f'{ceiling:,.0f} items/s' if ceiling else 'n/a (no latency)'})",
        "",
        "| contender | items | items/s | vs raw aiohttp (per-round median) | of ceiling | p50 ms | p95 ms | p99 ms "
        "| client CPU µs/item | HTTP requests | failed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        items = f"{r.items:,}" + (
            f" (extrapolated from {r.extrapolated_from:,})" if r.extrapolated_from else ""
        )
        of_ceiling = f"{r.items_per_s / ceiling:.0%}" if ceiling else "-"
        lines.append(
            f"| {r.name} | {items} | {r.items_per_s:,.0f} | {r.paired_ratio:.2f}x | {of_ceiling} "
            f"| {r.p(50):.1f} | {r.p(95):.1f} | {r.p(99):.1f} | {r.cpu_us_per_item:,.0f} | {r.requests:,} | {r.failed} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slow-items", type=int, default=2_000, help="items for the httpx default transport")
    parser.add_argument("--sequential-items", type=int, default=300)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    args = parser.parse_args(argv)
    print(json.dumps(machine()), flush=True)
    rec = Recorder(
        "gateway",
        "Provider gateway throughput: ours vs raw aiohttp vs a sequential loop",
        f"{args.items:,} domains looked up once each per round against a fake Company API in another process, "
        f"{args.concurrency} in flight, {args.repeat} interleaved rounds; stage = fault scenario (spec: "
        "lognormal latency median 20 ms, 1.5% 5xx, 1% 429 with Retry-After 0; retry-after-1s: the same with "
        "Retry-After 1; no-latency: no latency, no faults). Ours: `enrich_many` over a `ProviderChain` per "
        "httpx transport; raw aiohttp: one session and a minimal correct retry loop; sequential httpx runs "
        f"on {args.sequential_items:,} items and httpx's default transport on {args.slow_items:,} (their "
        "own sizes below). CPU is the client process's (the server runs in another).",
        {k: str(v) for k, v in vars(args).items()},
    )
    tables = []
    for name, faults in SCENARIOS.items():
        if args.scenario in (name, "all"):
            runs = run_scenario(name, faults, args, rec)
            tables.append(report(name, faults, runs, args.concurrency))
    print(json.dumps(machine()), flush=True)
    print("\n\n".join(tables))
    rec.save(aiohttp=aiohttp.__version__, httpx=httpx.__version__)


if __name__ == "__main__":
    main()
