"""``openssl ocsp`` asks a running NatID server (uvicorn, as ``natid serve`` runs it) about a
citizen's certificate before and after their death is reported (issue 8, "Life events")."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization

from api.app import create_app
from api.context import AppContext
from api.lifecycle import record_event
from registry import EventSource
from tests.ca._issuance import add_person
from tests.conftest import require_command


@pytest.fixture
def served(lc_ctx: AppContext) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(lc_ctx), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # waiting for the socket, not for time to pass
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
@pytest.mark.tool
def test_openssl_ocsp_says_revoked_after_a_death_event(
    lc_ctx: AppContext, served: str, tmp_path: Path
) -> None:
    openssl = require_command("openssl")
    person = add_person(lc_ctx.register)
    cert = lc_ctx.ca().issue_with_server_key("citizen-sign", person.id, actor="test")
    hierarchy = lc_ctx.ca().hierarchy()
    files = {
        "cert.pem": cert.certificate,
        "issuer.pem": hierarchy.cas[cert.issuer],
        "root.pem": hierarchy.cas["root"],
    }
    for name, value in files.items():
        (tmp_path / name).write_bytes(value.public_bytes(serialization.Encoding.PEM))

    def ask() -> str:
        done = subprocess.run(
            [openssl, "ocsp", "-issuer", str(tmp_path / "issuer.pem"),
             "-cert", str(tmp_path / "cert.pem"), "-CAfile", str(tmp_path / "root.pem"),
             "-url", f"{served}/pki/ocsp/{cert.issuer}", "-no_nonce"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return done.stdout + done.stderr

    # The test clock stands still at 2026-11-01, so openssl may warn that the (correctly
    # signed) response's times are past; the status line follows the warning.
    status = re.compile(r"cert\.pem: (?:WARNING: Status times invalid\.\n.*\n)?(\w+)")
    before = ask()
    assert "Response verify OK" in before, before
    found = status.search(before)
    assert found is not None and found.group(1) == "good", before

    record_event(
        lc_ctx,
        {"type": "death", "subject": person.id, "date": "2026-10-30"},
        source=EventSource.CLI,
        actor="test",
    )

    after = ask()
    assert "Response verify OK" in after, after
    found = status.search(after)
    assert found is not None and found.group(1) == "revoked", after
    assert "Reason: cessationOfOperation" in after, after
