"""Renewal of the time-stamping unit's certificate (ca/tsa_renewal.py), on SQLite and PostgreSQL.

An operator sees: nothing happens while the certificate has more than the window left; within
it, a new key and a new certificate that pkilint and ``openssl verify -purpose timestampsign``
accept, linked to the old one (which stays valid), logged and audited, and named by the
hierarchy from then on; a renewal that could not outlive the current certificate is refused
with the reason.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca.errors import CertificateNotRenewable, InvalidPkiConfiguration
from ca.hierarchy import TSA_ISSUER
from ca.service import CAService
from ca.store import serial_hex
from ca.transparency import TransparencyLog
from ca.tsa_renewal import AUDIT_EVENT, TsaRenewal
from core.audit import AuditLedger
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
    tsa_renewal,
)
from tests.ca._lint import errors, lint_pkix
from tests.conftest import require_command

DAY = dt.timedelta(days=1)


@pytest.fixture
def renew(tsa_renewal: TsaRenewal) -> TsaRenewal:  # noqa: F811
    return tsa_renewal


def _labels(keys: SoftKeyBackend) -> set[str]:
    return {info.label for info in keys.list()}


def _until_end(clock: FixedClock, cert: x509.Certificate, left: dt.timedelta) -> None:
    clock.advance(cert.not_valid_after_utc - clock.now() - left)


def test_nothing_is_renewed_while_the_certificate_has_time_left(
    renew: TsaRenewal,
    ca_service: CAService,  # noqa: F811
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    ledger: AuditLedger,  # noqa: F811
    clock: FixedClock,
) -> None:
    before, head = _labels(hierarchy_keys), ledger.head().seq
    _until_end(clock, ca_service.hierarchy().tsa, 366 * DAY)

    assert renew.renew(actor="op") is None

    assert _labels(hierarchy_keys) == before
    assert ledger.head().seq == head


def test_an_expiring_certificate_gets_a_new_key_and_certificate(
    renew: TsaRenewal,
    ca_service: CAService,  # noqa: F811
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    ledger: AuditLedger,  # noqa: F811
    transparency: TransparencyLog,  # noqa: F811
    clock: FixedClock,
) -> None:
    old = ca_service.hierarchy().tsa
    _until_end(clock, old, 300 * DAY)

    renewed = renew.renew(actor="op")

    assert renewed is not None
    hierarchy = ca_service.hierarchy()
    new = hierarchy.tsa
    assert renewed.serial_hex == serial_hex(new.serial_number)
    # A new key in the key backend, under the label the hierarchy now names.
    assert hierarchy.tsa_key_label == renewed.key_label in _labels(hierarchy_keys)
    assert hierarchy_keys.public_key(renewed.key_label) == new.public_key() != old.public_key()
    # The same subject and issuer; it ends later than the old one, never after its CA.
    assert new.subject == old.subject
    government = hierarchy.cas[TSA_ISSUER]
    new.verify_directly_issued_by(government)
    assert old.not_valid_after_utc < new.not_valid_after_utc <= government.not_valid_after_utc
    eku = new.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]
    # Linked to its predecessor, which stays valid, and logged for transparency.
    previous = ca_service.get(renewed.renewed_from or "")
    assert previous.certificate == old and previous.replaced_by == renewed.serial_hex
    assert previous.status.value == "good"
    assert transparency.entry_for_certificate(new) is not None
    (entry,) = [e for e in ledger.tail(5) if e.event == AUDIT_EVENT]
    assert (entry.actor, entry.data["serial"], entry.data["key_label"]) == (
        "op",
        renewed.serial_hex,
        renewed.key_label,
    )
    # Done once: a second run finds nothing due.
    assert renew.renew(actor="op") is None


def test_the_renewed_certificate_passes_pkilint_and_openssl_verify(
    renew: TsaRenewal,
    ca_service: CAService,  # noqa: F811
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    openssl = require_command("openssl")
    _until_end(clock, ca_service.hierarchy().tsa, 100 * DAY)
    assert renew.renew(actor="op") is not None
    hierarchy = ca_service.hierarchy()
    bad = errors(lint_pkix(hierarchy.tsa.public_bytes(serialization.Encoding.DER)))
    assert not bad, "\n".join(map(str, bad))
    paths = {}
    for name, cert in {
        "root": hierarchy.root,
        "ca": hierarchy.cas[TSA_ISSUER],
        "tsa": hierarchy.tsa,
    }.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    at = int((clock.now() + DAY).timestamp())
    result = subprocess.run(
        [openssl, "verify", "-x509_strict", "-attime", str(at), "-purpose", "timestampsign",
         "-CAfile", paths["root"], "-untrusted", paths["ca"], paths["tsa"]],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_renewal_that_could_not_outlive_the_current_certificate_is_refused(
    renew: TsaRenewal,
    ca_service: CAService,  # noqa: F811
    hierarchy_keys: SoftKeyBackend,  # noqa: F811
    clock: FixedClock,
) -> None:
    _until_end(clock, ca_service.hierarchy().tsa, 300 * DAY)
    assert renew.renew(actor="op") is not None  # now ends with the government CA
    labels = _labels(hierarchy_keys)

    with pytest.raises(CertificateNotRenewable, match="renew the CA first"):
        renew.renew(before=6 * 364 * DAY, actor="op")

    assert _labels(hierarchy_keys) == labels  # no key made for it


@pytest.mark.parametrize("days", [-1, 6 * 365])
def test_a_window_as_long_as_the_validity_is_refused(renew: TsaRenewal, days: int) -> None:
    with pytest.raises(InvalidPkiConfiguration, match="within 0 to"):
        renew.renew(before=days * DAY, actor="op")
