"""`natid serve` on an empty machine: the first thing a newcomer does.

Runs the real console script in a subprocess on a free port with a fresh data directory and
waits for ``/readyz`` to answer 200, as ``make run`` would.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests._env import environ_without_natid
from tests._serving import free_port

pytestmark = pytest.mark.slow


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"natid serve exited with {proc.returncode}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"/readyz never answered 200 within {timeout}s (last error: {last})")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_on_empty_data_dir_becomes_ready(tmp_path: Path, workers: int) -> None:
    port = free_port()
    env = environ_without_natid()
    natid = Path(sys.executable).with_name("natid")
    proc = subprocess.Popen(
        [
            str(natid),
            "serve",
            "--data-dir",
            str(tmp_path / "var"),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        r = _wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        assert r.json()["checks"] == {"database": "ok", "key_backend": "ok", "cache": "ok"}
        assert (tmp_path / "var" / "natid.db").exists()
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "natid_http_requests_total" in metrics
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
