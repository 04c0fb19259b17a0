# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""Passkeys (idp/passkeys.py): WebAuthn registration and discoverable login, verified by
py_webauthn against a software authenticator that builds the bytes a real one sends."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import InMemoryCache
from core.clock import FixedClock
from idp.account_models import AccountStatus, AuthenticatorRow
from idp.accounts import Account, AccountService
from idp.errors import AccountNotActive, AuthenticatorError, LoginFailed
from idp.passkeys import Passkeys, RelyingParty, passkey_level
from registry.records import AssuranceLevel
from registry.service import EmbeddedRegister
from tests.api.idp_account._authenticator import SoftAuthenticator, b64url, unb64url
from tests.idp._accounts import (  # noqa: F401 - fixtures
    PASSWORD,
    SOURCE,
    account,
    accounts,
    cache,
    events,
    ledger,
    passwords,
    person,
    person_record,
    register,
    throttle,
    totp,
)

BASE_URL = "https://id.natid.gov.kh"


@pytest.fixture
def passkeys(
    session_factory: sessionmaker[Session],
    cache: InMemoryCache,
    ledger: AuditLedger,
    register: EmbeddedRegister,
) -> Passkeys:
    return Passkeys(
        session_factory,
        cache=cache,
        ledger=ledger,
        register=register,
        relying_party=RelyingParty.from_base_url(BASE_URL),
    )


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator(origin=BASE_URL)


def enrol(
    passkeys: Passkeys, account: Account, device: SoftAuthenticator, clock: FixedClock
) -> str:
    options = passkeys.registration_options(account.id, user_name="Sok Dara", display_name="x")
    info = passkeys.register(
        account.id, device.create(options), label="My phone", at=clock.now(), actor=account.id
    )
    return info.id


def test_registration_options_ask_for_a_discoverable_user_verified_passkey(
    passkeys: Passkeys, account: Account
) -> None:
    options = json.loads(
        passkeys.registration_options(account.id, user_name="Sok Dara", display_name="Sok Dara")
    )
    assert options["rp"]["id"] == "id.natid.gov.kh"
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert len(unb64url(options["challenge"])) == 32
    assert len(unb64url(options["user"]["id"])) == 32
    assert -7 in [p["alg"] for p in options["pubKeyCredParams"]]


def test_passkey_login_gives_substantial_with_the_passkey_amr(
    passkeys: Passkeys,
    account: Account,
    device: SoftAuthenticator,
    clock: FixedClock,
    ledger: AuditLedger,
) -> None:
    authenticator_id = enrol(passkeys, account, device, clock)
    clock.advance(dt.timedelta(minutes=5))
    result = passkeys.authenticate(
        device.get(passkeys.authentication_options()), at=clock.now(), source=SOURCE
    )
    assert result.account_id == account.id
    assert result.acr is AssuranceLevel.SUBSTANTIAL
    assert result.amr == ("hwk", "user", "mfa")
    (listed,) = passkeys.list_for_account(account.id)
    assert listed.id == authenticator_id
    assert listed.label == "My phone"
    assert listed.last_used_at == clock.now()
    (entry,) = events(ledger, "idp.login.succeeded")
    assert entry.data["step"] == "passkey"
    assert entry.actor == account.id


def test_discoverable_login_options_name_no_credential(passkeys: Passkeys) -> None:
    options = json.loads(passkeys.authentication_options())
    assert options["rpId"] == "id.natid.gov.kh"
    assert options["userVerification"] == "required"
    assert options.get("allowCredentials", []) == []


def test_passkey_bound_in_person_gives_high(
    passkeys: Passkeys, account: Account, device: SoftAuthenticator, clock: FixedClock
) -> None:
    authenticator_id = enrol(passkeys, account, device, clock)
    bound = passkeys.bind_in_person(
        account.id, authenticator_id, officer="officer-7", at=clock.now()
    )
    assert bound.bound_in_person
    result = passkeys.authenticate(
        device.get(passkeys.authentication_options()), at=clock.now(), source=SOURCE
    )
    assert result.acr is AssuranceLevel.HIGH


def test_level_is_capped_by_proofing_and_by_syncing() -> None:
    high, sub = AssuranceLevel.HIGH, AssuranceLevel.SUBSTANTIAL
    assert passkey_level(high, bound_in_person=True, backup_eligible=False) is high
    assert passkey_level(high, bound_in_person=True, backup_eligible=True) is sub
    assert passkey_level(high, bound_in_person=False, backup_eligible=False) is sub
    assert passkey_level(sub, bound_in_person=True, backup_eligible=False) is sub
    assert passkey_level(None, bound_in_person=True, backup_eligible=False) is AssuranceLevel.LOW


def test_synced_passkey_bound_in_person_stays_substantial(
    passkeys: Passkeys, account: Account, clock: FixedClock
) -> None:
    synced = SoftAuthenticator(origin=BASE_URL, backup_eligible=True)
    authenticator_id = enrol(passkeys, account, synced, clock)
    passkeys.bind_in_person(account.id, authenticator_id, officer="officer-7", at=clock.now())
    result = passkeys.authenticate(
        synced.get(passkeys.authentication_options()), at=clock.now(), source=SOURCE
    )
    assert result.acr is AssuranceLevel.SUBSTANTIAL
    assert result.amr[0] == "swk"
    assert passkeys.list_for_account(account.id)[0].backed_up


def test_replayed_assertion_is_refused(
    passkeys: Passkeys,
    account: Account,
    device: SoftAuthenticator,
    clock: FixedClock,
    ledger: AuditLedger,
) -> None:
    enrol(passkeys, account, device, clock)
    assertion = device.get(passkeys.authentication_options())
    passkeys.authenticate(assertion, at=clock.now(), source=SOURCE)
    with pytest.raises(LoginFailed):
        passkeys.authenticate(assertion, at=clock.now(), source=SOURCE)
    assert events(ledger, "idp.login.failed")[-1].data["reason"] == "challenge"


def test_phishing_origin_is_refused(
    passkeys: Passkeys, account: Account, device: SoftAuthenticator, clock: FixedClock
) -> None:
    enrol(passkeys, account, device, clock)
    options = passkeys.authentication_options()
    with pytest.raises(LoginFailed):
        passkeys.authenticate(
            device.get(options, origin="https://id-natid.example"), at=clock.now(), source=SOURCE
        )


def test_registration_without_user_verification_is_refused(
    passkeys: Passkeys, account: Account, clock: FixedClock
) -> None:
    no_uv = SoftAuthenticator(origin=BASE_URL, user_verified=False)
    with pytest.raises(AuthenticatorError):
        enrol(passkeys, account, no_uv, clock)
    assert passkeys.list_for_account(account.id) == []


def test_login_without_user_verification_is_refused(
    passkeys: Passkeys, account: Account, device: SoftAuthenticator, clock: FixedClock
) -> None:
    enrol(passkeys, account, device, clock)
    device.user_verified = False
    with pytest.raises(LoginFailed):
        passkeys.authenticate(
            device.get(passkeys.authentication_options()), at=clock.now(), source=SOURCE
        )


def test_cloned_authenticator_counter_is_refused(
    passkeys: Passkeys,
    account: Account,
    device: SoftAuthenticator,
    clock: FixedClock,
    ledger: AuditLedger,
    session_factory: sessionmaker[Session],
) -> None:
    enrol(passkeys, account, device, clock)
    passkeys.authenticate(
        device.get(passkeys.authentication_options()), at=clock.now(), source=SOURCE
    )
    # A copy of the key made before that login still counts from the old value.
    device.credentials[0].sign_count = 0
    with pytest.raises(LoginFailed):
        passkeys.authenticate(
            device.get(passkeys.authentication_options()), at=clock.now(), source=SOURCE
        )
    assert events(ledger, "idp.login.failed")[-1].data["reason"] == "sign_count"
    with session_factory() as session:
        stored = session.scalar(
            select(AuthenticatorRow.webauthn_sign_count).where(AuthenticatorRow.kind == "passkey")
        )
    assert stored == 1


def test_user_handle_of_another_account_is_refused(
    passkeys: Passkeys, account: Account, device: SoftAuthenticator, clock: FixedClock
) -> None:
    enrol(passkeys, account, device, clock)
    with pytest.raises(LoginFailed):
        passkeys.authenticate(
            device.get(passkeys.authentication_options(), user_handle=b"\x01" * 32),
            at=clock.now(),
            source=SOURCE,
        )


def test_registration_challenge_is_bound_to_the_account_that_asked(
    passkeys: Passkeys,
    account: Account,
    accounts: AccountService,
    register: EmbeddedRegister,
    device: SoftAuthenticator,
    clock: FixedClock,
) -> None:
    other_person = register.add_person(person_record("000999888"))
    other = accounts.create(other_person.id, actor="test", activate=True)
    options = passkeys.registration_options(account.id, user_name="a", display_name="a")
    with pytest.raises(AuthenticatorError):
        passkeys.register(other.id, device.create(options), label="x", at=clock.now(), actor="t")


def test_challenge_expires(
    passkeys: Passkeys, account: Account, device: SoftAuthenticator, clock: FixedClock
) -> None:
    enrol(passkeys, account, device, clock)
    options = passkeys.authentication_options()
    clock.advance(dt.timedelta(minutes=6))
    with pytest.raises(LoginFailed):
        passkeys.authenticate(device.get(options), at=clock.now(), source=SOURCE)


def test_removed_passkey_no_longer_logs_in(
    passkeys: Passkeys, account: Account, device: SoftAuthenticator, clock: FixedClock
) -> None:
    authenticator_id = enrol(passkeys, account, device, clock)
    passkeys.remove(account.id, authenticator_id, actor=account.id)
    assert passkeys.list_for_account(account.id) == []
    with pytest.raises(LoginFailed):
        passkeys.authenticate(
            device.get(passkeys.authentication_options()), at=clock.now(), source=SOURCE
        )


def test_another_account_cannot_remove_my_passkey(
    passkeys: Passkeys,
    account: Account,
    accounts: AccountService,
    register: EmbeddedRegister,
    device: SoftAuthenticator,
    clock: FixedClock,
) -> None:
    authenticator_id = enrol(passkeys, account, device, clock)
    other_person = register.add_person(person_record("000999777"))
    other = accounts.create(other_person.id, actor="test", activate=True)
    with pytest.raises(AuthenticatorError):
        passkeys.remove(other.id, authenticator_id, actor=other.id)
    assert len(passkeys.list_for_account(account.id)) == 1


def test_locked_account_cannot_log_in_with_a_passkey(
    passkeys: Passkeys,
    account: Account,
    accounts: AccountService,
    device: SoftAuthenticator,
    clock: FixedClock,
) -> None:
    enrol(passkeys, account, device, clock)
    accounts.set_status(account.id, AccountStatus.LOCKED, actor="officer-7")
    with pytest.raises(AccountNotActive):
        passkeys.authenticate(
            device.get(passkeys.authentication_options()), at=clock.now(), source=SOURCE
        )


def test_second_passkey_reuses_the_user_handle_and_excludes_the_first(
    passkeys: Passkeys, account: Account, device: SoftAuthenticator, clock: FixedClock
) -> None:
    enrol(passkeys, account, device, clock)
    options = json.loads(passkeys.registration_options(account.id, user_name="a", display_name="a"))
    assert unb64url(options["user"]["id"]) == device.credentials[0].user_handle
    assert [c["id"] for c in options["excludeCredentials"]] == [b64url(device.credentials[0].id)]


def test_password_still_works_beside_passkeys(
    passkeys: Passkeys,
    account: Account,
    accounts: AccountService,
    person: object,
    device: SoftAuthenticator,
    clock: FixedClock,
) -> None:
    enrol(passkeys, account, device, clock)
    result = accounts.authenticate_password("000123456", PASSWORD, source=SOURCE, at=clock.now())
    assert result.account_id == account.id
