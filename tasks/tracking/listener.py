"""How the tracking service listens: its socket and its uvicorn server, one way for ``aicmo serve`` and the demo."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port), address reuse on; ``OSError`` if it cannot bind."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_server(
    app: Any, *, log_level: str = "warning", forwarded_allow_ips: str | None = None
) -> uvicorn.Server:
    """The uvicorn server of ``app``: no access log, no Server header, proxy headers only from trusted IPs."""
    import uvicorn

    return uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            proxy_headers=forwarded_allow_ips is not None,
            forwarded_allow_ips=forwarded_allow_ips,
            server_header=False,
            access_log=False,
        )
    )
