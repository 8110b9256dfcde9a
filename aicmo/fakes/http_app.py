"""Running an aiohttp fake on 127.0.0.1 (ephemeral port, own thread), with scripted faults per route.

The channel fakes (Twilio, FCM, web push service, Mastodon, a webhook receiver) build on it::

    with FakeTwilio() as twilio:
        twilio.faults.add("messages", status=503)          # next request answers 503
        twilio.faults.add("messages", kind="drop")         # next request: connection dropped, no answer
        twilio.faults.add("messages", status=429, retry_after="1", times=2)
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from aicmo.fakes.background import BackgroundLoop


@dataclass
class Fault:
    """``status``: answer ``status`` with the API's error body; ``drop``: close without answering; ``delay``."""

    kind: str = "status"
    status: int = 500
    retry_after: str | None = None
    delay_s: float = 0.0
    code: str | int | None = None  # the API's own error code, where it has one


class RouteFaults:
    """Faults for the next requests of named routes; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: dict[str, list[list[Any]]] = {}

    def add(self, route: str, *, times: int = 1, **fault: Any) -> RouteFaults:
        """Inject a ``Fault(**fault)`` into the next ``times`` requests of ``route``."""
        with self._lock:
            self._queue.setdefault(route, []).append([Fault(**fault), times])
        return self

    def take(self, route: str) -> Fault | None:
        """The fault for one request of ``route``, if any is scripted."""
        with self._lock:
            queue = self._queue.get(route)
            if not queue:
                return None
            entry = queue[0]
            entry[1] -= 1
            if entry[1] <= 0:
                queue.pop(0)
            return entry[0]

    def clear(self) -> None:
        """No more faults."""
        with self._lock:
            self._queue.clear()


async def apply(fault: Fault | None, request: web.Request) -> None:
    """Sleep for a delay fault; abort the connection for a drop fault (raises to end the handler)."""
    if fault is None:
        return
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay_s)
    elif fault.kind == "drop":
        await request.read()
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise ConnectionResetError("fault: connection dropped")


class BackgroundApp:
    """An aiohttp application served on a background thread; subclasses add routes in ``routes``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.faults = RouteFaults()
        self.lock = threading.Lock()
        self._background: BackgroundLoop | None = None
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the fake's routes."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        """The application to serve: by default a new one with ``routes`` added."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        self.routes(app)
        return app

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    def start(self) -> Self:
        """Start serving."""
        self._background = BackgroundLoop(type(self).__name__)
        self._background.run(self._start())
        return self

    def close(self) -> None:
        """Stop serving."""
        if self._background is None:
            return
        if self._runner is not None:
            self._background.run(self._runner.cleanup())
        self._background.close()
        self._background = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
