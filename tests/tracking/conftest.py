"""A real tracking service on 127.0.0.1 (uvicorn in a thread, port 0) over a temporary store and lake."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import Engine

from aicmo.settings import Settings, TrackingSettings
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.tasks.crm import consent as consent_ops
from aicmo.tasks.tracking.service import Runtime, create_app
from aicmo.tasks.tracking.tokens import TrackingLinks
from tests.crm.helpers import add_contacts

KEY = "test-tracking-key-0123456789"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


@dataclass
class Service:
    """A running service and what a test needs to talk to it and look behind it."""

    url: str
    settings: Settings
    runtime: Runtime
    engine: Engine
    lake: Lake
    links: TrackingLinks
    client: httpx.Client

    def flush(self) -> None:
        """Move the spool into the lake now."""
        assert self.runtime.flusher is not None
        self.runtime.flusher.flush_once()

    def events(self) -> pl.DataFrame:
        """Everything in the events lake."""
        return self.lake.scan("events").collect()

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value from /metrics (0 when absent)."""
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def start_service(tmp_path: Path, engine: Engine, **tracking: Any) -> Iterator[Service]:
    """Bind a port, build settings with that public URL, run the app until the generator closes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    cfg = TrackingSettings(base_url=url, keys=[SecretStr(KEY)], spool_dir=tmp_path / "spool", **tracking)
    settings = Settings(home=tmp_path / "home", tracking=cfg)
    lake = Lake(str(tmp_path / "lake"))
    app = create_app(settings, engine=engine, lake=lake)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("tracking service did not start")
        time.sleep(0.02)
    with httpx.Client(base_url=url, timeout=30, headers={"User-Agent": BROWSER}) as client:
        try:
            yield Service(url, settings, app.state.runtime, engine, lake, TrackingLinks(cfg), client)
        finally:
            server.should_exit = True
            thread.join(timeout=60)


@pytest.fixture
def service_factory(tmp_path: Path, sqlite_engine: Engine) -> Iterator[Callable[..., Service]]:
    """Start a service with extra tracking settings (webhook secrets...); stopped after the test."""
    running: list[Iterator[Service]] = []

    def start(**tracking: Any) -> Service:
        gen = start_service(tmp_path, sqlite_engine, **tracking)
        running.append(gen)
        return next(gen)

    yield start
    for gen in running:
        for _ in gen:
            pass


@pytest.fixture
def service(service_factory: Callable[..., Service]) -> Service:
    """A service with default settings."""
    return service_factory()


@pytest.fixture
def contact(sqlite_engine: Engine) -> int:
    """One contact with confirmed email and SMS consent; returns its id."""
    ids = add_contacts(sqlite_engine, [{"email": "ada@example.com", "phone": "+14155550100"}])
    cid = ids["ada@example.com"]
    with transaction(sqlite_engine) as session:
        for channel in ("email", "sms"):
            tokens = consent_ops.request_opt_in(session, [cid], channel, source="test", text_version="v1")
            consent_ops.confirm(session, tokens[cid])
    return cid
