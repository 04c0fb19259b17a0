"""Client secret authentication looks the client up once (the client and its secret's digest
come from one look-up) and still compares a digest whatever was found, so an unknown client
costs the same comparison as a wrong secret, with the same error."""

from __future__ import annotations

import hmac
from typing import Any

import pytest

from core.clock import FixedClock
from idp.errors import InvalidClient
from idp.service import ProviderCore
from tests.idp.conftest import TOKEN_URL


def test_secret_authentication_reads_the_client_once_and_always_compares(
    core: ProviderCore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = core.clients
    added = clients.add(
        name="x", redirect_uris=["https://x.gov.kh/cb"], auth_method="client_secret_basic"
    )
    cid, secret = added.client.client_id, added.client_secret
    assert secret is not None
    entries: list[Any] = []
    compared: list[int] = []
    real_entry = clients._entry
    real_compare = hmac.compare_digest

    def entry(client_id: Any) -> Any:
        entries.append(client_id)
        return real_entry(client_id)

    def compare(a: Any, b: Any) -> bool:
        compared.append(1)
        return real_compare(a, b)

    monkeypatch.setattr(clients, "_entry", entry)
    monkeypatch.setattr(hmac, "compare_digest", compare)

    def attempt(client_id: str | None, method: str, given: str) -> Any:
        entries.clear()
        compared.clear()
        try:
            return clients.authenticate(
                client_id=client_id, method=method, secret=given, endpoint_url=TOKEN_URL,
                at=clock.now(),
            ).client_id  # fmt: skip
        except InvalidClient as exc:
            return str(exc)
        finally:
            assert len(entries) == 1 and len(compared) == 1

    assert attempt(cid, "client_secret_basic", secret) == cid
    for client_id, method, given in [
        (cid, "client_secret_basic", secret + "x"),
        (cid, "client_secret_post", secret),
        ("unknown", "client_secret_basic", secret),
        (None, "client_secret_basic", secret),
        ("", "client_secret_basic", secret),
        ("x" * 65, "client_secret_basic", secret),
    ]:
        assert attempt(client_id, method, given) == "client authentication failed"
