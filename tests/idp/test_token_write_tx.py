"""The code exchange's write transaction (idp/tokens.py on core/write_tx.py) against the
``Session`` path it replaces, on SQLite and PostgreSQL: the same rows, the same audit entry,
the same errors, all or nothing, and listeners told only after the commit."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from core.audit import AuditLedger, AuditUnavailable
from core.clock import FixedClock
from core.db import make_engine, make_session_factory
from idp.clients import Client
from idp.codes import AuthorizationGrant
from idp.errors import IdPStoreUnavailable, InvalidClient
from idp.service import ProviderCore
from idp.tokens import TokenService
from tests.idp._flow import secret_client

_GRANT_COLUMNS = (
    "client_id, subject, sid, scopes, {claims}, acr, amr, {auth_time}, {created_at},"
    " {expires_at}, revoked_at, revoke_reason, dpop_jkt"
)
_REFRESH_COLUMNS = "{created_at}, {expires_at}, used_at"


def _timestamp(engine: Engine, column: str) -> str:
    if engine.dialect.name == "sqlite":
        return f"typeof({column}) || ':' || {column}"
    return f"{column}::text"


def _raw(engine: Engine, table: str, columns: str, key: str, value: str) -> list[tuple[Any, ...]]:
    fields = columns.format(
        claims="hex(claims)" if engine.dialect.name == "sqlite" else "claims",
        **{c: _timestamp(engine, c) for c in ("auth_time", "created_at", "expires_at")},
    )
    sql = text(f"SELECT {fields} FROM {table} WHERE {key} = :value")
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sql, {"value": value})]


def _grant(client: Client, n: int, at: dt.datetime, **kw: Any) -> AuthorizationGrant:
    values: dict[str, Any] = {
        "grant_id": f"grant-{n:040d}",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0],
        "subject": "person-1",
        "scopes": ("openid", "profile"),
        "code_challenge": "x",
        "auth_time": at - dt.timedelta(minutes=1, microseconds=7),
        "issued_at": at,
        "nonce": "n",
        "acr": "substantial",
        "amr": ("pwd", "otp"),
        "sid": "session-1",
        "claims": {"userinfo": {"name": None, "ស្រី": {"essential": True}}},
    }
    values.update(kw)
    return AuthorizationGrant(**values)


def _on(core: ProviderCore, path: str, monkeypatch: pytest.MonkeyPatch) -> TokenService:
    if path == "session":
        monkeypatch.setattr(core.tokens, "_engine", None)
    else:
        assert core.tokens._engine is not None
    return core.tokens


def test_both_paths_store_the_same_rows(
    core: ProviderCore, engine: Engine, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = secret_client(core)
    at = clock.now().replace(microsecond=123456)
    stored = []
    for n, path in enumerate(("write_tx", "session")):
        with monkeypatch.context() as patch:
            tokens = _on(core, path, patch)
            response = tokens.exchange_code(
                _grant(client, n, at), client=client, dpop_jkt="jkt-1", at=at
            )
        assert response.refresh_token is not None
        grant_id = response.grant_id
        (entry,) = _tail(core)
        data = json.loads(entry.data_json)
        assert data.pop("grant_id") == grant_id
        stored.append(
            (
                _raw(engine, "idp_grants", _GRANT_COLUMNS, "id", grant_id),
                _raw(engine, "idp_refresh_tokens", _REFRESH_COLUMNS, "grant_id", grant_id),
                (entry.event, entry.actor, entry.subject, data),
            )
        )
    assert len(stored[0][0]) == len(stored[0][1]) == 1
    assert stored[0] == stored[1]


def _tail(core: ProviderCore) -> list[Any]:
    ledger: AuditLedger = core.tokens._ledger
    return ledger.tail(1)


@pytest.mark.parametrize("path", ["write_tx", "session"])
def test_a_failing_ledger_stores_nothing(
    core: ProviderCore,
    engine: Engine,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    client = secret_client(core)
    ledger: AuditLedger = core.tokens._ledger
    told: list[int] = []
    ledger.add_listener("test", lambda e: told.append(e.seq))
    seq = ledger.head().seq + 1
    with engine.begin() as conn:  # the next entry written behind the ledger's back
        conn.execute(
            text(
                "INSERT INTO audit_entries (seq, at, event, data, prev_hash, entry_hash) "
                "VALUES (:seq, '2026-11-01 09:00:00', 'test.foreign.row', '{}', 'x', 'y')"
            ),
            {"seq": seq},
        )
    tokens = _on(core, path, monkeypatch)
    grant = _grant(client, 1, clock.now())
    with pytest.raises(AuditUnavailable, match=r"failed \(IntegrityError\)"):
        tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    assert _raw(engine, "idp_grants", _GRANT_COLUMNS, "id", grant.grant_id) == []
    assert _raw(engine, "idp_refresh_tokens", _REFRESH_COLUMNS, "grant_id", grant.grant_id) == []
    assert told == []
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = :seq"), {"seq": seq})
    tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    assert told == [seq]
    assert ledger.verify().ok


@pytest.mark.parametrize("path", ["write_tx", "session"])
def test_a_client_disabled_after_it_authenticated_gets_no_tokens(
    core: ProviderCore,
    engine: Engine,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    """The race of a code exchange with ``natid idp client disable``: the client authenticated
    and its code was redeemed, then the operator disabled it. The disable revoked the grants
    that existed; the one this exchange would write must not appear afterwards, live."""
    client = secret_client(core)  # as authenticate() returned it, before the disable
    tokens = _on(core, path, monkeypatch)
    ledger: AuditLedger = core.tokens._ledger
    head = ledger.head().seq
    core.clients.disable(client.client_id, actor="op-1", reason="assertion key leaked")
    grant = _grant(client, 1, clock.now())
    with pytest.raises(InvalidClient) as refused:
        tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    assert refused.value.http_status == 401
    assert _raw(engine, "idp_grants", _GRANT_COLUMNS, "id", grant.grant_id) == []
    assert _raw(engine, "idp_refresh_tokens", _REFRESH_COLUMNS, "grant_id", grant.grant_id) == []
    assert [e.event for e in ledger.tail(ledger.head().seq - head)] == ["idp.client.disabled"]
    # Enabled again, the same client gets its tokens (the check is of the row, not a cache).
    core.clients.enable(client.client_id, actor="op-1")
    tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())


# PostgreSQL only: SQLite takes its write lock at BEGIN, so the two transactions cannot overlap.
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("first", ["idp.token.issued", "idp.client.disabled"])
def test_a_disable_racing_the_exchange_leaves_no_live_grant(
    core: ProviderCore,
    engine: Engine,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
) -> None:
    """The race with both transactions open at once (on PostgreSQL; SQLite's write lock taken
    at BEGIN orders them by itself). ``first`` is the transaction held open just before its
    audit entry while the other one runs: the exchange with its grant written (the disable must
    wait and then revoke that grant too), or the disable with the client row updated (the
    exchange must wait for it, then see the client disabled and write nothing)."""
    client = secret_client(core)  # as authenticate() returned it, before the disable
    ledger: AuditLedger = core.tokens._ledger
    real_append = ledger.append
    in_tx, go_on = threading.Event(), threading.Event()

    def paused_append(event: str, **kw: Any) -> Any:
        if event == first:
            in_tx.set()
            assert go_on.wait(30)
        return real_append(event, **kw)

    monkeypatch.setattr(ledger, "append", paused_append)
    grant = _grant(client, 1, clock.now())
    exchange = _Thread(
        lambda: core.tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    )
    disable = _Thread(lambda: core.clients.disable(client.client_id, actor="op-1", reason="leak"))
    held, other = (exchange, disable) if first == "idp.token.issued" else (disable, exchange)
    held.start()
    assert in_tx.wait(30)
    other.start()
    # Until the other transaction waits for a lock, or (if nothing made it wait) has ended.
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'"
    )
    for _ in range(600):
        with engine.connect() as conn:
            if conn.execute(waiting).scalar() or not other.running(0.05):
                break
    go_on.set()
    exchange.join(60)
    disable.join(60)
    assert disable.error is None
    if first == "idp.client.disabled":
        assert isinstance(exchange.error, InvalidClient)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT revoke_reason FROM idp_grants WHERE id = :id"), {"id": grant.grant_id}
        ).all()
    assert stored in ([], [("client_disabled",)])


class _Thread(threading.Thread):
    """A thread that keeps the exception its work raised, for the test to look at."""

    def __init__(self, work: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self._work = work
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # looked at by the test thread
            self.error = exc

    def running(self, wait: float) -> bool:
        self.join(wait)
        return self.is_alive()


@pytest.mark.parametrize("path", ["write_tx", "session"])
def test_a_failing_store_is_idp_store_unavailable(
    core: ProviderCore,
    engine: Engine,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    client = secret_client(core)
    ledger: AuditLedger = core.tokens._ledger
    tokens = _on(core, path, monkeypatch)
    grant = _grant(client, 1, clock.now())
    tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    head = ledger.head()
    told: list[int] = []
    ledger.add_listener("test", lambda e: told.append(e.seq))
    with pytest.raises(IdPStoreUnavailable) as duplicate:
        tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    assert str(duplicate.value) == (
        "the token store failed (IntegrityError); is the database migrated?"
    )
    naive = _grant(client, 2, clock.now(), auth_time=clock.now().replace(tzinfo=None))
    with pytest.raises(IdPStoreUnavailable, match=r"failed \(StatementError\)"):
        tokens.exchange_code(naive, client=client, dpop_jkt=None, at=clock.now())
    assert ledger.head() == head and told == []
    assert _raw(engine, "idp_grants", _GRANT_COLUMNS, "id", naive.grant_id) == []


@pytest.mark.parametrize("path", ["write_tx", "session"])
def test_an_unreachable_database_is_idp_store_unavailable(
    core: ProviderCore,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    client = secret_client(core)
    broken = make_engine(f"sqlite:///{tmp_path / 'missing' / 'natid.db'}")
    try:
        sessions = make_session_factory(broken)
        monkeypatch.setattr(core.tokens, "_sessions", sessions)
        monkeypatch.setattr(core.tokens, "_engine", broken if path == "write_tx" else None)
        with pytest.raises(IdPStoreUnavailable, match=r"failed \(OperationalError\)"):
            core.tokens.exchange_code(
                _grant(client, 1, clock.now()), client=client, dpop_jkt=None, at=clock.now()
            )
    finally:
        broken.dispose()


@pytest.mark.parametrize("path", ["write_tx", "session"])
def test_listeners_hear_after_the_commit(
    core: ProviderCore,
    engine: Engine,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    client = secret_client(core)
    ledger: AuditLedger = core.tokens._ledger
    grant = _grant(client, 1, clock.now())
    seen: list[int] = []

    def listener(entry: Any) -> None:
        # Another connection already sees the grant: the transaction has committed.
        seen.append(len(_raw(engine, "idp_grants", _GRANT_COLUMNS, "id", grant.grant_id)))

    ledger.add_listener("test", listener)
    _on(core, path, monkeypatch).exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    assert seen == [1]
