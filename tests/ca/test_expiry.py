"""The hierarchy's own certificates and CRLs and their attention windows (ca/expiry.py), as an
operator reads them: every CA, each CA's current OCSP responder and time-stamping certificate
and each CA's newest full CRL, with its end; one needs attention inside its window and not
before; a renewed service certificate or a newer CRL replaces the old one in the list.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from ca.expiry import ATTENTION, Role, Watched, watched
from ca.service import CAService
from ca.store import CertificateStore
from ca.tsa_renewal import TsaRenewal
from core.clock import FixedClock
from tests.ca._issuance import (  # noqa: F401 - fixtures
    ca_service,
    hierarchy_keys,
    ledger,
    register,
    session_hierarchy,
    transparency,
    tsa_renewal,
)

CAS = ["citizen", "entity", "government", "health"]


@pytest.fixture
def store(session_factory: sessionmaker[Session], ca_service: CAService) -> CertificateStore:  # noqa: F811
    ca_service.publish_crls()
    return CertificateStore(session_factory)


def _by_role(items: tuple[Watched, ...]) -> dict[Role, list[str]]:
    found: dict[Role, list[str]] = {}
    for item in items:
        found.setdefault(item.role, []).append(item.ca)
    return found


def test_every_ca_and_each_current_service_certificate_is_watched(
    store: CertificateStore,
    ca_service: CAService,  # noqa: F811
) -> None:
    items = watched(store)
    assert _by_role(items) == {
        Role.ROOT_CA: ["root"],
        Role.ISSUING_CA: CAS,
        Role.OCSP_RESPONDER: CAS,
        Role.TSA: ["government"],
        Role.CRL: ["root", *CAS],
    }
    stored = {a.name: a for a in ca_service.authorities()}
    for item in items:
        if item.role in (Role.ROOT_CA, Role.ISSUING_CA):
            assert item.ident == stored[item.ca].serial_hex
            assert item.not_after == stored[item.ca].certificate.not_valid_after_utc
        elif item.role is Role.CRL:
            crl = x509.load_der_x509_crl(ca_service.crl(item.ca))
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            assert item.ident == f"CRL {number}"
            assert item.not_after == crl.next_update_utc
        else:
            cert = store.get(item.ident)
            assert (cert.issuer, cert.not_after) == (item.ca, item.not_after)


def test_nothing_needs_attention_in_a_new_hierarchy(
    store: CertificateStore, clock: FixedClock
) -> None:
    assert [i for i in watched(store) if i.needs_attention(clock.now())] == []


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.CRL])
def test_a_certificate_needs_attention_from_its_window_on(
    store: CertificateStore, clock: FixedClock, role: Role
) -> None:
    item = next(i for i in watched(store) if i.role is role)
    window = ATTENTION[role]
    assert item.window == window
    assert not item.needs_attention(item.not_after - window - dt.timedelta(seconds=1))
    assert item.needs_attention(item.not_after - window)
    assert item.needs_attention(item.not_after + dt.timedelta(days=1))  # and once it ended
    assert item.left(item.not_after + dt.timedelta(days=1)) == -dt.timedelta(days=1)


def test_a_renewed_time_stamping_certificate_replaces_the_old_one(
    store: CertificateStore,
    clock: FixedClock,
    tsa_renewal: TsaRenewal,  # noqa: F811
) -> None:
    before = next(i for i in watched(store) if i.role is Role.TSA)
    clock.set(before.not_after - dt.timedelta(days=200))
    assert before.needs_attention(clock.now())
    renewed = tsa_renewal.renew(actor="test")
    assert renewed is not None
    after = [i for i in watched(store) if i.role is Role.TSA]
    assert [(i.ident, i.not_after) for i in after] == [(renewed.serial_hex, renewed.not_after)]
    assert not after[0].needs_attention(clock.now())


def test_a_crl_needs_attention_a_day_after_it_should_have_been_republished(
    store: CertificateStore,
    clock: FixedClock,
    ca_service: CAService,  # noqa: F811
) -> None:
    crls = {i.ca: i for i in watched(store) if i.role is Role.CRL}
    # Republished 3 days before nextUpdate (the root: 10), so attention from 2 days (9).
    assert crls["citizen"].not_after == clock.now() + dt.timedelta(days=7)
    assert crls["citizen"].window == dt.timedelta(days=2)
    assert crls["root"].not_after == clock.now() + dt.timedelta(days=30)
    assert crls["root"].window == dt.timedelta(days=9)
    clock.advance(dt.timedelta(days=5))  # citizen's CRL was due a day ago: none published
    assert not crls["citizen"].needs_attention(clock.now() - dt.timedelta(seconds=1))
    assert crls["citizen"].needs_attention(clock.now())
    ca_service.publish_crls("citizen")  # what natid serve's upkeep does
    newer = next(i for i in watched(store) if i.role is Role.CRL and i.ca == "citizen")
    assert newer.ident != crls["citizen"].ident
    assert not newer.needs_attention(clock.now())
