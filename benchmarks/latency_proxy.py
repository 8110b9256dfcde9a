"""A TCP proxy that delays every chunk by N ms each way: a network link's latency on loopback.

On loopback a round trip costs microseconds, so a client that needs many round trips per message
(a connection per message: connect, EHLO, STARTTLS, EHLO, AUTH, QUIT) pays only CPU for them.
Through this proxy each chunk a side sends reaches the other side ``delay_ms`` later (a round
trip costs ``2 * delay_ms``), in order, and opening a connection costs one round trip (the TCP
handshake) before the server sees it. Bandwidth is not limited. It runs in its own process so its
work does not count in the contender's CPU time:

    python benchmarks/latency_proxy.py --target 127.0.0.1:8025 --delay-ms 10   # prints "port N"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk delivered ``delay`` seconds after it was read."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def pump() -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((loop.time() + delay, b""))  # end of stream, delayed like the data

    async def deliver() -> None:
        try:
            while True:
                due, data = await queue.get()
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not data:
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            return
        finally:
            writer.close()

    await asyncio.gather(pump(), deliver())


async def serve(target_host: str, target_port: int, delay_ms: float, port: int = 0) -> None:
    """Listen on 127.0.0.1:``port``, print ``port N``, proxy every connection to the target."""
    delay = delay_ms / 1000.0

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(2 * delay)  # the TCP handshake: one round trip before the server sees us
            server_r, server_w = await asyncio.open_connection(target_host, target_port)
            await asyncio.gather(_pipe(client_r, server_w, delay), _pipe(server_r, client_w, delay))
        except (OSError, asyncio.CancelledError):  # refused, or the proxy is stopping
            client_w.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", port)
    print(f"port {listener.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with listener:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", required=True, help="host:port of the real server")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay (RTT is twice this)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    asyncio.run(serve(host, int(port), args.delay_ms, args.port))


if __name__ == "__main__":
    main()
