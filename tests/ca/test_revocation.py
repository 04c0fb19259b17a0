"""The revocation vocabulary: RFC 5280 reason names and codes, statuses, CRL entries."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from ca.errors import InvalidRevocationReason, InvalidRevocationStatus
from ca.revocation import (
    MAX_SERIAL,
    CertStatus,
    RevocationReason,
    RevocationStatus,
    RevokedEntry,
    signing_hash_for,
)
from core.errors import InvalidInput

T = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)

# RFC 5280 §5.3.1, verbatim: the names operators type and the codes on the wire.
RFC5280_REASONS = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}


def test_reasons_are_exactly_rfc5280_crlreason() -> None:
    assert {r.value: r.code for r in RevocationReason} == RFC5280_REASONS


@pytest.mark.parametrize("reason", list(RevocationReason))
def test_reason_maps_to_cryptography_and_back(reason: RevocationReason) -> None:
    assert RevocationReason.from_flag(reason.flag) is reason


@pytest.mark.parametrize("text", ["keyCompromise", "KEYCOMPROMISE", " keycompromise "])
def test_operator_can_type_reason_in_any_case(text: str) -> None:
    assert RevocationReason.parse(text) is RevocationReason.KEY_COMPROMISE


@pytest.mark.parametrize("text", ["", "key-compromise", "7", "compromised"])
def test_unknown_reason_is_refused_with_the_valid_names(text: str) -> None:
    with pytest.raises(InvalidRevocationReason) as info:
        RevocationReason.parse(text)
    assert "keyCompromise" in str(info.value)
    assert isinstance(info.value, InvalidInput)


@given(st.text(max_size=40))
def test_reason_parser_raises_only_its_own_error(text: str) -> None:
    try:
        reason = RevocationReason.parse(text)
    except InvalidRevocationReason:
        return
    assert reason.value.casefold() == text.strip().casefold()


def test_revoked_status_carries_time_and_reason() -> None:
    status = RevocationStatus.revoked(T, RevocationReason.CERTIFICATE_HOLD)
    assert status.status is CertStatus.REVOKED
    assert status.is_on_hold
    assert RevocationStatus.good().status is CertStatus.GOOD
    assert RevocationStatus.unknown().revoked_at is None


def test_release_of_a_hold_is_not_a_revocation() -> None:
    # removeFromCRL lives only in delta CRLs; OCSP says "good" for a released hold.
    with pytest.raises(InvalidRevocationStatus):
        RevocationStatus.revoked(T, RevocationReason.REMOVE_FROM_CRL)
    released = RevokedEntry(5, T, RevocationReason.REMOVE_FROM_CRL)
    assert released.status == RevocationStatus.good()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": CertStatus.REVOKED},
        {"status": CertStatus.REVOKED, "revoked_at": T},
        {"status": CertStatus.GOOD, "reason": RevocationReason.SUPERSEDED},
        {"status": CertStatus.UNKNOWN, "revoked_at": T},
        {"status": "revoked", "revoked_at": T.replace(tzinfo=None), "reason": "superseded"},
        {"status": "suspended"},
        {"status": "revoked", "revoked_at": T, "reason": "stolen"},
    ],
)
def test_inconsistent_status_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises((InvalidRevocationStatus, InvalidRevocationReason)):
        RevocationStatus(**kwargs)  # type: ignore[arg-type]


def test_status_accepts_wire_strings_and_normalises_to_utc() -> None:
    plus7 = dt.timezone(dt.timedelta(hours=7))  # Cambodia
    status = RevocationStatus("revoked", T.astimezone(plus7), "keyCompromise")  # type: ignore[arg-type]
    assert status.reason is RevocationReason.KEY_COMPROMISE
    assert status.revoked_at == T
    assert status.revoked_at.tzinfo == dt.UTC


@pytest.mark.parametrize("serial", [0, -1, MAX_SERIAL + 1, True])
def test_crl_entry_with_impossible_serial_is_refused(serial: int) -> None:
    # RFC 5280 §4.1.2.2: positive, at most 20 octets.
    with pytest.raises(InvalidRevocationStatus):
        RevokedEntry(serial, T)


def test_crl_entry_defaults_to_unspecified() -> None:
    entry = RevokedEntry(MAX_SERIAL, T)
    assert entry.reason is RevocationReason.UNSPECIFIED
    assert entry.status == RevocationStatus.revoked(T, RevocationReason.UNSPECIFIED)


def test_crl_entry_refuses_naive_times() -> None:
    with pytest.raises(InvalidRevocationStatus):
        RevokedEntry(1, T, invalidity_date=T.replace(tzinfo=None))


def test_signing_hash_follows_the_key() -> None:
    p256 = signing_hash_for(ec.generate_private_key(ec.SECP256R1()))
    p384 = signing_hash_for(ec.generate_private_key(ec.SECP384R1()))
    rsa_hash = signing_hash_for(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert (p256 and p256.name, p384 and p384.name, rsa_hash and rsa_hash.name) == (
        "sha256",
        "sha384",
        "sha256",
    )
    assert signing_hash_for(ed25519.Ed25519PrivateKey.generate()) is None
    with pytest.raises(InvalidRevocationStatus):
        signing_hash_for(ec.generate_private_key(ec.SECP256K1()))
    with pytest.raises(InvalidRevocationStatus):
        signing_hash_for(x509)
