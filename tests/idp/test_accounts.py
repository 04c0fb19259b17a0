# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""Accounts and logging in: password (acr low), second factor (acr substantial), the
unknown-user rule, throttling, statuses, audit entries without personal data."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.clock import FixedClock
from core.operators import OperatorRole, OperatorService
from idp.account_models import AccountStatus, AuthenticatorKind
from idp.accounts import Account, AccountService, LoginResult
from idp.errors import (
    AccountExists,
    AccountNotActive,
    AuthenticatorError,
    LoginFailed,
    LoginThrottled,
    WeakPassword,
)
from idp.passwords import Argon2Parameters, Passwords
from idp.totp import TotpAuthenticators
from registry.records import AssuranceLevel, Person
from registry.service import EmbeddedRegister
from tests.idp._accounts import (  # noqa: F401 - fixtures
    FAST,
    NATIONAL_ID,
    PASSWORD,
    SOURCE,
    account,
    accounts,
    cache,
    code_at,
    events,
    ledger,
    passwords,
    person,
    person_record,
    register,
    throttle,
    totp,
)


def login(accounts: AccountService, clock: FixedClock, password: str = PASSWORD) -> LoginResult:
    return accounts.authenticate_password(NATIONAL_ID, password, source=SOURCE, at=clock.now())


def enrol_totp(accounts: AccountService, account: Account, clock: FixedClock) -> str:
    started = accounts.totp.begin(account.id, account_name="Sok Dara", at=clock.now(), actor="t")
    accounts.totp.confirm(
        account.id,
        started.authenticator_id,
        code_at(started.secret, clock.now()),
        at=clock.now(),
        actor="t",
    )
    clock.advance(dt.timedelta(minutes=1))
    return started.secret


def test_password_login_gives_acr_low_and_is_audited(
    accounts: AccountService, account: Account, clock: FixedClock, ledger: AuditLedger
) -> None:
    result = login(accounts, clock)
    assert (result.account_id, result.acr, result.amr) == (account.id, AssuranceLevel.LOW, ("pwd",))
    assert result.second_factor_available is False
    [entry] = events(ledger, "idp.login.succeeded")
    assert entry.actor == account.id
    assert entry.data["acr"] == "low"
    assert accounts.get(account.id).last_login_at == clock.now()


def test_id_card_number_may_be_typed_with_spaces(
    accounts: AccountService, account: Account, clock: FixedClock
) -> None:
    result = accounts.authenticate_password("000 123 456", PASSWORD, source=SOURCE, at=clock.now())
    assert result.account_id == account.id


def test_unknown_user_and_wrong_password_look_the_same(
    accounts: AccountService,
    account: Account,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both go through one real Argon2id verification and get the same error and message."""
    calls: list[str] = []
    real_verify = Passwords.verify
    real_dummy = Passwords.verify_dummy

    def spy_verify(self: Passwords, stored: str, password: str) -> object:
        calls.append("verify")
        return real_verify(self, stored, password)

    def spy_dummy(self: Passwords, password: str) -> None:
        calls.append("dummy")
        # The dummy path really runs Argon2: time_cost/memory as configured.
        assert self._hasher.time_cost == FAST.time_cost
        real_dummy(self, password)

    monkeypatch.setattr(Passwords, "verify", spy_verify)
    monkeypatch.setattr(Passwords, "verify_dummy", spy_dummy)
    answers = []
    for identifier in (NATIONAL_ID, "000999999", "not a number"):
        with pytest.raises(LoginFailed) as caught:
            accounts.authenticate_password(
                identifier, "wrong password here", source=SOURCE, at=clock.now()
            )
        answers.append((type(caught.value), caught.value.code, str(caught.value)))
    assert len(set(answers)) == 1
    assert calls == ["verify", "dummy", "dummy"]


def test_dummy_verification_is_a_real_argon2_hash(
    accounts: AccountService, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    seen: list[str] = []
    real = PasswordHasher.verify

    def spy(self: PasswordHasher, stored: str, password: str | bytes) -> bool:
        seen.append(stored)
        return real(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    with pytest.raises(LoginFailed):
        accounts.authenticate_password(
            "000999999", "anything at all", source=SOURCE, at=clock.now()
        )
    assert len(seen) == 1
    assert seen[0].startswith("$argon2id$")


def test_failures_are_audited_without_the_id_number_or_password(
    accounts: AccountService, account: Account, clock: FixedClock, ledger: AuditLedger
) -> None:
    for identifier in (NATIONAL_ID, "000999999"):
        with pytest.raises(LoginFailed):
            accounts.authenticate_password(
                identifier, "wrong password here", source=SOURCE, at=clock.now()
            )
    failed = events(ledger, "idp.login.failed")
    assert [(e.actor, e.data["reason"]) for e in failed] == [
        (account.id, "wrong_password"),
        (None, "unknown_identifier"),
    ]
    everything = json.dumps([(e.actor, e.subject, e.data) for e in ledger.tail(500)])
    assert NATIONAL_ID not in everything
    assert "000999999" not in everything
    assert "wrong password" not in everything
    assert PASSWORD not in everything


def test_guessing_is_throttled_the_same_for_unknown_and_known_users(
    accounts: AccountService, account: Account, clock: FixedClock
) -> None:
    for identifier in (NATIONAL_ID, "000999999"):
        for _ in range(4):
            with pytest.raises(LoginFailed):
                accounts.authenticate_password(
                    identifier, "bad guess 123", source=SOURCE, at=clock.now()
                )
        with pytest.raises(LoginThrottled) as caught:
            accounts.authenticate_password(identifier, PASSWORD, source=SOURCE, at=clock.now())
        assert caught.value.retry_after == 2
    clock.advance(dt.timedelta(seconds=3))
    assert login(accounts, clock).account_id == account.id


def test_right_password_on_a_locked_account_says_so_wrong_one_does_not(
    accounts: AccountService, account: Account, clock: FixedClock
) -> None:
    accounts.set_status(account.id, AccountStatus.LOCKED, actor="officer", reason="lost phone")
    with pytest.raises(LoginFailed):
        login(accounts, clock, "wrong password here")
    with pytest.raises(AccountNotActive) as caught:
        login(accounts, clock)
    assert "locked" in str(caught.value)
    accounts.set_status(account.id, AccountStatus.ACTIVE, actor="officer")
    login(accounts, clock)


def test_pending_account_cannot_log_in_until_activated(
    accounts: AccountService, person: Person, clock: FixedClock
) -> None:
    created = accounts.create(person.id, actor="ra-officer")
    assert created.status is AccountStatus.PENDING
    accounts.set_password(created.id, PASSWORD, actor="ra-officer")
    with pytest.raises(AccountNotActive):
        login(accounts, clock)
    accounts.set_password(created.id, PASSWORD, actor=created.id, activate=True)
    assert login(accounts, clock).account_id == created.id


def test_disabled_account_cannot_be_reopened(accounts: AccountService, account: Account) -> None:
    accounts.set_status(account.id, AccountStatus.DISABLED, actor="officer", reason="death")
    with pytest.raises(AccountNotActive):
        accounts.set_status(account.id, AccountStatus.ACTIVE, actor="officer")


def test_one_account_per_person(accounts: AccountService, account: Account) -> None:
    with pytest.raises(AccountExists):
        accounts.create(account.person_id, actor="test")


def test_weak_password_refused_and_nothing_stored(accounts: AccountService, person: Person) -> None:
    created = accounts.create(person.id, actor="test")
    with pytest.raises(WeakPassword) as caught:
        accounts.set_password(created.id, f"id {NATIONAL_ID} pw", actor="test")
    assert "ID card number" in str(caught.value)
    assert NATIONAL_ID not in str(caught.value)
    assert accounts.authenticators(created.id) == []


def test_account_row_never_holds_the_id_number_or_password(
    accounts: AccountService, account: Account, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        dump = " ".join(
            str(v)
            for table in ("idp_accounts", "idp_authenticators")
            for row in session.execute(text(f"SELECT * FROM {table}"))
            for v in row
        )
    assert NATIONAL_ID not in dump
    assert PASSWORD not in dump
    assert "$argon2id$" in dump


def test_login_rehashes_when_parameters_change(
    session_factory: sessionmaker[Session],
    register: EmbeddedRegister,
    ledger: AuditLedger,
    clock: FixedClock,
    throttle: object,
    totp: TotpAuthenticators,
    account: Account,
    accounts: AccountService,
) -> None:
    stronger = AccountService(
        session_factory,
        register=register,
        ledger=ledger,
        clock=clock,
        passwords=Passwords(Argon2Parameters(time_cost=2, memory_kib=2048)),
        throttle=throttle,  # type: ignore[arg-type]
        totp=totp,
    )
    stronger.authenticate_password(NATIONAL_ID, PASSWORD, source=SOURCE, at=clock.now())
    with session_factory() as session:
        stored = session.execute(text("SELECT password_hash FROM idp_authenticators")).scalar_one()
    assert "m=2048,t=2" in stored
    assert events(ledger, "idp.login.succeeded")[-1].data["rehashed"] is True
    # The old service still verifies the new hash (parameters travel in the PHC string).
    login(accounts, clock)


def test_second_factor_gives_substantial(
    accounts: AccountService, account: Account, clock: FixedClock, ledger: AuditLedger
) -> None:
    secret = enrol_totp(accounts, account, clock)
    first = login(accounts, clock)
    assert first.second_factor_available is True
    second = accounts.verify_second_factor(
        first, code_at(secret, clock.now()), source=SOURCE, at=clock.now()
    )
    assert second.acr is AssuranceLevel.SUBSTANTIAL
    assert second.amr == ("pwd", "otp", "mfa")
    last = events(ledger, "idp.login.succeeded")[-1]
    assert (last.actor, last.data["step"], last.data["acr"]) == (
        account.id,
        "second_factor",
        "substantial",
    )


def test_recovery_code_works_once_as_second_factor(
    accounts: AccountService, account: Account, clock: FixedClock
) -> None:
    started = accounts.totp.begin(account.id, account_name="x", at=clock.now(), actor="t")
    codes = accounts.totp.confirm(
        account.id,
        started.authenticator_id,
        code_at(started.secret, clock.now()),
        at=clock.now(),
        actor="t",
    )
    first = login(accounts, clock)
    assert (
        accounts.verify_second_factor(first, codes[3], source=SOURCE, at=clock.now()).acr
        == "substantial"
    )
    with pytest.raises(LoginFailed):
        accounts.verify_second_factor(first, codes[3], source=SOURCE, at=clock.now())


def test_wrong_second_factor_is_throttled(
    accounts: AccountService, account: Account, clock: FixedClock, ledger: AuditLedger
) -> None:
    secret = enrol_totp(accounts, account, clock)
    first = login(accounts, clock)
    wrong = code_at(secret, clock.now(), offset=7)
    for _ in range(4):
        with pytest.raises(LoginFailed):
            accounts.verify_second_factor(first, wrong, source=SOURCE, at=clock.now())
    with pytest.raises(LoginThrottled):
        accounts.verify_second_factor(
            first, code_at(secret, clock.now()), source=SOURCE, at=clock.now()
        )
    reasons = [e.data["reason"] for e in events(ledger, "idp.login.failed")]
    assert reasons == ["totp_mismatch"] * 4 + ["throttled"]
    assert wrong not in json.dumps([e.data for e in ledger.tail(500)])


def test_second_factor_must_follow_the_password_soon(
    accounts: AccountService, account: Account, clock: FixedClock
) -> None:
    secret = enrol_totp(accounts, account, clock)
    first = login(accounts, clock)
    clock.advance(dt.timedelta(minutes=11))
    with pytest.raises(LoginFailed) as caught:
        accounts.verify_second_factor(
            first, code_at(secret, clock.now()), source=SOURCE, at=clock.now()
        )
    assert caught.value.code == "login_expired"


def test_acr_is_capped_by_identity_proofing(
    accounts: AccountService, register: EmbeddedRegister, clock: FixedClock
) -> None:
    # Self-declared identity (never proven in person): a second factor cannot make it substantial.
    unproven = register.add_person(person_record("000555666"))
    created = accounts.create(unproven.id, actor="t", activate=True)
    accounts.set_password(created.id, PASSWORD, actor="t")
    started = accounts.totp.begin(created.id, account_name="x", at=clock.now(), actor="t")
    accounts.totp.confirm(
        created.id,
        started.authenticator_id,
        code_at(started.secret, clock.now()),
        at=clock.now(),
        actor="t",
    )
    clock.advance(dt.timedelta(minutes=1))
    first = accounts.authenticate_password("000555666", PASSWORD, source=SOURCE, at=clock.now())
    second = accounts.verify_second_factor(
        first, code_at(started.secret, clock.now()), source=SOURCE, at=clock.now()
    )
    assert second.acr is AssuranceLevel.LOW


def test_authenticators_listed_without_secrets(
    accounts: AccountService, account: Account, clock: FixedClock
) -> None:
    enrol_totp(accounts, account, clock)
    kinds = [a.kind for a in accounts.authenticators(account.id)]
    assert kinds == [AuthenticatorKind.PASSWORD, AuthenticatorKind.TOTP]
    assert "argon2" not in repr(accounts.authenticators(account.id))


def test_claims_subject_carries_operator_roles(
    accounts: AccountService,
    account: Account,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    clock: FixedClock,
) -> None:
    operators = OperatorService(session_factory, ledger=ledger, clock=clock)
    operator, _token = operators.add("dara.ra", [OperatorRole.RA_OFFICER])
    accounts.link_operator(account.id, operator.id, actor="cli")
    assert accounts.claims_subject(account.id).roles == {"ra-officer"}
    operators.disable("dara.ra")
    assert accounts.claims_subject(account.id).roles == frozenset()


def test_check_password_accepts_only_the_current_password_and_is_no_login(
    accounts: AccountService, account: Account, clock: FixedClock, ledger: AuditLedger
) -> None:
    accounts.check_password(account.id, PASSWORD)
    accounts.set_password(account.id, "a brand new passphrase", actor="test")
    for _ in range(6):  # more than the login throttle allows: it is not a login
        with pytest.raises(AuthenticatorError) as caught:
            accounts.check_password(account.id, PASSWORD)
        assert caught.value.code == "password_mismatch"
    accounts.check_password(account.id, "a brand new passphrase")
    assert events(ledger, "idp.login.failed") == []
    assert events(ledger, "idp.login.succeeded") == []
    assert accounts.get(account.id).last_login_at is None
    assert login(accounts, clock, "a brand new passphrase").account_id == account.id


def test_check_password_of_an_account_without_one_fails(
    accounts: AccountService, person: Person
) -> None:
    created = accounts.create(person.id, actor="test")
    with pytest.raises(AuthenticatorError) as caught:
        accounts.check_password(created.id, PASSWORD)
    assert caught.value.code == "no_password"
