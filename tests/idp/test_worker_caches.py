"""The per-worker copies that keep the login path off the database stay coherent between
workers: a key rotation or a client registration made by one worker is used by the next request
another worker answers (the shared cache carries a version), and a copy is never kept for a
state another worker could still be creating (no active key yet)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import InMemoryCache
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from idp.clients import ClientRegistry
from idp.errors import InvalidClient
from idp.keys import SigningKeys

DAY = dt.timedelta(days=1)


def _keys(
    session_factory: sessionmaker[Session],
    backend: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
    cache: InMemoryCache,
) -> SigningKeys:
    return SigningKeys(
        session_factory, keys=backend, ledger=ledger, clock=clock, cache=cache, cache_period=DAY
    )


def _statements(session_factory: sessionmaker[Session]) -> list[str]:
    seen: list[str] = []
    engine = session_factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(str(a[2])))
    return seen


def test_rotation_by_one_worker_is_seen_by_the_other_at_once(
    session_factory: sessionmaker[Session],
    backend: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
) -> None:
    shared = InMemoryCache(clock=clock)
    worker_a = _keys(session_factory, backend, ledger, clock, shared)
    worker_b = _keys(session_factory, backend, ledger, clock, shared)
    # Worker B asks before there is any key: nothing is remembered for it.
    assert worker_b.published(at=clock.now()) == []
    first = worker_a.ensure_active()
    assert worker_b.signing_key().kid == first.kid

    # B signs from its copy: no key-table read per token.
    seen = _statements(session_factory)
    for _ in range(5):
        worker_b.signing_key()
        worker_b.published(at=clock.now())
    assert not [s for s in seen if "idp_signing_keys" in s]

    published = worker_a.rotate().published
    assert published is not None
    # The clock has not moved (the copy's own lifetime has not run out): the version did it.
    assert [k.kid for k in worker_b.published(at=clock.now())] == [first.kid, published.kid]
    clock.advance(DAY)
    activated = worker_a.rotate().activated
    assert activated is not None and activated.kid == published.kid
    assert worker_b.signing_key().kid == published.kid
    # The retired key stays published for the tokens it signed.
    assert first.kid in [k.kid for k in worker_b.published(at=clock.now())]


def test_client_registered_by_one_worker_authenticates_at_another(
    session_factory: sessionmaker[Session], ledger: AuditLedger, clock: FixedClock
) -> None:
    shared = InMemoryCache(clock=clock)
    issuer = "https://id.example.gov.kh"
    worker_a = ClientRegistry(
        session_factory, ledger=ledger, cache=shared, clock=clock, issuer=issuer
    )
    worker_b = ClientRegistry(
        session_factory, ledger=ledger, cache=shared, clock=clock, issuer=issuer
    )
    first = worker_a.add(
        name="Ministry portal", redirect_uris=["https://portal.example.gov.kh/cb"],
        auth_method="client_secret_basic",
    )  # fmt: skip
    assert first.client_secret is not None

    def login(registry: ClientRegistry, client_id: str, secret: str) -> str:
        return registry.authenticate(
            client_id=client_id,
            method="client_secret_basic",
            endpoint_url=issuer + "/token",
            at=clock.now(),
            secret=secret,
        ).client_id

    assert login(worker_b, first.client.client_id, first.client_secret) == first.client.client_id
    seen = _statements(session_factory)
    for _ in range(5):
        login(worker_b, first.client.client_id, first.client_secret)
        worker_b.get(first.client.client_id)
    assert not [s for s in seen if "idp_clients" in s]  # served from B's copy

    # A wrong secret still fails from the copy; a client added later is found at once.
    with pytest.raises(InvalidClient):
        login(worker_b, first.client.client_id, first.client_secret + "x")
    second = worker_a.add(
        name="Tax office", redirect_uris=["https://tax.example.gov.kh/cb"],
        auth_method="client_secret_post",
    )  # fmt: skip
    assert worker_b.get(second.client.client_id).name == "Tax office"
