"""Failover latency: time to an answer when the primary provider is down, per failover policy.

Two Clearbit-style Company APIs run as separate processes on 127.0.0.1 (``FakeProviderServer``);
the backup answers every lookup after a fixed ``--backup-latency-ms`` (20 ms by default). The
primary is down in one of four ways:

- ``refused``: nobody listens on its port (connection refused at once);
- ``5xx``: it answers 503 after 20 ms, every time;
- ``timeout``: it accepts the request and never answers (the 5 s idle timeout fires);
- ``breaker open``: it is refused, and its circuit breaker is already open (the steady state a few
  lookups after it went down).

A ``healthy`` row (the primary answers after the same 20 ms) is the baseline. Each lookup is one
``ProviderChain.call`` with the default ``GatewaySettings`` (timeouts, 4 attempts, 0.2-10 s
full-jitter backoff, 30 s per lookup) except for ``failover_policy`` (and ``hedge_after_s``), timed
from the call to the answer; the guards (breakers) are reset before each lookup so that every
sample is the first lookup after the failure (``breaker open`` trips the breaker first). Each
lookup's answer is checked: found, by the backup (by the primary when healthy), with the
expected number of requests at the primary. Every lookup's wall and CPU seconds (this process:
the chain and its client; the servers run in their own processes) and peak memory are recorded
(``results.py``) for ``make bench``: contender = policy, stage = scenario, size = one lookup.

    .venv/bin/python benchmarks/bench_failover.py --samples 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import machine_info

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import Recorder, Run, _PeakSampler

from aicmo.fakes.faults import RandomFaults
from aicmo.fakes.provider_server import LOCAL_LIMITS, FakeProviderServer
from aicmo.settings import GatewaySettings, ProviderLimit
from aicmo.tasks.gateway import ProviderChain, make_client, reset_guards
from aicmo.tasks.providers.company import CompanyHttpProvider

SCENARIOS = ("healthy", "refused", "5xx", "timeout", "breaker open")
POLICIES: dict[str, dict[str, object]] = {
    "retry (default)": {"failover_policy": "retry"},
    "fail_fast": {"failover_policy": "fail_fast"},
    "hedged (0.1 s)": {"failover_policy": "hedged", "hedge_after_s": 0.1},
    "hedged (0.05 s)": {"failover_policy": "hedged", "hedge_after_s": 0.05},
}
PATH_KEY = "stripe.com"


class BackupCompanyProvider(CompanyHttpProvider):
    """The second provider of the chain (another server)."""

    name = "company_backup"


@dataclass
class Row:
    """One scenario under one policy: time to answer of each lookup, and requests at the primary."""

    scenario: str
    policy: str
    seconds: list[float]
    primary_requests: list[int]
    runs: list[Run] = field(default_factory=list)

    def cell(self) -> str:
        ms = sorted(s * 1000 for s in self.seconds)
        return f"{statistics.median(ms):,.0f} ({ms[0]:,.0f}-{ms[-1]:,.0f})"


def refused_url() -> str:
    """A port on 127.0.0.1 nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def primaries(latency_s: float) -> Iterator[dict[str, FakeProviderServer | str]]:
    """The primary of each scenario: a server (healthy, 5xx, silent) or a refused URL."""
    with ExitStack() as stack:
        healthy = stack.enter_context(
            FakeProviderServer(
                process=True, random_faults=RandomFaults(latency_median_s=latency_s, latency_sigma=0)
            )
        )
        failing = stack.enter_context(
            FakeProviderServer(
                process=True,
                random_faults=RandomFaults(p_5xx=1.0, latency_median_s=latency_s, latency_sigma=0),
            )
        )
        silent = stack.enter_context(
            FakeProviderServer(
                process=True, random_faults=RandomFaults(latency_median_s=3600, latency_sigma=0)
            )
        )
        refused = refused_url()
        yield {
            "healthy": healthy,
            "refused": refused,
            "5xx": failing,
            "timeout": silent,
            "breaker open": refused,
        }


async def lookup(
    primary_url: str, backup: FakeProviderServer, settings: GatewaySettings, *, trip: bool
) -> tuple[Run, str | None, int]:
    """One lookup on fresh guards; returns its run (seconds to the answer), who answered, primary attempts."""
    reset_guards()
    secret = backup.credentials["company"]
    chain = ProviderChain(
        "company_by_domain",
        [
            CompanyHttpProvider(primary_url, secret, settings=settings),
            BackupCompanyProvider(backup.base_url, secret, settings=settings),
        ],
        settings=settings,
    )
    if trip:
        breaker = chain.providers[0].guard.breaker
        for _ in range(breaker.failure_threshold):
            breaker.record_failure()
    async with make_client(settings) as client:
        await client.get(f"{backup.base_url}/_fake/stats")  # warm the pool's connection to the backup
        with _PeakSampler() as sampler:
            cpu0 = time.process_time()
            started = time.perf_counter()
            outcome = await chain.call(PATH_KEY, client)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu0
    if not (outcome.ok and outcome.found):
        raise SystemExit(f"lookup failed: {outcome.error}")
    run = Run(seconds, cpu, round(sampler.peak, 1))
    return run, outcome.provider, chain.metrics["company_http"].calls


def run(args: argparse.Namespace) -> list[Row]:
    """Every scenario under every policy, ``args.samples`` lookups each (fewer for slow ones)."""
    limits = {**{k: ProviderLimit(**v) for k, v in LOCAL_LIMITS.items()}}
    limits["company_backup"] = limits["company_http"]
    latency_s = args.backup_latency_ms / 1000
    rows: list[Row] = []
    backup_faults = RandomFaults(latency_median_s=latency_s, latency_sigma=0)
    with (
        FakeProviderServer(process=True, random_faults=backup_faults) as backup,
        primaries(latency_s) as prim,
    ):
        for scenario in SCENARIOS:
            for policy, knobs in POLICIES.items():
                settings = GatewaySettings(provider_limits=limits, **knobs)  # type: ignore[arg-type]
                target = prim[scenario]
                url = target if isinstance(target, str) else target.base_url
                slow = scenario == "timeout" and knobs["failover_policy"] != "hedged"
                samples = args.slow_samples if slow else args.samples
                if scenario == "timeout" and knobs["failover_policy"] == "retry":
                    samples = args.retry_timeout_samples
                row = Row(scenario, policy, [], [])
                for _ in range(samples):
                    one, provider, primary_calls = asyncio.run(
                        lookup(url, backup, settings, trip=scenario == "breaker open")
                    )
                    expected = "company_http" if scenario == "healthy" else "company_backup"
                    hedged_early = scenario == "healthy" and knobs["failover_policy"] == "hedged"
                    if provider != expected and not hedged_early:  # a slow healthy answer may be hedged
                        raise SystemExit(f"{scenario}/{policy}: answered by {provider}, expected {expected}")
                    row.seconds.append(one.seconds)
                    row.runs.append(one)
                    row.primary_requests.append(primary_calls)
                print(
                    f"  {scenario:>12} | {policy:<16} | {row.cell()} ms | primary attempts "
                    f"{sorted(set(row.primary_requests))}",
                    flush=True,
                )
                rows.append(row)
    return rows


def report(rows: list[Row]) -> str:
    """A markdown table: scenarios down, policies across, median (min-max) ms."""
    policies = list(POLICIES)
    lines = [
        "| primary | " + " | ".join(policies) + " |",
        "| --- | " + " | ".join("---:" for _ in policies) + " |",
    ]
    for scenario in SCENARIOS:
        cells = []
        for policy in policies:
            row = next(r for r in rows if r.scenario == scenario and r.policy == policy)
            attempts = sorted(set(row.primary_requests))
            tries = "/".join(str(a) for a in attempts)
            cells.append(f"{row.cell()}, n={len(row.seconds)}, {tries} at primary")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def record(rows: list[Row], args: argparse.Namespace) -> Recorder:
    """The recorder of this benchmark: one record per policy and scenario, every lookup a run."""
    rec = Recorder(
        "failover",
        "Failover: time to an answer when the primary is down, per policy",
        "One lookup is one `ProviderChain.call` over two fake Company API servers (separate processes on "
        f"127.0.0.1; the backup answers after {args.backup_latency_ms:g} ms), timed from the call to the "
        "answer, on fresh breakers (breaker open: tripped first). Default `GatewaySettings` except the "
        "failover policy. Columns are how the primary is down; CPU is this process's (the chain's).",
        {k: str(v) for k, v in vars(args).items()},
    )
    for row in rows:
        for run in row.runs:
            rec.add(row.policy, "ours", row.scenario, 1, "lookup", run)
    rec.check(
        "every timed lookup found the company, answered by the backup (by the primary when healthy; "
        "a hedged healthy lookup may be answered by either)",
        "exact",
        True,
        f"checked on each of {sum(len(r.runs) for r in rows)} lookups as it was made (a wrong answer "
        "stops the benchmark)",
    )
    attempts = {f"{r.scenario}/{r.policy}": sorted(set(r.primary_requests)) for r in rows}
    rec.note("Requests at the primary per lookup (scenario/policy: values seen): " + json.dumps(attempts))
    for scenario in SCENARIOS[1:]:
        for policy in list(POLICIES)[1:]:
            rec.ratio("retry (default)", policy, scenario, 1)
    return rec


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=7, help="lookups per scenario and policy")
    parser.add_argument("--slow-samples", type=int, default=5, help="lookups that wait for the idle timeout")
    parser.add_argument("--retry-timeout-samples", type=int, default=3, help="retry policy, silent primary")
    parser.add_argument("--backup-latency-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    print(json.dumps(machine_info.machine(aiohttp=aiohttp.__version__, httpx=httpx.__version__)), flush=True)
    load_start = [round(x, 2) for x in os.getloadavg()]
    rows = run(args)
    print(json.dumps(machine_info.machine(aiohttp=aiohttp.__version__, httpx=httpx.__version__)), flush=True)
    print(report(rows))
    rec = record(rows, args)
    rec.load_start = load_start  # the load when the lookups began, not when they were recorded
    rec.save(aiohttp=aiohttp.__version__, httpx=httpx.__version__)


if __name__ == "__main__":
    main()
