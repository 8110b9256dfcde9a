"""URL fetch: http(s) only, size cap while streaming, timeout, and no way into private addresses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.settings import MediaSettings
from aicmo.storage.db import transaction
from aicmo.storage.media import get_asset
from aicmo.tasks.media.fetch import fetch_url
from aicmo.tasks.media.library import add_url
from tests.media.images import encode, photo

PNG = encode(photo(9, (64, 48)))


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path == "/hero.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)
        elif self.path == "/hop":
            self._redirect("/hero.png")
        elif self.path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/iam/")
        elif self.path == "/to-private":
            self._redirect("http://10.1.2.3/internal.png")
        elif self.path == "/to-file":
            self._redirect("file:///etc/passwd")
        elif self.path == "/loop":
            self._redirect("/loop")
        elif self.path == "/endless":  # no Content-Length: the cap must hold while streaming
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(10_000):
                    self.wfile.write(b"\x00" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"\x00" * 10)
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def allowed(media: MediaSettings) -> MediaSettings:
    return media.model_copy(update={"fetch_allowed_ips": ["127.0.0.1"]})


def test_allowed_host_is_fetched_through_redirects_and_added(
    sqlite_engine: Engine, allowed: MediaSettings, server: str
) -> None:
    report = add_url(sqlite_engine, f"{server}/hop", allowed)
    assert len(report.added) == 1
    with transaction(sqlite_engine) as session:
        asset = get_asset(session, report.added[0])
        assert asset is not None
        assert (asset.name, asset.mime_type, asset.source) == ("hero.png", "image/png", f"{server}/hero.png")


def test_loopback_is_refused_unless_allowed(media: MediaSettings, server: str) -> None:
    with pytest.raises(InputError, match=r"127\.0\.0\.1 is a loopback address"):
        fetch_url(f"{server}/hero.png", media)


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/to-metadata", "169.254.169.254 is a cloud metadata address"),
        ("/to-private", "10.1.2.3 is a private address"),
        ("/to-file", "only http and https"),
        ("/loop", "more than 5 redirects"),
        ("/missing.png", "HTTP 404"),
    ],
)
def test_every_redirect_hop_is_checked(allowed: MediaSettings, server: str, path: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        fetch_url(f"{server}{path}", allowed)


def test_size_cap_holds_while_streaming(allowed: MediaSettings, server: str) -> None:
    small = allowed.model_copy(update={"max_bytes": 300_000})
    with pytest.raises(InputError, match="300,000-byte cap"):
        fetch_url(f"{server}/endless", small)


def test_a_trickling_server_times_out(allowed: MediaSettings, server: str) -> None:
    quick = allowed.model_copy(update={"fetch_timeout_s": 0.5})
    started = time.monotonic()
    with pytest.raises(InputError, match=r"0.5 s"):
        fetch_url(f"{server}/slow", quick)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://x/", "not a url"])
def test_only_http_and_https(media: MediaSettings, url: str) -> None:
    with pytest.raises(InputError):
        fetch_url(url, media)


def test_the_checked_address_is_the_one_connected_to(allowed: MediaSettings, server: str) -> None:
    """DNS rebinding: the name is resolved once, checked, and that very address is connected to."""
    port = server.rsplit(":", 1)[1]
    answers = iter([["127.0.0.1"], ["10.0.0.7"], ["10.0.0.7"]])  # a second lookup would turn private
    calls: list[str] = []

    def rebinding(host: str, _port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    got = fetch_url(f"http://cdn.example.test:{port}/hero.png", allowed, resolver=rebinding)
    assert got.data == PNG and calls == ["cdn.example.test"]
    with pytest.raises(InputError, match=r"10\.0\.0\.7 is a private address"):
        fetch_url(f"http://cdn.example.test:{port}/hero.png", allowed, resolver=rebinding)


@pytest.mark.parametrize(
    "ip", ["::1", "::ffff:127.0.0.1", "fd00:ec2::254", "100.64.1.1", "0.0.0.0", "224.0.0.1"]
)
def test_other_non_public_addresses_are_refused(media: MediaSettings, ip: str) -> None:
    with pytest.raises(InputError, match="refused to connect"):
        fetch_url("http://internal.example.test/a.png", media, resolver=lambda _h, _p: [ip])
