"""Fixtures of the account-area tests: a real application (api.app.create_app) on a context
with the development CA hierarchy (tests/api/_ra.py), cheap Argon2 parameters, and a browser
(TestClient) that connects from 127.0.0.1, the default trusted proxy address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext
from ca.hierarchy import Hierarchy
from core.clock import FixedClock
from tests.api._ra import golden_keys, installed_context
from tests.idp._web import fast_passwords

__all__ = ["BASE_URL", "golden_keys"]

BASE_URL = "http://localhost:8000"


@pytest.fixture
def ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    context = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    fast_passwords(context)
    try:
        yield context
    finally:
        context.close()


def browser(ctx: AppContext, address: str = "127.0.0.1") -> TestClient:
    """A new browser (its own cookies) connecting from ``address``."""
    return TestClient(
        create_app(ctx), base_url=BASE_URL, client=(address, 51000), raise_server_exceptions=True
    )


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with browser(ctx) as c:
        yield c
