"""Revocation use cases: the revoke / hold / resume state machine, its refusals, its audit
entries, bulk revocation by subject and by query (all or nothing), and the OCSP status look-up.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import (
    CertificateNotFound,
    InvalidRevocationReason,
    InvalidRevocationStatus,
    InvalidSerialNumber,
    IssuerRetired,
    ProfileViolation,
    UnknownProfile,
)
from ca.hierarchy import Hierarchy
from ca.models import CAAuthorityRow, CACertificateRow, CACrlStateRow
from ca.revocation import CertStatus, RevocationReason, RevocationStatus
from ca.revoke import RevocationConflict, RevocationNotAllowed, RevocationQuery
from ca.service import CAService
from ca.store import CertificateStatus, IssuedCertificate
from ca.transparency import TransparencyLog
from core.audit import AuditLedger
from core.clock import FixedClock
from core.errors import InvalidInput
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister
from tests.ca._issuance import (
    ACTOR,
    add_person,
    build_service,
    ca_service,
    ec_key,
    hierarchy_keys,
    ledger,
    make_csr,
    register,
    session_hierarchy,
    transparency,
)

__all__ = [  # fixtures used by this module
    "ca_service",
    "hierarchy_keys",
    "ledger",
    "register",
    "session_hierarchy",
    "transparency",
]

R = RevocationReason
MINUTE = dt.timedelta(minutes=1)


def _issue(
    service: CAService,
    register: EmbeddedRegister,
    *,
    subject: str | None = None,
    p384: bool = False,
) -> IssuedCertificate:
    subject = subject or add_person(register).id
    key = ec.generate_private_key(ec.SECP384R1()) if p384 else ec_key()
    return service.issue_from_csr("citizen-auth", subject, make_csr(key), actor=ACTOR)


def _status(service: CAService, cert: IssuedCertificate) -> CertificateStatus:
    return service.get(cert.serial_hex).status


def _entries(ledger: AuditLedger, n: int) -> list[Any]:
    return ledger.tail(n)


# --- one certificate -----------------------------------------------------------------------------


def test_revoke_records_reason_time_and_an_audit_entry_without_names(
    ca_service: CAService, register: EmbeddedRegister, ledger: AuditLedger, clock: FixedClock
) -> None:
    person = add_person(register)
    cert = _issue(ca_service, register, subject=person.id)
    clock.advance(MINUTE)
    # The serial as an operator pastes it from `openssl x509 -serial` output, lower case.
    pasted = ":".join(cert.serial_hex[i : i + 2] for i in range(0, len(cert.serial_hex), 2))
    revoked = ca_service.revoke(pasted.lower(), reason=R.KEY_COMPROMISE, actor=ACTOR)

    assert revoked.status is CertificateStatus.REVOKED
    assert revoked.revocation_reason is R.KEY_COMPROMISE
    assert revoked.revoked_at == clock.now()
    assert ca_service.get(cert.serial_hex) == revoked
    status = ca_service.status_of("citizen", cert.certificate.serial_number)
    assert status == RevocationStatus.revoked(clock.now(), R.KEY_COMPROMISE)

    entry = ledger.tail(1)[0]
    assert (entry.event, entry.actor, entry.subject) == (
        "ca.certificate.revoked", ACTOR, person.id,
    )  # fmt: skip
    assert json.loads(entry.data_json) == {
        "serial": cert.serial_hex, "issuer": "citizen", "reason": "keyCompromise",
    }  # fmt: skip
    assert person.national_id not in entry.data_json
    assert "Sok" not in entry.data_json


def test_revocation_is_final(
    ca_service: CAService, register: EmbeddedRegister, ledger: AuditLedger
) -> None:
    cert = _issue(ca_service, register)
    ca_service.revoke(cert.serial_hex, reason=R.SUPERSEDED, actor=ACTOR)
    head = ledger.tail(1)[0].seq

    attempts: list[Callable[[], object]] = [
        lambda: ca_service.revoke(cert.serial_hex, reason=R.KEY_COMPROMISE, actor=ACTOR),
        lambda: ca_service.hold(cert.serial_hex, actor=ACTOR),
        lambda: ca_service.resume(cert.serial_hex, actor=ACTOR),
    ]
    for attempt in attempts:
        with pytest.raises(RevocationConflict, match=r"was revoked \(superseded\).*final"):
            attempt()
    after = ca_service.get(cert.serial_hex)
    assert (after.status, after.revocation_reason) == (CertificateStatus.REVOKED, R.SUPERSEDED)
    # Each refusal is audited after its rollback, naming what was asked and what it met.
    refusals = ledger.tail(3)
    assert refusals[0].seq == head + 1
    assert [(e.event, e.actor, e.subject) for e in refusals] == [
        (f"ca.certificate.{action}_refused", ACTOR, cert.subject_id)
        for action in ("revoke", "hold", "resume")
    ]
    assert [json.loads(e.data_json) for e in refusals] == [
        {"refused": "revocation_conflict", "serial": cert.serial_hex, "issuer": "citizen",
         "status": "revoked", "reason": "keyCompromise"},
        {"refused": "revocation_conflict", "serial": cert.serial_hex, "issuer": "citizen",
         "status": "revoked", "reason": "certificateHold"},
        {"refused": "revocation_conflict", "serial": cert.serial_hex, "issuer": "citizen",
         "status": "revoked"},
    ]  # fmt: skip


def test_hold_and_resume_round_trip(
    ca_service: CAService, register: EmbeddedRegister, ledger: AuditLedger, clock: FixedClock
) -> None:
    cert = _issue(ca_service, register)
    serial = cert.certificate.serial_number
    held = ca_service.hold(cert.serial_hex, actor=ACTOR)
    assert (held.status, held.revocation_reason) == (CertificateStatus.ON_HOLD, R.CERTIFICATE_HOLD)
    assert ca_service.status_of("citizen", serial).is_on_hold
    with pytest.raises(RevocationConflict, match="on hold since"):
        ca_service.hold(cert.serial_hex, actor=ACTOR)

    clock.advance(MINUTE)
    resumed = ca_service.resume(cert.serial_hex, actor=ACTOR)
    assert resumed.status is CertificateStatus.GOOD
    assert (resumed.revoked_at, resumed.revocation_reason) == (None, None)
    assert ca_service.status_of("citizen", serial) == RevocationStatus.good()
    with pytest.raises(RevocationConflict, match="is good"):
        ca_service.resume(cert.serial_hex, actor=ACTOR)

    events = [(e.event, json.loads(e.data_json)) for e in ledger.tail(4)]
    assert events[0] == (
        "ca.certificate.held",
        {"serial": cert.serial_hex, "issuer": "citizen", "reason": "certificateHold"},
    )
    assert events[1][0] == "ca.certificate.hold_refused"
    assert (events[1][1]["refused"], events[1][1]["status"]) == ("revocation_conflict", "on_hold")
    assert events[2][0] == "ca.certificate.resumed"
    assert events[2][1]["held_since"] == (clock.now() - MINUTE).isoformat()
    assert events[3][0] == "ca.certificate.resume_refused"
    assert (events[3][1]["refused"], events[3][1]["status"]) == ("revocation_conflict", "good")


def test_certificate_hold_as_a_revocation_reason_means_hold(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    cert = _issue(ca_service, register)
    held = ca_service.revoke(cert.serial_hex, reason=R.CERTIFICATE_HOLD, actor=ACTOR)
    assert held.status is CertificateStatus.ON_HOLD


def test_revoking_a_held_certificate_keeps_the_hold_time(
    ca_service: CAService, register: EmbeddedRegister, ledger: AuditLedger, clock: FixedClock
) -> None:
    cert = _issue(ca_service, register)
    hold_time = clock.now()
    ca_service.hold(cert.serial_hex, actor=ACTOR)
    clock.advance(dt.timedelta(days=2))
    revoked = ca_service.revoke(
        cert.serial_hex, reason=R.KEY_COMPROMISE, actor=ACTOR, invalidity_date=hold_time - MINUTE
    )
    assert revoked.status is CertificateStatus.REVOKED
    assert revoked.revoked_at == hold_time
    assert revoked.invalidity_date == hold_time - MINUTE
    data = json.loads(ledger.tail(1)[0].data_json)
    assert data["held_since"] == hold_time.isoformat()
    assert data["invalidity_date"] == (hold_time - MINUTE).isoformat()


def test_remove_from_crl_is_never_a_revocation_reason(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    cert = _issue(ca_service, register)
    with pytest.raises(InvalidRevocationReason, match="removeFromCRL"):
        ca_service.revoke(cert.serial_hex, reason=R.REMOVE_FROM_CRL, actor=ACTOR)
    with pytest.raises(InvalidRevocationReason, match="expected one of"):
        ca_service.revoke(cert.serial_hex, reason="stolen", actor=ACTOR)  # type: ignore[arg-type]
    assert _status(ca_service, cert) is CertificateStatus.GOOD


@pytest.mark.parametrize(
    ("invalid_from", "reason", "message"),
    [
        (dt.timedelta(hours=1), R.KEY_COMPROMISE, "future"),
        (-dt.timedelta(hours=1), R.CERTIFICATE_HOLD, "not with a hold"),
        (None, R.KEY_COMPROMISE, "timezone-aware"),
    ],
)
def test_bad_invalidity_dates_are_refused(
    ca_service: CAService,
    register: EmbeddedRegister,
    clock: FixedClock,
    invalid_from: dt.timedelta | None,
    reason: RevocationReason,
    message: str,
) -> None:
    cert = _issue(ca_service, register)
    when = clock.now() + invalid_from if invalid_from else dt.datetime(2026, 10, 1)
    with pytest.raises(InvalidRevocationStatus, match=message):
        ca_service.revoke(cert.serial_hex, reason=reason, actor=ACTOR, invalidity_date=when)
    assert _status(ca_service, cert) is CertificateStatus.GOOD


def test_unknown_and_malformed_serials(ca_service: CAService, ledger: AuditLedger) -> None:
    with pytest.raises(CertificateNotFound, match="0BADC0DE"):
        ca_service.revoke("0b:ad:c0:de", reason=R.KEY_COMPROMISE, actor=ACTOR)
    entry = ledger.tail(1)[0]
    assert (entry.event, entry.actor, entry.subject) == (
        "ca.certificate.revoke_refused", ACTOR, None,
    )  # fmt: skip
    assert json.loads(entry.data_json) == {
        "refused": "certificate_not_found", "serial": "0BADC0DE", "reason": "keyCompromise",
    }  # fmt: skip
    # Malformed input is refused before any certificate is looked up: nothing to record.
    with pytest.raises(InvalidSerialNumber):
        ca_service.hold("not-a-serial", actor=ACTOR)
    assert ledger.tail(1)[0].seq == entry.seq


def test_an_invalidity_date_after_the_revocation_is_refused_and_audited(
    ca_service: CAService, register: EmbeddedRegister, ledger: AuditLedger, clock: FixedClock
) -> None:
    cert = _issue(ca_service, register)
    ca_service.hold(cert.serial_hex, actor=ACTOR)
    held_at = clock.now()
    clock.advance(dt.timedelta(hours=2))

    with pytest.raises(InvalidRevocationStatus, match="later than the revocation"):
        ca_service.revoke(
            cert.serial_hex,
            reason=R.KEY_COMPROMISE,
            actor=ACTOR,
            invalidity_date=held_at + dt.timedelta(hours=1),
        )

    assert _status(ca_service, cert) is CertificateStatus.ON_HOLD  # nothing changed
    entry = ledger.tail(1)[0]
    assert entry.event == "ca.certificate.revoke_refused"
    assert json.loads(entry.data_json) == {
        "refused": "invalid_revocation_status", "serial": cert.serial_hex, "issuer": "citizen",
        "status": "on_hold", "reason": "keyCompromise",
    }  # fmt: skip


def test_a_refusal_is_still_the_answer_when_the_ledger_fails(
    ca_service: CAService,
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,
    transparency: TransparencyLog,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    person = add_person(register)
    cert = _issue(ca_service, register, subject=person.id)
    ca_service.revoke(cert.serial_hex, reason=R.SUPERSEDED, actor=ACTOR)
    failing = _FailingLedger(session_factory, clock=clock, fail_at=1)
    service = build_service(session_factory, hierarchy_keys, register, failing, transparency, clock)

    with caplog.at_level("ERROR", logger="ca.revoke"), pytest.raises(RevocationConflict):
        service.hold(cert.serial_hex, actor=ACTOR)

    assert failing.calls == 1
    lines = [r for r in caplog.records if r.name == "ca.revoke"]
    assert [r.getMessage() for r in lines] == [
        "a refused certificate status change could not be audited"
    ]
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in lines)
    assert cert.serial_hex not in logged and person.id not in logged
    assert person.national_id not in logged


def test_status_of_says_unknown_for_other_issuers_and_strangers(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    cert = _issue(ca_service, register)
    serial = cert.certificate.serial_number
    assert ca_service.status_of("citizen", serial) == RevocationStatus.good()
    assert ca_service.status_of("government", serial).status is CertStatus.UNKNOWN
    assert ca_service.status_of("citizen", serial + 1).status is CertStatus.UNKNOWN
    assert ca_service.status_of("citizen", 0).status is CertStatus.UNKNOWN
    assert ca_service.status_of("citizen", 1 << 170).status is CertStatus.UNKNOWN


# --- CA certificates ------------------------------------------------------------------------


def test_the_root_certificate_cannot_be_revoked(
    ca_service: CAService, session_hierarchy: Hierarchy, ledger: AuditLedger
) -> None:
    root = session_hierarchy.root.serial_number
    with pytest.raises(RevocationNotAllowed, match="root"):
        ca_service.revoke(root, reason=R.CA_COMPROMISE, actor=ACTOR)
    # An attempt on the root is what an auditor most wants to see.
    entry = ledger.tail(1)[0]
    assert (entry.event, entry.actor) == ("ca.certificate.revoke_refused", ACTOR)
    data = json.loads(entry.data_json)
    assert (data["refused"], data["issuer"], data["status"]) == (
        "revocation_not_allowed", "root", "good",
    )  # fmt: skip
    assert int(data["serial"], 16) == root


def test_an_issuing_ca_is_revoked_only_with_a_ca_reason_and_then_retired(
    ca_service: CAService,
    session_hierarchy: Hierarchy,
    session_factory: sessionmaker[Session],
) -> None:
    serial = session_hierarchy.cas["health"].serial_number
    with pytest.raises(RevocationNotAllowed, match=r"keyCompromise.*cACompromise"):
        ca_service.revoke(serial, reason=R.KEY_COMPROMISE, actor=ACTOR)
    with pytest.raises(RevocationNotAllowed, match="a hold"):
        ca_service.hold(serial, actor=ACTOR)
    revoked = ca_service.revoke(serial, reason=R.CA_COMPROMISE, actor=ACTOR)
    assert (revoked.issuer, revoked.status) == ("root", CertificateStatus.REVOKED)
    assert ca_service.status_of("root", serial).reason is R.CA_COMPROMISE
    with session_factory() as session:
        assert session.get_one(CAAuthorityRow, "health").status == "retired"
        assert session.get_one(CAAuthorityRow, "citizen").status == "active"


def test_a_ca_retired_by_another_process_stops_issuing_at_once(
    ca_service: CAService,
    session_hierarchy: Hierarchy,
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    clock: FixedClock,
) -> None:
    # Two "processes" have issued from the citizen CA, so each holds that CA's key handle.
    _issue(ca_service, register)
    single = build_service(session_factory, hierarchy_keys, register, ledger, transparency, clock)
    _issue(single, register)
    other = build_service(session_factory, hierarchy_keys, register, ledger, transparency, clock)
    other.revoke(
        session_hierarchy.cas["citizen"].serial_number, reason=R.CA_COMPROMISE, actor=ACTOR
    )
    before = len(ca_service.list())
    with pytest.raises(IssuerRetired, match="CA citizen is retired"):
        _issue(single, register)
    # Bulk issuance, with the CA still cached here, refuses every line, each with its reason.
    person = add_person(register)
    lines = [
        json.dumps(
            {"profile": "citizen-auth", "subject": person.id, "csr": make_csr(ec_key()).decode()}
        ).encode()
        for _ in range(3)
    ]
    report = ca_service.bulk_issue(lines, actor=ACTOR)
    assert [f.code for f in report.failed] == ["issuer_retired"] * 3
    assert not report.issued
    # The refusal dropped the cached CA: a single request now finds no active CA at all.
    with pytest.raises(ProfileViolation, match="no active CA issues profile citizen-auth"):
        _issue(ca_service, register)
    assert len(ca_service.list()) == before


# --- bulk ----------------------------------------------------------------------------------------


def test_revoke_subject_takes_every_good_or_held_certificate_of_that_subject_only(
    ca_service: CAService, register: EmbeddedRegister, ledger: AuditLedger
) -> None:
    person = add_person(register)
    first = _issue(ca_service, register, subject=person.id)
    second = _issue(ca_service, register, subject=person.id)
    third = _issue(ca_service, register, subject=person.id)
    bystander = _issue(ca_service, register)
    ca_service.hold(second.serial_hex, actor=ACTOR)
    ca_service.revoke(third.serial_hex, reason=R.SUPERSEDED, actor=ACTOR)

    changed = ca_service.revoke_subject(person.id, reason=R.AFFILIATION_CHANGED, actor=ACTOR)
    assert sorted(c.serial_hex for c in changed) == sorted([first.serial_hex, second.serial_hex])
    assert all(c.revocation_reason is R.AFFILIATION_CHANGED for c in changed)
    assert ca_service.get(third.serial_hex).revocation_reason is R.SUPERSEDED  # untouched
    assert _status(ca_service, bystander) is CertificateStatus.GOOD
    entries = ledger.tail(2)
    assert {e.event for e in entries} == {"ca.certificate.revoked"}
    assert {json.loads(e.data_json)["bulk"] for e in entries} == {"subject"}
    assert ca_service.revoke_subject("nobody", reason=R.UNSPECIFIED, actor=ACTOR) == []


def test_revoke_where_by_key_algorithm_takes_exactly_the_matching_ones(
    ca_service: CAService, register: EmbeddedRegister, session_hierarchy: Hierarchy
) -> None:
    weak = [_issue(ca_service, register, p384=True) for _ in range(3)]
    fine = [_issue(ca_service, register) for _ in range(2)]
    query = RevocationQuery(key_algorithm="EC-P384")

    preview = ca_service.revoke_where(query, reason=R.KEY_COMPROMISE, actor=ACTOR, dry_run=True)
    assert sorted(c.serial_hex for c in preview) == sorted(c.serial_hex for c in weak)
    assert all(_status(ca_service, c) is CertificateStatus.GOOD for c in weak)  # dry run

    done = ca_service.revoke_where(query, reason=R.KEY_COMPROMISE, actor=ACTOR)
    assert sorted(c.serial_hex for c in done) == sorted(c.serial_hex for c in weak)
    assert all(_status(ca_service, c) is CertificateStatus.REVOKED for c in weak)
    assert all(_status(ca_service, c) is CertificateStatus.GOOD for c in fine)
    # The issuing CAs have P-384 keys too: bulk revocation never touches CA certificates.
    ca_serial = session_hierarchy.cas["citizen"].serial_number
    assert ca_service.status_of("root", ca_serial) == RevocationStatus.good()
    assert ca_service.revoke_where(query, reason=R.KEY_COMPROMISE, actor=ACTOR) == []


def test_revoke_where_filters_combine_and_bad_queries_are_refused(
    ca_service: CAService, register: EmbeddedRegister, clock: FixedClock
) -> None:
    early = _issue(ca_service, register)
    clock.advance(dt.timedelta(hours=1))
    late = _issue(ca_service, register)
    window = RevocationQuery(profile="citizen-auth", issuer="citizen", issued_after=clock.now())
    found = ca_service.revoke_where(window, reason=R.SUPERSEDED, actor=ACTOR, dry_run=True)
    assert [c.serial_hex for c in found] == [late.serial_hex]
    before = RevocationQuery(issued_before=clock.now())
    found = ca_service.revoke_where(before, reason=R.SUPERSEDED, actor=ACTOR, dry_run=True)
    assert early.serial_hex in {c.serial_hex for c in found}
    assert late.serial_hex not in {c.serial_hex for c in found}

    with pytest.raises(RevocationNotAllowed, match="empty query would revoke everything"):
        ca_service.revoke_where(RevocationQuery(), reason=R.SUPERSEDED, actor=ACTOR)
    with pytest.raises(InvalidInput, match="unknown key algorithm"):
        ca_service.revoke_where(
            RevocationQuery(key_algorithm="dsa-1024"), reason=R.SUPERSEDED, actor=ACTOR
        )
    with pytest.raises(UnknownProfile):
        ca_service.revoke_where(RevocationQuery(profile="nope"), reason=R.SUPERSEDED, actor=ACTOR)
    with pytest.raises(RevocationNotAllowed, match="one at a time"):
        ca_service.revoke_where(
            RevocationQuery(profile="issuing-ca"), reason=R.SUPERSEDED, actor=ACTOR
        )
    with pytest.raises(InvalidInput, match="no CA named"):
        ca_service.revoke_where(RevocationQuery(issuer="mars"), reason=R.SUPERSEDED, actor=ACTOR)
    assert _status(ca_service, early) is CertificateStatus.GOOD


class _FailingLedger(AuditLedger):
    """A ledger whose n-th append fails, as a full disk or a lost connection would."""

    def __init__(self, *args: Any, fail_at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.fail_at = fail_at

    def append(self, event: str, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("injected ledger failure")
        return super().append(event, **kwargs)


def test_a_failure_in_the_middle_of_a_bulk_revocation_revokes_nothing(
    ca_service: CAService,
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,
    transparency: TransparencyLog,
    clock: FixedClock,
) -> None:
    certs = [_issue(ca_service, register, p384=True) for _ in range(4)]
    failing = _FailingLedger(session_factory, clock=clock, fail_at=3)
    service = build_service(session_factory, hierarchy_keys, register, failing, transparency, clock)
    heard: list[tuple[str, int]] = []
    service.add_status_listener(lambda issuer, serial: heard.append((issuer, serial)))

    with pytest.raises(RuntimeError, match="injected"):
        service.revoke_where(
            RevocationQuery(key_algorithm="ec-p384"), reason=R.KEY_COMPROMISE, actor=ACTOR
        )
    assert all(_status(ca_service, c) is CertificateStatus.GOOD for c in certs)
    with session_factory() as session:
        assert session.scalars(select(CACertificateRow.status).distinct()).all() == ["good"]
        state = session.get(CACrlStateRow, "citizen")
        assert state is None or state.change_seq == 0
    assert heard == []  # listeners hear only committed changes


def test_listeners_hear_committed_changes_and_cannot_break_them(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    cert = _issue(ca_service, register)
    heard: list[tuple[str, int]] = []

    def broken(_issuer: str, _serial: int) -> None:
        raise ValueError("listener bug")

    ca_service.add_status_listener(broken)
    ca_service.add_status_listener(lambda issuer, serial: heard.append((issuer, serial)))
    ca_service.hold(cert.serial_hex, actor=ACTOR)
    ca_service.resume(cert.serial_hex, actor=ACTOR)
    assert heard == [("citizen", cert.certificate.serial_number)] * 2
    assert _status(ca_service, cert) is CertificateStatus.GOOD
