"""A real HTTP endpoint on 127.0.0.1 that verifies every Standard Webhooks signature it gets."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    message_id: str
    event_id: int
    type: str
    subject: str


@dataclass
class Receiver:
    url: str = ""
    secret: str = ""
    received: list[Received] = field(default_factory=list)  # accepted, in arrival order
    refused: int = 0  # attempts answered with an error on purpose
    forged: int = 0  # attempts whose signature did not verify
    failing_until: float = 0.0  # answer 500 until this time.monotonic()
    delay: float = 0.0  # seconds to wait before answering
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(set(self.ids())) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{len(set(self.ids()))} of {count} events arrived in {timeout} s")


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["content-length"]))
            if state.delay:
                time.sleep(state.delay)
            try:
                Webhook(state.secret).verify(body, {k.lower(): v for k, v in self.headers.items()})
            except Exception:
                state.forged += 1
                self.send_response(401)
                self.end_headers()
                return
            if time.monotonic() < state.failing_until:
                state.refused += 1
                self.send_response(500)
                self.end_headers()
                return
            message = json.loads(body)
            with state.lock:
                state.received.append(Received(self.headers["webhook-id"], message["data"]["id"], message["type"],
                                               message["data"]["subject"]))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
