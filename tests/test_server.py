"""The service's connection limits (erp.server), against `erp serve` itself over real sockets.

Silent or slow clients are cut off, oversized heads and bodies are refused before anything parses them,
and a 500 says `Connection: close` before the connection ends. Timeouts are shortened through the same
settings production reads, so these tests take seconds; no test asserts how long anything took.
"""

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from erp import server
from erp.app import create_app
from erp.routing import router
from tests import conftest
from tests.conftest import start_service, stop_service

HEAD_TIMEOUT = 1.0
KEEP_ALIVE = 1.0
PATIENCE = 20.0  # how long a test waits for the server to act before it gives up (never an assertion)


@pytest.fixture
def service(database_url: str) -> Iterator[tuple[str, int]]:
    process, base = start_service({"ERP_DATABASE_URL": database_url,
                                   "ERP_REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
                                   "ERP_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE)})
    host, port = base.removeprefix("http://").split(":")
    yield host, int(port)
    stop_service(process)


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=PATIENCE)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout here fails the test)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def request(path: str = "/healthz", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode()


def test_a_connection_that_sends_nothing_is_closed(service):
    with connect(service) as sock:
        assert read_until_closed(sock) == b""


def test_a_request_head_that_trickles_in_is_cut_off_with_408(service):
    with connect(service) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        answer = b""
        deadline = time.monotonic() + PATIENCE
        try:
            while time.monotonic() < deadline:  # one more header every 0.2 s: the head never completes
                sock.sendall(b"X-Slow: 1\r\n")
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = read_until_closed(sock)
        except ConnectionResetError:
            answer = b""
        assert time.monotonic() < deadline, "the server never cut the connection off"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")


def test_an_idle_kept_alive_connection_is_closed_after_its_answer(service):
    with connect(service) as sock:
        sock.sendall(request())
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.count(b"HTTP/1.1") == 1


def test_a_kept_alive_connection_serves_the_next_request(service):
    with connect(service) as sock:
        sock.sendall(request())
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += sock.recv(65536)
        sock.sendall(request(extra="Connection: close\r\n"))
        second = read_until_closed(sock)
    assert first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"HTTP/1.1 200 ")


def test_an_oversized_request_head_is_431_and_closed(service):
    with connect(service) as sock:
        try:
            sock.sendall(request(extra="X-Big: " + "x" * (server.MAX_REQUEST_HEAD_BYTES + 10) + "\r\n"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"application/problem+json" in answer and b'"headers_too_large"' in answer


def test_a_chunked_body_over_1_mib_is_413_and_the_connection_closes(service):
    head = (b"POST /api/v1/products HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    with connect(service) as sock:
        sock.sendall(head)
        try:
            for _ in range(40):  # 2.5 MiB in 64 KiB chunks, no Content-Length anywhere
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in answer.lower() and b'"payload_too_large"' in answer


def test_a_500_says_connection_close_before_the_connection_ends(database_url):
    """A bug answers 500 problem+json with `Connection: close`, then the connection ends; it is not simply
    dropped (which is what uvicorn does when an exception escapes the application)."""
    app = create_app(conftest.test_settings(), database_url=database_url)
    extra = router()

    @extra.get("/explode")
    async def explode() -> dict[str, str]:
        raise RuntimeError("a bug")

    app.include_router(extra, prefix="/api/v1")
    sock = server.bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    uvicorn_server = uvicorn.Server(server.uvicorn_config(conftest.test_settings(), "127.0.0.1", port, app=app))
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + PATIENCE
        while not uvicorn_server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with connect(("127.0.0.1", port)) as client:
            client.sendall(request("/api/v1/explode"))  # HTTP/1.1: keep-alive unless told otherwise
            answer = read_until_closed(client)
    finally:
        uvicorn_server.should_exit = True
        thread.join(PATIENCE)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ")
    assert b"connection: close" in head.lower()
    assert b'"internal_error"' in body
