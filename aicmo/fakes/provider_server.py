"""One local HTTP server on 127.0.0.1 that speaks Stripe, GitHub, OpenWeather and a Clearbit-style
Company API, with faults on demand (see ``faults.FaultPlan``).

Use it as a context manager (a background thread with its own event loop, ephemeral port)::

    with FakeProviderServer() as server:
        os.environ.update(server.settings_env())
        server.faults.rate_limit("github.search", retry_after="1")
        ...
        server.request_count("company.find")

``FakeProviderServer(process=True, random_faults=...)`` runs it in a separate process instead,
so that a benchmark's client and server do not share one CPU; ``python -m
aicmo.fakes.provider_server`` runs it in the foreground.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import Engine

from aicmo.fakes.background import BackgroundLoop
from aicmo.fakes.data import (
    DEFAULT_STRIPE_EMAILS,
    StripeData,
    cities,
    company_for,
    github_search,
    github_user,
)
from aicmo.fakes.faults import Fault, FaultPlan, RandomFaults

# Dummy credentials the server accepts (they are not secrets; tests use them to check masking).
CREDENTIALS = {
    "stripe": "sk_test_fake_51Hx9mQ2eZvKYlo2C0ffee4242",
    "github": "ghp_fakeToken0123456789abcdefABCDEF0001",
    "openweather": "owm-fake-4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90",
    "company": "sk_fake_company_9f8e7d6c5b4a39281706",
}
# Generous client limits for local runs (the real APIs' published limits would throttle a demo).
LOCAL_LIMITS = {
    name: {"rps": 5000, "concurrency": 64}
    for name in ("stripe", "github", "openweather", "company_http", "company_offline")
}
MALFORMED = b'{"name": "Acme", "domain": "acme.com", "metrics": {"employees": 12'
TRICKLE_KEY = web.RequestKey("trickle_interval_s", float)
HTML_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


async def _trickle(request: web.Request, response: web.Response, interval_s: float) -> web.StreamResponse:
    """Send ``response`` with its headers at once and its body one byte every ``interval_s``."""
    body = response.body if isinstance(response.body, bytes) else b""
    slow = web.StreamResponse(status=response.status, headers=response.headers)
    slow.content_length = len(body)
    await slow.prepare(request)
    try:
        for index in range(len(body)):
            await slow.write(body[index : index + 1])
            await asyncio.sleep(interval_s)
        await slow.write_eof()
    except (ConnectionError, RuntimeError):  # the client gave up: that is the point of the fault
        pass
    return slow


def _error_body(api: str, status: int, message: str) -> Any:
    if api == "stripe":
        kind = {401: "invalid_request_error", 429: "rate_limit_error"}.get(status, "api_error")
        return {"error": {"type": kind, "message": message}}
    if api == "openweather":
        return {"cod": status, "message": message}
    if api == "company":
        return {"error": {"type": "server_error" if status >= 500 else "request_error", "message": message}}
    return {"message": message, "documentation_url": "https://docs.github.com/rest"}


class _GitHubWindow:
    """GitHub's primary rate-limit window: remaining calls and the reset time (epoch seconds)."""

    def __init__(self, limit: int = 5000, window_s: float = 3600.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self.remaining = limit
        self.reset_at = time.time() + window_s

    def take(self) -> tuple[bool, dict[str, str]]:
        now = time.time()
        if now >= self.reset_at:
            self.remaining = self.limit
            self.reset_at = now + self.window_s
        allowed = self.remaining > 0
        if allowed:
            self.remaining -= 1
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(self.reset_at + 0.999)),
            "X-RateLimit-Resource": "search",
        }
        return allowed, headers


_TRUNCATE = web.RequestKey("truncate", bool)  # a fault asked for this answer's body to be cut


class FakeProviderApp:
    """The aiohttp application: routes, auth checks, fault injection, request counts."""

    def __init__(self, stripe: StripeData, faults: FaultPlan, credentials: dict[str, str]) -> None:
        self.stripe = stripe
        self.faults = faults
        self.credentials = credentials
        self.counts: Counter[str] = Counter()
        self.cursors: dict[str, list[str]] = {}  # route -> starting_after of each list request
        self.github_window = _GitHubWindow()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.app = web.Application(middlewares=[self._track_in_flight])
        self.app.add_routes(
            [
                web.get("/v1/customers", self.stripe_customers),
                web.get("/v1/charges", self.stripe_charges),
                web.get("/v1/payment_intents", self.stripe_payment_intents),
                web.get("/search/users", self.github_search),
                web.get("/users/{login}", self.github_user),
                web.get("/data/2.5/weather", self.weather),
                web.get("/v2/companies/find", self.company_find),
                web.get("/_fake/stats", self.stats),
            ]
        )

    # ---- plumbing -------------------------------------------------------------------------------
    @web.middleware
    async def _track_in_flight(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            response: web.StreamResponse = await handler(request)
            interval = request.get(TRICKLE_KEY)
            if interval is not None and isinstance(response, web.Response):
                return await _trickle(request, response, interval)
            return response
        finally:
            self.in_flight -= 1

    async def _inject(
        self, request: web.Request, route: str, api: str, key: str
    ) -> web.StreamResponse | None:
        self.counts[route] += 1
        self.counts["total"] += 1
        fault, latency = self.faults.take(route, key)
        if latency:
            await asyncio.sleep(latency)
        if fault is None:
            return None
        return await self._apply(request, fault, api)

    async def _apply(self, request: web.Request, fault: Fault, api: str) -> web.StreamResponse | None:
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
            return None
        if fault.kind == "trickle":  # the real answer, sent slowly by the middleware
            request[TRICKLE_KEY] = fault.delay_s
            return None
        if fault.kind == "status":
            return _json(
                _error_body(api, fault.status, "injected failure"), fault.status, fault.headers or None
            )
        if fault.kind == "rate_limit":
            headers = dict(fault.headers)
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            return _json(_error_body(api, 429, "Too many requests"), 429, headers)
        if fault.kind == "malformed":
            return web.Response(body=MALFORMED, content_type="application/json")
        if fault.kind == "truncated":
            request[_TRUNCATE] = True  # the handler answers, then the body is cut
            return None
        if fault.kind == "wrong_content_type":
            return web.Response(body=HTML_PAGE, content_type="text/html")
        if fault.kind == "reset":
            body = orjson.dumps({"padding": "x" * 2048})
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 3])
            if request.transport is not None:
                request.transport.abort()
            return response
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _bearer_ok(self, request: web.Request, api: str) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.credentials[api]}"

    def _stripe_auth(self, request: web.Request) -> web.Response | None:
        if self._bearer_ok(request, "stripe"):
            return None
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        # Stripe echoes (part of) the key it refused: the gateway must mask it.
        return _json(_error_body("stripe", 401, f"Invalid API Key provided: {given}"), 401)

    # ---- Stripe ---------------------------------------------------------------------------------
    def _stripe_list(self, request: web.Request, items: list[dict[str, Any]], url: str) -> web.Response:
        try:
            limit = int(request.query.get("limit", "10"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= 100:
            return _json(
                {"error": {"type": "invalid_request_error", "message": "Invalid limit", "param": "limit"}},
                400,
            )
        start = 0
        after = request.query.get("starting_after")
        if after:
            ids = [i["id"] for i in items]
            if after not in ids:
                message = f"No such object: '{after}'"
                return _json(
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": message,
                            "param": "starting_after",
                        }
                    },
                    400,
                )
            start = ids.index(after) + 1
        page = items[start : start + limit]
        answer = _json({"object": "list", "url": url, "has_more": start + limit < len(items), "data": page})
        if request.get(_TRUNCATE) and answer.body is not None:
            whole = bytes(answer.body)  # type: ignore[arg-type]
            return web.Response(body=whole[: len(whole) // 2], content_type="application/json")
        return answer

    def _stripe_key(self, request: web.Request, route: str, filter_value: str) -> str:
        """What faults of a Stripe list match on: the filter (email, customer), else the page's cursor."""
        cursor = request.query.get("starting_after", "")
        self.cursors.setdefault(route, []).append(cursor)
        return filter_value or cursor

    async def stripe_customers(self, request: web.Request) -> web.StreamResponse:
        email = request.query.get("email", "")
        key = self._stripe_key(request, "stripe.customers", email)
        if (injected := await self._inject(request, "stripe.customers", "stripe", key)) is not None:
            return injected
        if (denied := self._stripe_auth(request)) is not None:
            return denied
        items = self.stripe.customers
        if email:
            items = [c for c in items if c["email"] == email]
        return self._stripe_list(request, items, "/v1/customers")

    async def stripe_charges(self, request: web.Request) -> web.StreamResponse:
        customer = request.query.get("customer", "")
        key = self._stripe_key(request, "stripe.charges", customer)
        if (injected := await self._inject(request, "stripe.charges", "stripe", key)) is not None:
            return injected
        if (denied := self._stripe_auth(request)) is not None:
            return denied
        items = self.stripe.charges
        if customer:
            items = [c for c in items if c["customer"] == customer]
        return self._stripe_list(request, items, "/v1/charges")

    async def stripe_payment_intents(self, request: web.Request) -> web.StreamResponse:
        customer = request.query.get("customer", "")
        key = self._stripe_key(request, "stripe.payment_intents", customer)
        if (injected := await self._inject(request, "stripe.payment_intents", "stripe", key)) is not None:
            return injected
        if (denied := self._stripe_auth(request)) is not None:
            return denied
        items = self.stripe.payment_intents
        if customer:
            items = [p for p in items if p["customer"] == customer]
        return self._stripe_list(request, items, "/v1/payment_intents")

    # ---- GitHub ---------------------------------------------------------------------------------
    async def github_search(self, request: web.Request) -> web.StreamResponse:
        query = request.query.get("q", "")
        email = query.split(" ")[0].split("+")[0].strip()
        if (injected := await self._inject(request, "github.search", "github", email)) is not None:
            return injected
        return self._github(request, lambda: github_search(email), query_ok=" in:email" in query)

    async def github_user(self, request: web.Request) -> web.StreamResponse:
        login = request.match_info["login"]
        if (injected := await self._inject(request, "github.user", "github", login)) is not None:
            return injected
        return self._github(request, lambda: github_user(login), query_ok=True)

    def _github(self, request: web.Request, answer: Any, *, query_ok: bool) -> web.Response:
        if not self._bearer_ok(request, "github"):
            return _json(_error_body("github", 401, "Bad credentials"), 401)
        allowed, headers = self.github_window.take()
        if not allowed:
            return _json(_error_body("github", 403, "API rate limit exceeded for user ID 1."), 403, headers)
        if not query_ok:
            return _json(_error_body("github", 422, "Validation Failed"), 422, headers)
        body = answer()
        if body is None:
            return _json(_error_body("github", 404, "Not Found"), 404, headers)
        return _json(body, 200, headers)

    # ---- OpenWeather ----------------------------------------------------------------------------
    async def weather(self, request: web.Request) -> web.StreamResponse:
        city = request.query.get("q", "")
        if (injected := await self._inject(request, "openweather.weather", "openweather", city)) is not None:
            return injected
        if request.query.get("appid") != self.credentials["openweather"]:
            message = "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info."
            return _json({"cod": 401, "message": message}, 401)
        found = cities().get(city.split(",")[0].strip().lower())
        if found is None:
            return _json({"cod": "404", "message": "city not found"}, 404)
        if request.query.get("units") != "metric":
            found = {**found, "main": {**found["main"], "temp": round(found["main"]["temp"] + 273.15, 2)}}
        return _json(found)

    # ---- Company --------------------------------------------------------------------------------
    async def company_find(self, request: web.Request) -> web.StreamResponse:
        domain = request.query.get("domain", "")
        if (injected := await self._inject(request, "company.find", "company", domain)) is not None:
            return injected
        if not self._bearer_ok(request, "company"):
            return _json(_error_body("company", 401, "Invalid API key"), 401)
        if not domain:
            return _json(_error_body("company", 422, "domain is required"), 422)
        found = company_for(domain)
        if found is None:
            return _json({"error": {"type": "unknown_record", "message": "Unknown domain"}}, 404)
        return _json(found)

    async def stats(self, request: web.Request) -> web.Response:
        return _json({**self.counts, "peak_in_flight": self.peak_in_flight})


class FakeProviderServer:
    """The fake provider server on 127.0.0.1 with an ephemeral port, in a thread or a subprocess."""

    def __init__(
        self,
        *,
        stripe_emails: Iterable[str] | None = None,
        stripe_guest_emails: Iterable[str] = (),
        seed: int = 42,
        process: bool = False,
        random_faults: RandomFaults | None = None,
        port: int = 0,
    ) -> None:
        self.credentials = dict(CREDENTIALS)
        self.faults = FaultPlan()
        if random_faults is not None:
            self.faults.random(config=random_faults)
        self._random = random_faults
        self._emails = tuple(stripe_emails) if stripe_emails is not None else DEFAULT_STRIPE_EMAILS
        self._guests = tuple(stripe_guest_emails)
        self._seed = seed
        self.stripe = StripeData.generate(self._emails, seed=seed, guest_emails=self._guests)
        self.process = process
        self.port = port
        self._app: FakeProviderApp | None = None
        self._background: BackgroundLoop | None = None
        self._runner: web.AppRunner | None = None
        self._proc: subprocess.Popen[str] | None = None

    # ---- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Where every fake API lives (Stripe, GitHub, OpenWeather and Company share it)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeProviderServer:
        """Start serving; returns once the port accepts connections."""
        if self.process:
            self._start_process()
        else:
            self._start_thread()
        return self

    def _start_thread(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._app = FakeProviderApp(self.stripe, self.faults, self.credentials)
        self._background = BackgroundLoop("fake-provider-server")
        self._background.run(self._serve(sock), 10)

    async def _serve(self, sock: socket.socket) -> None:
        assert self._app is not None
        self._runner = web.AppRunner(
            self._app.app, access_log=None, handle_signals=False, shutdown_timeout=0.25
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def _start_process(self) -> None:
        args = [
            sys.executable,
            "-m",
            "aicmo.fakes.provider_server",
            "--port",
            str(self.port),
            "--seed",
            str(self._seed),
        ]
        if self._random is not None:
            args += ["--random", json.dumps(self._random.to_dict())]
        payload = json.dumps({"emails": list(self._emails), "guests": list(self._guests)})
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(payload)
        self._proc.stdin.close()
        line = self._proc.stdout.readline()
        if not line.startswith("READY "):
            self._proc.kill()
            raise RuntimeError(f"fake provider server process failed to start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        if self._background is not None:
            if self._runner is not None:
                self._background.run(self._runner.cleanup(), 10)
                self._runner = None
            self._background.close(10)
            self._background = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- what the tests look at -----------------------------------------------------------------
    def settings_env(self) -> dict[str, str]:
        """``AICMO_*`` variables that point every adapter at this server, with its dummy credentials."""
        url = self.base_url
        return {
            "AICMO_STRIPE_BASE_URL": url,
            "AICMO_STRIPE_API_KEY": self.credentials["stripe"],
            "AICMO_GITHUB_BASE_URL": url,
            "AICMO_GITHUB_TOKEN": self.credentials["github"],
            "AICMO_OPENWEATHER_BASE_URL": url,
            "AICMO_OPENWEATHER_API_KEY": self.credentials["openweather"],
            "AICMO_COMPANY_BASE_URL": url,
            "AICMO_COMPANY_API_KEY": self.credentials["company"],
            "AICMO_GATEWAY_PROVIDER_LIMITS": json.dumps(LOCAL_LIMITS),
        }

    def stats(self) -> dict[str, int]:
        """Requests received per route (and ``total``)."""
        if self._app is not None and self._proc is None:
            return {**self._app.counts, "peak_in_flight": self._app.peak_in_flight}
        with urllib.request.urlopen(f"{self.base_url}/_fake/stats", timeout=10) as response:
            counts: dict[str, int] = json.loads(response.read())
        counts["total"] = counts.get("total", 0)
        return counts

    def request_count(self, route: str | None = None) -> int:
        """Requests received on ``route`` (all routes when None)."""
        return self.stats().get(route or "total", 0)

    def stripe_cursors(self, route: str) -> list[str]:
        """The ``starting_after`` of every request of a Stripe list ``route`` so far, in order (thread mode)."""
        if self._app is None:
            raise RuntimeError("stripe_cursors needs the thread-mode server")
        return list(self._app.cursors.get(route, []))

    def reset_stats(self) -> None:
        """Zero the request counts (thread mode)."""
        if self._app is not None:
            self._app.counts.clear()

    def seed_stripe(
        self, emails: Iterable[str], *, guest_emails: Iterable[str] = (), seed: int = 42
    ) -> StripeData:
        """Replace Stripe's customers and payments with ones generated for ``emails`` (thread mode)."""
        self._emails = tuple(emails)
        self._guests = tuple(guest_emails)
        self.stripe = StripeData.generate(self._emails, seed=seed, guest_emails=self._guests)
        if self._app is not None:
            self._app.stripe = self.stripe
        elif self._proc is not None:
            raise RuntimeError("seed_stripe needs the thread-mode server (or pass stripe_emails at start)")
        return self.stripe

    def seed_stripe_from_contacts(
        self, engine: Engine, *, limit: int = 1000, strangers: int = 5, seed: int = 42
    ) -> dict[str, int]:
        """Make Stripe customers of up to ``limit`` contacts of the store (every k-th by id), plus
        ``strangers`` customers who are no contact, and two guest payments; returns the counts."""
        from aicmo.storage.crm import contact_emails

        every = contact_emails(engine)
        step = max(1, len(every) // max(1, limit))
        emails = every[::step][:limit]
        outsiders = [f"former.customer{i}@example.net" for i in range(strangers)]
        guests = [*emails[:1], "walk.in@example.org"] if emails else ["walk.in@example.org"]
        data = self.seed_stripe(emails + outsiders, guest_emails=guests, seed=seed)
        return {
            "contacts": len(emails),
            "strangers": len(outsiders),
            "customers": len(data.customers),
            "charges": len(data.charges),
        }

    def github_rate_limit(self, remaining: int, reset_in_s: float, limit: int = 5000) -> None:
        """Set GitHub's rate-limit window: ``remaining`` calls left until ``reset_in_s`` from now."""
        if self._app is None:
            raise RuntimeError("github_rate_limit needs the thread-mode server")
        window = self._app.github_window
        window.limit = limit
        window.remaining = remaining
        window.reset_at = time.time() + reset_in_s
        window.window_s = 3600.0


def _serve(
    port: int, seed: int, random_faults: RandomFaults | None, emails: list[str], guests: list[str]
) -> None:
    faults = FaultPlan()
    if random_faults is not None:
        faults.random(config=random_faults)
    stripe = StripeData.generate(
        tuple(emails) or DEFAULT_STRIPE_EMAILS, seed=seed, guest_emails=tuple(guests)
    )
    app = FakeProviderApp(stripe, faults, dict(CREDENTIALS))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)

    async def main() -> None:
        runner = web.AppRunner(app.app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        print(f"READY {sock.getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    """Run the server in the foreground (emails for Stripe are read as JSON from stdin if piped)."""
    parser = argparse.ArgumentParser(description="Fake Stripe/GitHub/OpenWeather/Company server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--random", default=None, help="RandomFaults as JSON")
    args = parser.parse_args(argv)
    payload: dict[str, list[str]] = {}
    if not sys.stdin.isatty():
        text = sys.stdin.read()
        payload = json.loads(text) if text.strip() else {}
    random_faults = RandomFaults(**json.loads(args.random)) if args.random else None
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    _serve(args.port, args.seed, random_faults, payload.get("emails", []), payload.get("guests", []))


__all__ = ["CREDENTIALS", "FakeProviderServer", "Fault", "FaultPlan", "RandomFaults"]

if __name__ == "__main__":
    main()
