"""The hierarchy's own certificates and their attention windows (ca/expiry.py), as an operator
reads them: every CA and each CA's current OCSP responder and time-stamping certificate, with
its end; a certificate needs attention inside its role's window and not before; a renewed
service certificate replaces the old one in the list.
"""

from __future__ import annotations

import datetime as dt

import pytest
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
    }
    stored = {a.name: a for a in ca_service.authorities()}
    for item in items:
        if item.role in (Role.ROOT_CA, Role.ISSUING_CA):
            assert item.serial_hex == stored[item.ca].serial_hex
            assert item.not_after == stored[item.ca].certificate.not_valid_after_utc
        else:
            cert = store.get(item.serial_hex)
            assert (cert.issuer, cert.not_after) == (item.ca, item.not_after)


def test_nothing_needs_attention_in_a_new_hierarchy(
    store: CertificateStore, clock: FixedClock
) -> None:
    assert [i for i in watched(store) if i.needs_attention(clock.now())] == []


@pytest.mark.parametrize("role", list(Role))
def test_a_certificate_needs_attention_from_its_window_on(
    store: CertificateStore, clock: FixedClock, role: Role
) -> None:
    item = next(i for i in watched(store) if i.role is role)
    window = ATTENTION[role]
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
    assert [(i.serial_hex, i.not_after) for i in after] == [(renewed.serial_hex, renewed.not_after)]
    assert not after[0].needs_attention(clock.now())
