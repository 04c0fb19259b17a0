"""Whatever arrives in ``Authorization``, the admin API answers 401 problem+json, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.context import AppContext
from core.cache import InMemoryCache

PROBLEM = "application/problem+json"

# Header values as bytes: anything but CR, LF and NUL, which no HTTP parser lets through.
raw_values = st.binary(max_size=300).filter(lambda b: not set(b) & {0, 10, 13})
bearer_values = st.builds(
    lambda scheme, token: f"{scheme} {token}".encode("latin-1", "replace"),
    st.sampled_from(["Bearer", "bearer", "BEARER", "Bearer ", "Basic", "Bearer\t"]),
    st.one_of(
        st.text(max_size=120),
        st.builds(
            lambda tid, secret: f"natid_op_{tid}_{secret}",
            st.text("0123456789abcdefg", min_size=15, max_size=17),
            st.text("ABCxyz019-_=é", min_size=42, max_size=44),
        ),
    ),
).filter(lambda b: not set(b) & {0, 10, 13})


@pytest.fixture
def admin_client(app_ctx: AppContext) -> Iterator[TestClient]:
    app = create_app(app_ctx)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=st.one_of(raw_values, bearer_values))
@example(value=b"Bearer " + b"\xff" * 50)
@example(value=b"Bearer natid_op_0123456789abcdef_" + b"A" * 43 + b"\x7f")
@example(value=b"Bearer " + b"natid_op_" * 40)
def test_random_authorization_headers_never_500(
    admin_client: TestClient, app_ctx: AppContext, value: bytes
) -> None:
    # A fresh failure counter per example, so every value reaches the token parser and the
    # ledger instead of stopping at the failure limit.
    app_ctx.cache = InMemoryCache(clock=app_ctx.clock)
    for path in ("/admin/v1/operators/me", "/admin/v1/audit/tail"):
        r = admin_client.get(path, headers=[(b"Authorization", value)])
        assert r.status_code == 401, (value, r.status_code, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert r.headers["www-authenticate"].startswith('Bearer realm="natid-admin"')
