"""Operators and their tokens (core.operators): what an operator, an attacker and an auditor see.

Every test runs on SQLite and PostgreSQL (the ``session_factory`` fixture).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditEntry, AuditLedger, AuditUnavailable
from core.cache import CacheError, InMemoryCache
from core.clock import FixedClock
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.models import OperatorRow
from core.operators import (
    FAILURE_LIMIT,
    AuthenticationFailed,
    AuthFailure,
    DuplicateOperator,
    InvalidOperatorInput,
    OperatorRole,
    OperatorService,
    OperatorStatus,
    RequestInfo,
    RoleNotGranted,
    TooManyFailures,
)
from migrations import target_metadata

RA = OperatorRole.RA_OFFICER
CA = OperatorRole.CA_OPERATOR
AUDITOR = OperatorRole.AUDITOR
REQUEST = RequestInfo(
    method="GET", route="/admin/v1/operators/me", source="198.51.100.7", request_id="req-1"
)


def secret_of(token: str) -> str:
    """The secret part of ``natid_op_<16 hex>_<43 base64url>`` (which may itself hold ``_``)."""
    return token[len("natid_op_") + 17 :]


@pytest.fixture
def ledger(session_factory: sessionmaker[Session], clock: FixedClock) -> AuditLedger:
    return AuditLedger(session_factory, clock=clock)


@pytest.fixture
def service(
    session_factory: sessionmaker[Session], ledger: AuditLedger, clock: FixedClock
) -> OperatorService:
    return OperatorService(
        session_factory, ledger=ledger, clock=clock, cache=InMemoryCache(clock=clock)
    )


def _entries(ledger: AuditLedger, event: str | None = None) -> list[AuditEntry]:
    entries = ledger.tail(1000) if ledger.head().seq else []
    return [e for e in entries if event is None or e.event == event]


def _reason(service: OperatorService, token: str, **kwargs: object) -> AuthFailure:
    with pytest.raises(AuthenticationFailed) as caught:
        service.authenticate(token, request=REQUEST, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_token"
    assert caught.value.http_status == 401
    return caught.value.reason


# --- the happy path ----------------------------------------------------------------------------


def test_added_operator_authenticates_with_the_printed_token(service: OperatorService) -> None:
    operator, issued = service.add("alice.ra", [RA, AUDITOR])
    assert issued.token.startswith(f"natid_op_{issued.info.id}_")
    assert issued.info.operator_id == operator.id
    me = service.authenticate(issued.token, roles=[RA], request=REQUEST)
    assert me.id == operator.id
    assert me.name == "alice.ra"
    assert me.roles == {RA, AUDITOR}
    assert me.status is OperatorStatus.ACTIVE


def test_use_is_recorded_as_last_used(service: OperatorService, clock: FixedClock) -> None:
    _, issued = service.add("alice.ra", [RA])
    assert service.get("alice.ra").last_used_at is None
    me = service.authenticate(issued.token, request=REQUEST)
    assert me.last_used_at == clock.now()
    assert service.get("alice.ra").last_used_at == clock.now()
    [info] = service.tokens("alice.ra")
    assert info.last_used_at == clock.now()


def test_rotation_new_token_works_alongside_the_old_until_revoked(
    service: OperatorService,
) -> None:
    _, first = service.add("alice.ra", [RA])
    second = service.issue_token("alice.ra")
    assert second.token != first.token
    assert service.authenticate(first.token, request=REQUEST).name == "alice.ra"
    assert service.authenticate(second.token, request=REQUEST).name == "alice.ra"
    service.revoke_token(first.info.id)
    assert _reason(service, first.token) is AuthFailure.REVOKED
    assert service.authenticate(second.token, request=REQUEST).name == "alice.ra"


# --- what an attacker tries --------------------------------------------------------------------


def test_token_never_stored_in_clear(
    service: OperatorService, session_factory: sessionmaker[Session]
) -> None:
    _, issued = service.add("alice.ra", [RA])
    extra = service.issue_token("alice.ra")
    service.authenticate(issued.token, request=REQUEST)
    secrets = [secret_of(t.token) for t in (issued, extra)]
    with session_factory() as session:
        for table in target_metadata().sorted_tables:
            for row in session.execute(table.select()):
                dumped = repr(tuple(row))
                for secret in secrets:
                    assert secret not in dumped, table.name


def test_issued_token_repr_hides_the_secret(service: OperatorService) -> None:
    _, issued = service.add("alice.ra", [RA])
    assert issued.token not in repr(issued)
    assert secret_of(issued.token) not in repr(issued)


def test_guessed_secret_for_a_known_token_id_rejected(service: OperatorService) -> None:
    _, issued = service.add("alice.ra", [RA])
    forged = f"natid_op_{issued.info.id}_" + "A" * 43
    assert _reason(service, forged) is AuthFailure.UNKNOWN_TOKEN


def test_unknown_token_rejected(service: OperatorService) -> None:
    assert _reason(service, "natid_op_0123456789abcdef_" + "B" * 43) is AuthFailure.UNKNOWN_TOKEN


@pytest.mark.parametrize(
    "token",
    ["", "Bearer x", "natid_op_", "natid_op_XYZ_abc", "natid_op_0123456789abcdef_short", "é" * 80],
)
def test_malformed_token_rejected(service: OperatorService, token: str) -> None:
    assert _reason(service, token) is AuthFailure.MALFORMED


def test_expired_token_rejected(service: OperatorService, clock: FixedClock) -> None:
    _, issued = service.add("alice.ra", [RA], expires_in=dt.timedelta(days=7))
    clock.advance(dt.timedelta(days=7) - dt.timedelta(seconds=1))
    service.authenticate(issued.token, request=REQUEST)
    clock.advance(dt.timedelta(seconds=1))
    assert _reason(service, issued.token) is AuthFailure.EXPIRED


def test_tokens_expire_after_90_days_by_default(
    service: OperatorService, clock: FixedClock
) -> None:
    _, issued = service.add("alice.ra", [RA])
    assert issued.info.expires_at == clock.now() + dt.timedelta(days=90)
    clock.advance(dt.timedelta(days=90))
    assert _reason(service, issued.token) is AuthFailure.EXPIRED


@pytest.mark.parametrize("days", [0, -1, 366])
def test_token_lifetime_outside_one_day_to_a_year_refused(
    service: OperatorService, days: int
) -> None:
    with pytest.raises(InvalidOperatorInput):
        service.add("alice.ra", [RA], expires_in=dt.timedelta(days=days))


def test_disabled_operator_locked_out_with_every_token(service: OperatorService) -> None:
    _, first = service.add("alice.ra", [RA])
    second = service.issue_token("alice.ra")
    assert service.disable("alice.ra").status is OperatorStatus.DISABLED
    assert _reason(service, first.token) is AuthFailure.DISABLED
    assert _reason(service, second.token) is AuthFailure.DISABLED
    with pytest.raises(InvalidInput):
        service.issue_token("alice.ra")


def test_missing_role_refused(service: OperatorService, ledger: AuditLedger) -> None:
    operator, issued = service.add("carol.audit", [AUDITOR])
    with pytest.raises(RoleNotGranted) as caught:
        service.authenticate(issued.token, roles=[CA, RA], request=REQUEST)
    assert isinstance(caught.value, PermissionDenied)
    assert caught.value.code == "insufficient_role"
    [entry] = _entries(ledger, "operator.auth_failed")
    assert entry.actor == operator.id
    assert entry.data["reason"] == "role"
    assert entry.data["required"] == ["ca-operator", "ra-officer"]


def test_role_removed_from_the_code_grants_nothing(
    service: OperatorService, session_factory: sessionmaker[Session]
) -> None:
    _, issued = service.add("alice.ra", [RA])
    with session_factory.begin() as session:
        session.execute(update(OperatorRow).values(roles="root ra-officer"))
    me = service.authenticate(issued.token, request=REQUEST)
    assert me.roles == {RA}


def test_failures_from_one_address_throttled_then_forgiven_after_the_window(
    service: OperatorService, ledger: AuditLedger, clock: FixedClock
) -> None:
    _, issued = service.add("alice.ra", [RA])
    for _ in range(FAILURE_LIMIT):
        _reason(service, "natid_op_0123456789abcdef_" + "C" * 43)
    # Throttled: even the right token is refused now, before any lookup.
    with pytest.raises(TooManyFailures) as caught:
        service.authenticate(issued.token, request=REQUEST)
    assert caught.value.http_status == 429
    assert caught.value.retry_after == 60
    # Another address is not affected.
    other = RequestInfo(method="GET", route="/admin/v1/operators/me", source="203.0.113.9")
    assert service.authenticate(issued.token, request=other).name == "alice.ra"
    [throttled] = _entries(ledger, "operator.auth_throttled")
    assert throttled.data == {"source": "198.51.100.7", "failures": 20, "window_seconds": 60}
    clock.advance(dt.timedelta(seconds=61))
    assert service.authenticate(issued.token, request=REQUEST).name == "alice.ra"


def test_role_refusals_do_not_count_towards_the_failure_limit(service: OperatorService) -> None:
    _, issued = service.add("carol.audit", [AUDITOR])
    for _ in range(FAILURE_LIMIT + 5):
        with pytest.raises(RoleNotGranted):
            service.authenticate(issued.token, roles=[CA], request=REQUEST)
    assert service.authenticate(issued.token, roles=[AUDITOR], request=REQUEST)


def test_cache_outage_does_not_lock_operators_out(
    session_factory: sessionmaker[Session], ledger: AuditLedger, clock: FixedClock
) -> None:
    class BrokenCache(InMemoryCache):
        def get(self, key: str) -> bytes | None:
            raise CacheError("redis down")

        def incr(self, key: str, *, ttl: float) -> int:
            raise CacheError("redis down")

    service = OperatorService(session_factory, ledger=ledger, clock=clock, cache=BrokenCache())
    _, issued = service.add("alice.ra", [RA])
    assert _reason(service, "natid_op_0123456789abcdef_" + "D" * 43) is AuthFailure.UNKNOWN_TOKEN
    assert service.authenticate(issued.token, request=REQUEST).name == "alice.ra"


# --- names and roles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["123456789", "Alice", "al", "alice ra", "អាលីស", "alice.ra.", "-alice", "a" * 65]
)
def test_name_must_be_a_login_name_never_an_id_number(service: OperatorService, name: str) -> None:
    with pytest.raises(InvalidOperatorInput) as caught:
        service.add(name, [RA])
    # The refused value is not echoed: it might be a national ID number typed by mistake.
    assert "123456789" not in caught.value.message


def test_duplicate_name_refused(service: OperatorService) -> None:
    service.add("alice.ra", [RA])
    with pytest.raises(DuplicateOperator) as caught:
        service.add("alice.ra", [CA])
    assert isinstance(caught.value, Conflict)


@pytest.mark.parametrize("roles", [[], ["root"], ["RA-OFFICER"]])
def test_unknown_or_no_role_refused(service: OperatorService, roles: list[str]) -> None:
    with pytest.raises(InvalidOperatorInput):
        service.add("alice.ra", roles)


def test_unknown_operator_and_token_are_not_found(service: OperatorService) -> None:
    with pytest.raises(NotFound):
        service.disable("nobody")
    with pytest.raises(NotFound):
        service.revoke_token("0123456789abcdef")
    with pytest.raises(InvalidInput):
        service.revoke_token("not-a-token-id")


def test_revoke_accepts_a_whole_leaked_token(service: OperatorService) -> None:
    _, issued = service.add("alice.ra", [RA])
    assert service.revoke_token(issued.token).id == issued.info.id
    assert _reason(service, issued.token) is AuthFailure.REVOKED


# --- the audit trail ---------------------------------------------------------------------------


def test_admin_actions_audited_with_the_acting_operator(
    service: OperatorService, ledger: AuditLedger
) -> None:
    operator, issued = service.add("alice.ra", [RA, AUDITOR], actor="cli")
    extra = service.issue_token("alice.ra", actor="op-admin-1")
    service.revoke_token(extra.info.id)
    service.disable("alice.ra")
    service.disable("alice.ra")  # already disabled: no second entry
    events = [(e.event, e.actor, e.subject) for e in _entries(ledger)]
    assert events == [
        ("operator.added", "cli", operator.id),
        ("operator.token_issued", "cli", operator.id),
        ("operator.token_issued", "op-admin-1", operator.id),
        ("operator.token_revoked", "cli", operator.id),
        ("operator.disabled", "cli", operator.id),
    ]
    added = _entries(ledger, "operator.added")[0]
    assert added.data == {"roles": ["auditor", "ra-officer"]}
    issued_entries = _entries(ledger, "operator.token_issued")
    assert [e.data["token_id"] for e in issued_entries] == [issued.info.id, extra.info.id]


def test_every_use_audited_and_no_entry_contains_a_token_or_name(
    service: OperatorService, ledger: AuditLedger, clock: FixedClock
) -> None:
    operator, issued = service.add("alice.ra", [RA])
    service.authenticate(issued.token, request=REQUEST)
    _reason(service, issued.token[:-1] + ("x" if issued.token[-1] != "x" else "y"))
    _reason(service, "garbage")
    clock.advance(dt.timedelta(days=91))
    _reason(service, issued.token)

    [ok] = _entries(ledger, "operator.authenticated")
    assert ok.actor == operator.id
    assert ok.data == {
        "method": "GET",
        "route": "/admin/v1/operators/me",
        "source": "198.51.100.7",
        "request_id": "req-1",
        "token_id": issued.info.id,
    }
    failed = _entries(ledger, "operator.auth_failed")
    assert [e.data["reason"] for e in failed] == ["unknown_token", "malformed_token", "expired"]
    assert [e.subject for e in failed] == [operator.id, None, operator.id]
    assert all(e.actor is None for e in failed)
    secret = secret_of(issued.token)
    for entry in _entries(ledger):
        dumped = json.dumps(entry.to_json())
        assert secret not in dumped
        assert "garbage" not in dumped
        assert "alice.ra" not in dumped


def test_every_request_is_recorded_even_within_the_last_used_minute(
    service: OperatorService, ledger: AuditLedger, session_factory: sessionmaker[Session]
) -> None:
    _, issued = service.add("alice.ra", [RA])
    for _ in range(3):
        service.authenticate(issued.token, request=REQUEST)
    assert len(_entries(ledger, "operator.authenticated")) == 3
    with session_factory() as session:
        assert session.execute(text("SELECT count(*) FROM operators")).scalar_one() == 1


def test_no_unrecorded_use_when_the_ledger_is_down(
    service: OperatorService, ledger: AuditLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, issued = service.add("alice.ra", [RA])

    def down(*_args: object, **_kwargs: object) -> None:
        raise AuditUnavailable("the audit ledger's database failed")

    monkeypatch.setattr(ledger, "append", down)
    with pytest.raises(AuditUnavailable):
        service.authenticate(issued.token, request=REQUEST)
    # The use was refused as a whole: not even last_used_at moved.
    monkeypatch.undo()
    assert service.get("alice.ra").last_used_at is None
