"""A minimal HTTP/1.1 keep-alive client on uvloop + httptools, for the load generator only.

Why not aiohttp or httpx: on a 2-core machine the load generator competes with the server and
PostgreSQL for CPU, so every microsecond it spends is taken from the thing being measured. This client
does one write and one incremental parse per request (the same C parser uvicorn uses), with a timer
handle for the timeout, and nothing else. It only ever connects to 127.0.0.1.
"""

import asyncio

import httptools

HOST = "127.0.0.1"


class RequestTimeout(Exception):
    pass


class ConnectionClosed(Exception):
    pass


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.body: list[bytes] = []
        self.closed = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionClosed(f"bad response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionClosed(str(exc) if exc else "connection closed by server"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if waiter is not None and not waiter.done():
            waiter.set_result(
                (self.parser.get_status_code(), b"".join(self.body), self.parser.should_keep_alive())
            )

    # client side

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _timeout(self) -> None:
        self.timer = None
        self._fail(RequestTimeout())
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def send(self, data: bytes, timeout: float) -> tuple[int, bytes]:
        """Send one serialized request and wait for its response: (status, body)."""
        if self.closed or self.transport is None:
            raise ConnectionClosed("connection is closed")
        self.waiter = self.loop.create_future()
        self.timer = self.loop.call_later(timeout, self._timeout)
        self.transport.write(data)
        status, body, keep_alive = await self.waiter
        if not keep_alive:
            self.close()
        return status, body


async def connect(port: int, timeout: float = 10.0) -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: Connection(loop), HOST, port), timeout
    )
    return protocol


def serialize(method: str, path: str, port: int, authorization: str, body: bytes | None = None) -> bytes:
    """The bytes of one request; header order and spelling are what a typical client sends."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: {authorization}\r\n"
    if body is None:
        return (head + "\r\n").encode()
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
