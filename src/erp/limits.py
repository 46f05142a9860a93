"""Request body limits, enforced before anything reads the body: before JSON parsing and before auth.

A pure ASGI middleware counts the bytes of the body as they arrive (a Content-Length is not trusted,
and a chunked body has none): over MAX_BODY_BYTES the answer is 413 `payload_too_large` and the
application never runs. A body that trickles in slower than BODY_READ_TIMEOUT_SECONDS in total is 408.
The body is at most 1 MiB, so it is read whole here and handed on from memory.
"""

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp.errors import problem

MAX_BODY_BYTES = 1024 * 1024  # API.md: "a request body over 1 MiB is 413"
BODY_READ_TIMEOUT_SECONDS = 30.0


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None if absent or unreadable) and whether the body is chunked."""
    length, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, read_timeout: float = BODY_READ_TIMEOUT_SECONDS
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        if not chunked and not declared:  # no body at all (most GETs): nothing to count or wait for
            await self.app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.read_timeout):
                messages = await self._read(receive)
        except TimeoutError:
            response = problem(408, "request_timeout", "Request timeout",
                               f"The request body did not arrive within {self.read_timeout:g} seconds.",
                               headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        if messages is None:
            await self._too_large(scope, receive, send)
            return
        pending = list(messages)

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()  # after the body: only a disconnect can come

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> list[Message] | None:
        """The body's messages, or None as soon as they add up to more than the limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away: let the app see it
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The rest of the body is not read: the connection closes with the answer.
        response = problem(413, "payload_too_large", "Payload too large",
                           f"The request body is over the limit of {self.max_bytes} bytes (1 MiB).",
                           headers={"Connection": "close"})
        await response(scope, receive, send)
