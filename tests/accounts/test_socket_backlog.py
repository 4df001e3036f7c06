"""A browser that stops reading its WebSocket: the server closes the socket once a bounded amount
is waiting for it, instead of buffering until daphne's keepalive gives up (about 50 s, megabytes a
second). Real daphne, real TCP: a client that opens the socket and never reads."""

import base64
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accounts.socket_backlog import MAX_UNSENT_BYTES, BoundedSends
from tests.accounts.flooding_socket_app import MESSAGE_BYTES
from tests.conftest import free_port

PROJECT = Path(__file__).resolve().parents[2]
# A message's frame header, and the close frame queued once the bound is passed.
FRAME_OVERHEAD_BYTES = 16


@pytest.fixture
def flooding_server():
    port = free_port()
    server = subprocess.Popen(
        # Keepalive pings far off: whatever closes the socket within the test is the bound.
        [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), "--ping-interval", "600",
         "tests.accounts.flooding_socket_app:application"],
        cwd=PROJECT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, server)
        yield port, server
    finally:
        server.kill()
        server.wait()


def wait_for_port(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "daphne exited before listening"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def open_and_never_read(port: int) -> socket.socket:
    """A WebSocket handshake, then silence: a small receive window, so the server's bytes pile up
    on its side as they would behind a frozen tab."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    client.sendall(
        f"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\n\r\n".encode()
    )
    assert client.recv(12) == b"HTTP/1.1 101"
    return client


def report_of(server: subprocess.Popen, timeout: float) -> dict:
    """The flooding socket's line, printed once daphne told it the connection is gone."""
    ready, _, _ = select.select([server.stdout], [], [], timeout)
    assert ready, f"the socket was still open after {timeout} s"
    return json.loads(server.stdout.readline())


def read_until_closed(client: socket.socket, timeout: float = 10) -> None:
    client.settimeout(timeout)
    try:
        while client.recv(65536):
            pass
    except ConnectionResetError:  # dropped with the close frame still unread: the usual end
        pass


def test_a_socket_whose_browser_never_reads_is_closed_with_its_backlog_bounded(flooding_server):
    port, server = flooding_server
    client = open_and_never_read(port)
    # Without the bound the socket would stay open (and its buffer grow by 2-3 MB a second) until
    # daphne's keepalive dropped it: 50 s with its default pings, never within this test.
    report = report_of(server, timeout=30)
    # The backlog passed the bound once, by one message at most: the close was the bound's.
    assert MAX_UNSENT_BYTES < report["largest_backlog"] <= MAX_UNSENT_BYTES + MESSAGE_BYTES + FRAME_OVERHEAD_BYTES
    read_until_closed(client)
    client.close()


def test_every_websocket_of_the_application_passes_through_the_bound():
    from config.asgi import application

    assert isinstance(application.application_mapping["websocket"], BoundedSends)
