"""Renewal of the OCSP responder certificates (ca/ocsp_renewal.py) and the responders that use
them (ca/ocsp_service.py), on SQLite and PostgreSQL.

An operator sees: nothing happens while every responder has time left; when one is about to
expire it gets a new key and a new 90-day certificate that pkilint and ``openssl verify``
accept, linked to the old one, logged and audited; the responders switch to it; a failure
leaves no orphan key and no half-stored certificate; two renewals racing end with one.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import CAStorageUnavailable, InvalidOCSPConfiguration
from ca.ocsp_renewal import AUDIT_EVENT, ResponderRenewal
from ca.ocsp_service import OCSPResponders, UnknownOCSPResponder
from ca.service import CAService
from ca.store import serial_hex
from ca.transparency import TransparencyLog
from ca.urls import PkiUrls
from core.audit import AuditLedger
from core.cache import InMemoryCache
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from tests.ca._issuance import (  # noqa: F401 - fixtures
    BASE_URL,
    ca_service,
    hierarchy_keys,
    ledger,
    register,
    session_hierarchy,
    transparency,
)
from tests.ca._lint import errors, lint_pkix
from tests.conftest import require_command

CAS = {"citizen", "entity", "government", "health"}
DAY = dt.timedelta(days=1)


def renewal(
    sessions: sessionmaker[Session],
    keys: SoftKeyBackend,
    audit: AuditLedger | None,
    log: TransparencyLog | None,
    clock: FixedClock,
) -> ResponderRenewal:
    return ResponderRenewal(
        sessions, keys=keys, ledger=audit, log=log, clock=clock, urls=PkiUrls(BASE_URL)
    )


@pytest.fixture
def renew(
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    ledger: AuditLedger,  # noqa: F811
    transparency: TransparencyLog,  # noqa: F811
    clock: FixedClock,
    ca_service: CAService,  # noqa: F811 - stores the hierarchy first
) -> ResponderRenewal:
    return renewal(session_factory, hierarchy_keys, ledger, transparency, clock)


def labels(keys: SoftKeyBackend) -> set[str]:
    return {info.label for info in keys.list()}


def test_nothing_is_renewed_while_every_responder_has_time_left(
    renew: ResponderRenewal,
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    ledger: AuditLedger,  # noqa: F811
    clock: FixedClock,
) -> None:
    before = labels(hierarchy_keys)
    head = ledger.head().seq
    clock.advance(59 * DAY)  # 31 days left
    assert renew.renew_ocsp_responders(before=30 * DAY, actor="op") == []
    assert labels(hierarchy_keys) == before
    assert ledger.head().seq == head


def test_expiring_responders_get_a_new_key_and_certificate(
    renew: ResponderRenewal,
    ca_service: CAService,  # noqa: F811
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    ledger: AuditLedger,  # noqa: F811
    transparency: TransparencyLog,  # noqa: F811
    clock: FixedClock,
) -> None:
    old = dict(ca_service.hierarchy().ocsp_responders)
    clock.advance(61 * DAY)  # 29 days left
    renewed = renew.renew_ocsp_responders(before=30 * DAY, actor="op")
    assert {r.issuer for r in renewed} == CAS
    hierarchy = ca_service.hierarchy()
    for r in renewed:
        new = hierarchy.ocsp_responders[r.issuer]
        assert r.serial_hex == serial_hex(new.serial_number)
        # A new key, in the key backend, under the label the stored certificate names.
        assert r.key_label in labels(hierarchy_keys)
        assert hierarchy.ocsp_key_labels[r.issuer] == r.key_label
        assert hierarchy_keys.public_key(r.key_label) == new.public_key()
        assert new.public_key() != old[r.issuer].public_key()
        # The same subject, the same CA, a full validity from now, the delegation marks.
        assert new.subject == old[r.issuer].subject
        new.verify_directly_issued_by(hierarchy.cas[r.issuer])
        assert new.not_valid_before_utc == clock.now()
        assert new.not_valid_after_utc == clock.now() + 90 * DAY - dt.timedelta(seconds=1)
        eku = new.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]
        new.extensions.get_extension_for_class(x509.OCSPNoCheck)
        # Linked to its predecessor, which stays valid, and logged for transparency.
        previous = ca_service.get(r.renewed_from or "")
        assert previous.certificate == old[r.issuer]
        assert previous.replaced_by == r.serial_hex
        assert ca_service.get(r.serial_hex).renewed_from == previous.serial_hex
        assert transparency.entry_for_certificate(new) is not None
    audited = [e for e in ledger.tail(10) if e.event == AUDIT_EVENT]
    assert {e.data["issuer"] for e in audited} == CAS
    assert {e.actor for e in audited} == {"op"}
    # Done once: a second run finds nothing due.
    assert renew.renew_ocsp_responders(before=30 * DAY, actor="op") == []


def test_renewed_responder_passes_pkilint_and_openssl_verify(
    renew: ResponderRenewal,
    ca_service: CAService,  # noqa: F811
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    openssl = require_command("openssl")
    clock.advance(80 * DAY)
    (citizen, *_rest) = renew.renew_ocsp_responders(before=30 * DAY, actor="op")
    hierarchy = ca_service.hierarchy()
    new = hierarchy.ocsp_responders[citizen.issuer]
    bad = errors(lint_pkix(new.public_bytes(serialization.Encoding.DER)))
    assert not bad, "\n".join(map(str, bad))
    paths = {}
    for name, cert in {"root": hierarchy.root, "ca": hierarchy.cas[citizen.issuer]}.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    leaf = tmp_path / "responder.pem"
    leaf.write_bytes(new.public_bytes(serialization.Encoding.PEM))
    at = int((clock.now() + dt.timedelta(hours=1)).timestamp())
    result = subprocess.run(
        [openssl, "verify", "-x509_strict", "-attime", str(at), "-purpose", "ocsphelper",
         "-CAfile", paths["root"], "-untrusted", paths["ca"], leaf],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_responders_switch_to_the_renewed_certificate(
    renew: ResponderRenewal,
    ca_service: CAService,  # noqa: F811
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    clock: FixedClock,
) -> None:
    clock.advance(70 * DAY)
    responders = OCSPResponders(
        session_factory,
        keys=hierarchy_keys,
        cache=InMemoryCache(clock=clock),
        clock=clock,
        status_of=ca_service.status_of,
        urls=PkiUrls(BASE_URL),
    )
    old = responders.responder("citizen").responder_certificate
    renew.renew_ocsp_responders(before=30 * DAY, actor="op")
    assert responders.responder("citizen").responder_certificate == old  # until the next check
    responders.refresh()
    new = responders.responder("citizen").responder_certificate
    assert new == ca_service.hierarchy().ocsp_responders["citizen"] != old
    with pytest.raises(UnknownOCSPResponder, match="root's CRL"):
        responders.responder("root")


@pytest.mark.parametrize("days", [-1, 90, 365])
def test_window_as_long_as_the_validity_is_refused(renew: ResponderRenewal, days: int) -> None:
    # A 90-day window would renew every responder on every run.
    with pytest.raises(InvalidOCSPConfiguration):
        renew.renew_ocsp_responders(before=days * DAY, actor="op")


class FailingLedger(AuditLedger):
    """A ledger whose database fails on append (after the certificate was written)."""

    def append(self, *args: Any, **kwargs: Any) -> Any:
        raise CAStorageUnavailable("injected: the ledger's database failed")


def test_failed_renewal_leaves_no_key_and_no_certificate(
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    transparency: TransparencyLog,  # noqa: F811
    clock: FixedClock,
    ca_service: CAService,  # noqa: F811
) -> None:
    before = labels(hierarchy_keys)
    old = dict(ca_service.hierarchy().ocsp_responders)
    broken = renewal(
        session_factory, hierarchy_keys, FailingLedger(session_factory, clock=clock), transparency,
        clock,
    )  # fmt: skip
    clock.advance(70 * DAY)
    with pytest.raises(CAStorageUnavailable):
        broken.renew_ocsp_responders(before=30 * DAY, actor="op")
    assert labels(hierarchy_keys) == before
    assert dict(ca_service.hierarchy().ocsp_responders) == old
    assert transparency.tree_size() == len(ca_service.list(limit=None))


def test_concurrent_renewals_end_with_one_new_certificate(
    renew: ResponderRenewal,
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    ledger: AuditLedger,  # noqa: F811
    transparency: TransparencyLog,  # noqa: F811
    clock: FixedClock,
    ca_service: CAService,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock.advance(70 * DAY)
    other = renewal(session_factory, hierarchy_keys, ledger, transparency, clock)
    stale = other.due(before=30 * DAY)  # the other process looked before we renewed ...
    assert set(stale) == CAS
    first = renew.renew_ocsp_responders(before=30 * DAY, actor="op")
    keys_after_first = labels(hierarchy_keys)
    monkeypatch.setattr(other, "due", lambda *, before: stale)
    assert other.renew_ocsp_responders(before=30 * DAY, actor="op") == []  # ... and lost
    assert labels(hierarchy_keys) == keys_after_first  # its keys were destroyed again
    current = ca_service.hierarchy().ocsp_responders
    assert {r.issuer: r.serial_hex for r in first} == {
        name: serial_hex(cert.serial_number) for name, cert in current.items()
    }


def test_response_is_signed_by_the_new_responder(
    renew: ResponderRenewal,
    ca_service: CAService,  # noqa: F811
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    clock: FixedClock,
) -> None:
    clock.advance(70 * DAY)
    renew.renew_ocsp_responders(before=30 * DAY, actor="op")
    responders = OCSPResponders(
        session_factory,
        keys=hierarchy_keys,
        cache=None,
        clock=clock,
        status_of=ca_service.status_of,
    )
    hierarchy = ca_service.hierarchy()
    citizen = hierarchy.ocsp_responders["citizen"]
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(citizen, hierarchy.cas["citizen"], hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    response = ocsp.load_der_ocsp_response(responders.respond("citizen", request))
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.certificates == [citizen]
