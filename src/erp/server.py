"""How the service runs under uvicorn: every connection limit chosen on purpose, in one place.

`erp serve` and the tests' live server both build their uvicorn configuration here, so what is tested is
what runs. The listening socket is bound before anything else happens (migrations included), so a port
that is taken is reported at once.

uvicorn by itself puts no deadline on a connection that sends nothing or sends its request head slowly
(its keep-alive timer only starts after a first response), and httptools puts no bound on the size of a
request head. `GuardedHttpToolsProtocol` adds both.
"""

import asyncio
import json
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from erp.config import Settings, get_settings
from erp.errors import problem_type
from erp.startup import StartupFailure

# A request line plus headers larger than this is refused with 431: no client of this API needs more
# (an API key and a few short headers), and the parser would otherwise buffer headers without end.
MAX_REQUEST_HEAD_BYTES = 64 * 1024


def _problem_bytes(status: int, reason: str, code: str, detail: str) -> bytes:
    body = json.dumps({"type": problem_type(code), "title": reason, "status": status, "detail": detail, "code": code})
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n{body}"
    ).encode()


# Closing a socket with unread input makes the kernel send a reset, and a client still sending its body
# (a 413 answered before the body is read) would lose the answer with it. So the answer is followed by
# end-of-stream, what the client still sends is read and dropped for a moment, and only then is the
# connection closed (the "lingering close" of HTTP servers).
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 16 * 1024 * 1024


class HeadTooLarge(Exception):
    pass


class _LingeringTransport:
    """The connection's transport, closing gently while the client is still sending."""

    def __init__(self, transport: asyncio.Transport, protocol: "GuardedHttpToolsProtocol") -> None:
        self._transport = transport
        self._protocol = protocol
        self.lingering = False
        self.dropped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        cycle = self._protocol.cycle
        if cycle is not None and cycle.more_body:  # the request body is still coming
            self.linger()
        else:
            self._transport.close()

    def linger(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        self.lingering = True
        if self._transport.can_write_eof():
            self._transport.write_eof()
        self._transport.resume_reading()
        self._protocol.loop.call_later(LINGER_SECONDS, self._transport.close)

    def drop(self, data: bytes) -> None:
        self.dropped += len(data)
        if self.dropped > LINGER_MAX_BYTES:
            self._transport.close()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request head.

    From the moment a connection opens, or the first byte of a next request arrives on a kept-alive one,
    the request line and headers must be complete within `ERP_REQUEST_HEAD_TIMEOUT_SECONDS` and
    MAX_REQUEST_HEAD_BYTES; otherwise the connection is closed (with a 408 or 431 if anything came)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout = get_settings().request_head_timeout_seconds
        self._head_deadline: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_bytes = 0
        self._parsed_head_bytes = 0
        self._head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._lingering = _LingeringTransport(transport, self)
        super().connection_made(self._lingering)  # type: ignore[arg-type]
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering.lingering:
            self._lingering.drop(data)
            return
        if self._reading_head:
            self._head_bytes += len(data)
            if self._head_deadline is None:
                self._arm_head_deadline()
        super().data_received(data)
        # A head still incomplete after this many bytes (one endless header, say) is refused here; a
        # complete one is measured exactly by the parser callbacks below.
        if self._reading_head and self._head_bytes > 2 * MAX_REQUEST_HEAD_BYTES and not self.transport.is_closing():
            self._refuse_head()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > MAX_REQUEST_HEAD_BYTES:
            self._head_too_large = True
            raise HeadTooLarge  # stops the parser; uvicorn answers a parser error with send_400_response

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self.transport.write(_problem_bytes(431, "Request Header Fields Too Large", "headers_too_large",
                                            f"The request line and headers exceed {MAX_REQUEST_HEAD_BYTES} bytes."))
        self._lingering.linger()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self._reading_head = True
        self._head_bytes = self._parsed_head_bytes = 0
        super().on_response_complete()  # arms uvicorn's keep-alive timer for the idle time that follows

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or not self._reading_head:
            return
        if self._head_bytes:
            self.transport.write(_problem_bytes(408, "Request Timeout", "request_timeout",
                                                "The request head did not arrive in time."))
        self.transport.close()


def uvicorn_config(
    settings: Settings, host: str, port: int, workers: int = 1, app: Any = "erp.app:create_app"
) -> uvicorn.Config:
    """The one uvicorn configuration of this service (README, "Limits"); `app` is for tests."""
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http=GuardedHttpToolsProtocol,
        timeout_keep_alive=settings.keep_alive_seconds,
        limit_concurrency=settings.limit_concurrency,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,  # the same bound, were h11 ever chosen
        backlog=2048,
    )


class PortUnavailable(StartupFailure):
    pass


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: a port in use is an error before anything else starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def run(config: uvicorn.Config, sock: socket.socket) -> None:
    """Serve on an already bound socket, in this process or in `config.workers` worker processes."""
    if config.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
