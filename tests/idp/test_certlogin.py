# ruff: noqa: F811 - pytest fixtures are imported from tests/ca/_issuance.py
"""Certificate login (idp/certlogin.py) with real certificates from the development hierarchy:
citizen-auth and gov-auth log in; revoked, held, forged, expired, signing-only and
account-less certificates do not; no ID card number reaches the audit ledger."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy.orm import Session, sessionmaker

from ca.revocation import RevocationReason
from ca.service import CAService
from core.audit import AuditLedger
from core.cache import InMemoryCache
from core.clock import FixedClock
from idp.account_models import AccountStatus
from idp.accounts import AccountService
from idp.certlogin import CertificateLogin, CertificateRefused, parse_forwarded_certificate
from idp.errors import AccountNotActive
from idp.passwords import Argon2Parameters, Passwords
from idp.throttle import LoginThrottle
from idp.totp import SecretBox, TotpAuthenticators, derive_key
from registry import Person
from registry.records import AssuranceLevel
from registry.service import EmbeddedRegister
from tests.ca._issuance import (  # noqa: F401 - fixtures
    ACTOR,
    add_entity,
    add_person,
    add_servant,
    ca_service,
    ec_key,
    hierarchy_keys,
    ledger,
    make_csr,
    register,
    session_hierarchy,
    transparency,
)

SOURCE = "198.51.100.7"
SECRET = b"certificate login test secret"


@pytest.fixture
def accounts(
    session_factory: sessionmaker[Session],
    register: EmbeddedRegister,
    ledger: AuditLedger,
    clock: FixedClock,
) -> AccountService:
    cache = InMemoryCache(clock=clock)
    return AccountService(
        session_factory,
        register=register,
        ledger=ledger,
        clock=clock,
        passwords=Passwords(Argon2Parameters(time_cost=1, memory_kib=1024, parallelism=1)),
        throttle=LoginThrottle(cache, clock=clock, key=derive_key(SECRET, "throttle")),
        totp=TotpAuthenticators(session_factory, box=SecretBox.derive(SECRET), ledger=ledger),
    )


@pytest.fixture
def certlogin(
    session_factory: sessionmaker[Session],
    ca_service: CAService,
    register: EmbeddedRegister,
    ledger: AuditLedger,
) -> CertificateLogin:
    return CertificateLogin(session_factory, ca=ca_service, register=register, ledger=ledger)


def citizen_with_certificate(
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    *,
    level: str = "high",
    profile: str = "citizen-auth",
    account: bool = True,
) -> tuple[Person, x509.Certificate, str | None]:
    person = add_person(register, level=level)
    issued = ca_service.issue_from_csr(profile, person.id, make_csr(ec_key()), actor=ACTOR)
    account_id = accounts.create(person.id, actor="t", activate=True).id if account else None
    return person, issued.certificate, account_id


def later(clock: FixedClock) -> dt.datetime:
    return clock.now() + dt.timedelta(hours=1)


def test_citizen_certificate_logs_in_at_high(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    clock: FixedClock,
    ledger: AuditLedger,
) -> None:
    _person, cert, account_id = citizen_with_certificate(register, accounts, ca_service)
    result = certlogin.authenticate(cert, at=later(clock), source=SOURCE)
    assert result.account_id == account_id
    assert result.acr is AssuranceLevel.HIGH
    assert result.amr == ("sc", "mfa")
    entry = ledger.tail(1)[0]
    assert entry.event == "idp.login.succeeded"
    assert entry.data["step"] == "certificate"


def test_proofing_level_caps_a_certificate_login(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    clock: FixedClock,
) -> None:
    _, cert, _ = citizen_with_certificate(register, accounts, ca_service, level="substantial")
    result = certlogin.authenticate(cert, at=later(clock), source=SOURCE)
    assert result.acr is AssuranceLevel.SUBSTANTIAL


def test_civil_servant_certificate_logs_in(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    clock: FixedClock,
) -> None:
    person = add_person(register)
    servant = add_servant(register, person, add_entity(register, kind="ministry"))
    cert = ca_service.issue_from_csr(
        "gov-auth", servant.id, make_csr(ec_key()), actor=ACTOR
    ).certificate
    account = accounts.create(person.id, actor="t", activate=True)
    result = certlogin.authenticate(cert, at=later(clock), source=SOURCE)
    assert result.account_id == account.id
    assert result.acr is AssuranceLevel.HIGH


@pytest.mark.parametrize("reason", [RevocationReason.KEY_COMPROMISE, "hold"])
def test_revoked_or_held_certificate_is_refused(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    clock: FixedClock,
    reason: object,
) -> None:
    _, cert, _ = citizen_with_certificate(register, accounts, ca_service)
    if reason == "hold":
        ca_service.hold(cert.serial_number, actor=ACTOR)
    else:
        ca_service.revoke(cert.serial_number, reason=RevocationReason.KEY_COMPROMISE, actor=ACTOR)
    with pytest.raises(CertificateRefused) as caught:
        certlogin.authenticate(cert, at=later(clock), source=SOURCE)
    assert caught.value.code == "revoked"


def test_certificate_from_a_ca_that_copies_the_natid_name_is_refused(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    clock: FixedClock,
) -> None:
    _, genuine, _ = citizen_with_certificate(register, accounts, ca_service)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.issuer)
        .public_key(ec_key().public_key())
        .serial_number(genuine.serial_number + 1)
        .not_valid_before(genuine.not_valid_before_utc)
        .not_valid_after(genuine.not_valid_after_utc)
        .add_extension(genuine.extensions.get_extension_for_class(x509.KeyUsage).value, True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(rogue_key, hashes.SHA256())
    )
    with pytest.raises(CertificateRefused) as caught:
        certlogin.authenticate(forged, at=later(clock), source=SOURCE)
    assert caught.value.code == "untrusted_issuer"


def test_signing_certificate_cannot_log_in(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    clock: FixedClock,
) -> None:
    _, cert, _ = citizen_with_certificate(register, accounts, ca_service, profile="citizen-sign")
    with pytest.raises(CertificateRefused) as caught:
        certlogin.authenticate(cert, at=later(clock), source=SOURCE)
    assert caught.value.code == "wrong_usage"


def test_expired_certificate_is_refused(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
) -> None:
    _, cert, _ = citizen_with_certificate(register, accounts, ca_service)
    after = cert.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(CertificateRefused) as caught:
        certlogin.authenticate(cert, at=after, source=SOURCE)
    assert caught.value.code == "expired"


def test_holder_without_account_is_refused(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    clock: FixedClock,
) -> None:
    _, cert, _ = citizen_with_certificate(register, accounts, ca_service, account=False)
    with pytest.raises(CertificateRefused) as caught:
        certlogin.authenticate(cert, at=later(clock), source=SOURCE)
    assert caught.value.code == "no_account"


def test_locked_account_is_refused(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    clock: FixedClock,
) -> None:
    _, cert, account_id = citizen_with_certificate(register, accounts, ca_service)
    assert account_id is not None
    accounts.set_status(account_id, AccountStatus.LOCKED, actor="officer-7")
    with pytest.raises(AccountNotActive):
        certlogin.authenticate(cert, at=later(clock), source=SOURCE)


def test_id_card_number_never_reaches_the_audit_ledger(
    certlogin: CertificateLogin,
    register: EmbeddedRegister,
    accounts: AccountService,
    ca_service: CAService,
    clock: FixedClock,
    ledger: AuditLedger,
) -> None:
    person, cert, _ = citizen_with_certificate(register, accounts, ca_service)
    certlogin.authenticate(cert, at=later(clock), source=SOURCE)
    ca_service.revoke(cert.serial_number, reason=RevocationReason.KEY_COMPROMISE, actor=ACTOR)
    with pytest.raises(CertificateRefused) as caught:
        certlogin.authenticate(cert, at=later(clock), source=SOURCE)
    assert person.national_id not in str(caught.value)
    logins = [e for e in ledger.tail(50) if e.event.startswith("idp.login.")]
    assert [e.event for e in logins] == ["idp.login.succeeded", "idp.login.failed"]
    assert all(person.national_id not in json.dumps(e.data) for e in logins)


def test_forwarded_header_is_url_encoded_pem(
    register: EmbeddedRegister, accounts: AccountService, ca_service: CAService
) -> None:
    _, cert, _ = citizen_with_certificate(register, accounts, ca_service)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    assert parse_forwarded_certificate(quote(pem, safe="")) == cert
    assert parse_forwarded_certificate(pem) == cert
    with pytest.raises(CertificateRefused) as caught:
        parse_forwarded_certificate("%2D%2D%2D%2Dnot a certificate")
    assert caught.value.code == "malformed"
    with pytest.raises(CertificateRefused) as caught:
        parse_forwarded_certificate("")
    assert caught.value.code == "no_certificate"
