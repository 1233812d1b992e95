"""Helpers for tests of live parts: a real HTTP server for tests that need separate connections
(threads, a browser, the tablet), and where screenshots go."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Screenshots land in docs/screenshots only when asked (RUHU_SCREENSHOTS=1), so an ordinary test
# run does not rewrite the committed images; otherwise they go to a temporary folder.
SCREENSHOTS = (Path(__file__).resolve().parents[1] / "docs" / "screenshots"
               if os.environ.get("RUHU_SCREENSHOTS") == "1"
               else Path(tempfile.gettempdir()) / "ruhu-screenshots")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(proc: subprocess.Popen[str], port: int, seconds: float = 120) -> None:
    """Wait until a ``ruhu serve`` started as ``proc`` answers ``/health`` on ``port`` (fails
    with its output when it exits first)."""
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail("ruhu serve exited:\n" + (proc.stdout.read() if proc.stdout else ""))
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "ruhu serve did not come up"
        time.sleep(0.3)


@contextmanager
def serve(app: Any, lifespan: str = "auto") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a thread at a free port of 127.0.0.1; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
