"""Full and delta CRLs (RFC 5280 §5) and the publication schedule, read back with cryptography."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ca.crl import (
    MAX_CRL_NUMBER,
    CrlPlan,
    CrlSchedule,
    PublishedCrl,
    build_crl,
    delta_entries,
    entries_of,
)
from ca.errors import InvalidCRLRequest
from ca.revocation import RevocationReason, RevokedEntry
from tests.ca._pki import CA, Pki, fresh_p256, make_pki, now_utc

R = RevocationReason
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def t() -> dt.datetime:
    return now_utc()


def full_crl(pki: Pki, entries: list[RevokedEntry], t: dt.datetime, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "crl_number": 10,
        "this_update": t,
        "next_update": t + 7 * DAY,
        "idp_url": pki.urls.crl(CA),
        "freshest_crl_url": pki.urls.delta_crl(CA),
    }
    args.update(kw)
    return build_crl(pki.ca_cert, pki.ca_key, entries, **args)


def ext(crl: x509.CertificateRevocationList, kind: type[Any]) -> x509.Extension[Any]:
    return crl.extensions.get_extension_for_class(kind)


def test_full_crl_has_the_rfc5280_extensions(pki: Pki, t: dt.datetime) -> None:
    crl = full_crl(pki, [], t)
    assert crl.is_signature_valid(pki.ca_cert.public_key())
    assert isinstance(crl.signature_hash_algorithm, hashes.SHA384)  # P-384 issuing CA
    assert crl.issuer == pki.ca_cert.subject
    assert (crl.last_update_utc, crl.next_update_utc) == (t, t + 7 * DAY)
    assert ext(crl, x509.CRLNumber).value.crl_number == 10
    ski = pki.ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ext(crl, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    with pytest.raises(x509.ExtensionNotFound):
        ext(crl, x509.DeltaCRLIndicator)


def test_idp_matches_the_distribution_point_the_certificates_name(pki: Pki, t: dt.datetime) -> None:
    crl = full_crl(pki, [], t)
    idp = ext(crl, x509.IssuingDistributionPoint)
    assert idp.critical  # RFC 5280 §5.2.5
    cdp = pki.leaf("alice").extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert idp.value.full_name == cdp.value[0].full_name
    freshest = ext(crl, x509.FreshestCRL)
    assert not freshest.critical
    leaf_freshest = pki.leaf("alice").extensions.get_extension_for_class(x509.FreshestCRL)
    assert freshest.value[0].full_name == leaf_freshest.value[0].full_name


def test_entries_are_sorted_with_reason_and_invalidity_date(pki: Pki, t: dt.datetime) -> None:
    compromised_since = t - 3 * DAY
    entries = [
        RevokedEntry(300, t - HOUR, R.KEY_COMPROMISE, compromised_since),
        RevokedEntry(100, t - 2 * HOUR),  # unspecified
        RevokedEntry(200, t - HOUR, R.CERTIFICATE_HOLD),
    ]
    crl = full_crl(pki, entries, t)
    assert [r.serial_number for r in crl] == [100, 200, 300]
    unspecified = crl.get_revoked_certificate_by_serial_number(100)
    assert unspecified is not None
    # RFC 5280 §5.3.1: no reasonCode rather than reasonCode unspecified.
    assert len(unspecified.extensions) == 0
    compromised = crl.get_revoked_certificate_by_serial_number(300)
    assert compromised is not None
    assert compromised.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )
    invalidity = compromised.extensions.get_extension_for_class(x509.InvalidityDate)
    assert invalidity.value.invalidity_date_utc == compromised_since
    assert entries_of(crl) == sorted(entries, key=lambda e: e.serial)


def test_delta_crl_names_its_base_and_shares_the_full_crls_scope(pki: Pki, t: dt.datetime) -> None:
    full = full_crl(pki, [], t)
    delta = build_crl(
        pki.ca_cert, pki.ca_key, [RevokedEntry(7, t, R.SUPERSEDED)],
        crl_number=11, delta_base=10, this_update=t, next_update=t + DAY,
        idp_url=pki.urls.crl(CA),
    )  # fmt: skip
    indicator = ext(delta, x509.DeltaCRLIndicator)
    assert indicator.critical
    assert indicator.value.crl_number == 10
    assert ext(delta, x509.CRLNumber).value.crl_number == 11
    # Same scope as the base: OpenSSL compares the two IDPs byte for byte.
    assert ext(delta, x509.IssuingDistributionPoint) == ext(full, x509.IssuingDistributionPoint)
    with pytest.raises(x509.ExtensionNotFound):
        ext(delta, x509.FreshestCRL)  # RFC 5280 §5.2.6


def test_delta_lists_only_changes_including_released_holds(t: dt.datetime) -> None:
    base = [
        RevokedEntry(1, t - DAY, R.KEY_COMPROMISE),  # unchanged
        RevokedEntry(2, t - DAY, R.CERTIFICATE_HOLD),  # hold released
        RevokedEntry(3, t - DAY, R.CERTIFICATE_HOLD),  # hold became a revocation
        RevokedEntry(4, t - DAY, R.SUPERSEDED),  # certificate expired, dropped
    ]
    current = [
        RevokedEntry(1, t - DAY, R.KEY_COMPROMISE),
        RevokedEntry(3, t - HOUR, R.KEY_COMPROMISE),
        RevokedEntry(5, t - HOUR, R.AFFILIATION_CHANGED),  # new
    ]
    assert delta_entries(base, current) == [
        RevokedEntry(2, t - DAY, R.REMOVE_FROM_CRL),
        RevokedEntry(3, t - HOUR, R.KEY_COMPROMISE),
        RevokedEntry(5, t - HOUR, R.AFFILIATION_CHANGED),
    ]
    assert delta_entries(current, current) == []


def test_delta_input_must_be_a_full_list(t: dt.datetime) -> None:
    with pytest.raises(InvalidCRLRequest):
        delta_entries([], [RevokedEntry(1, t, R.REMOVE_FROM_CRL)])


def test_released_hold_appears_in_the_delta_crl_as_remove_from_crl(
    pki: Pki, t: dt.datetime
) -> None:
    released = RevokedEntry(2, t - DAY, R.REMOVE_FROM_CRL)
    delta = build_crl(
        pki.ca_cert, pki.ca_key, [released], crl_number=11, delta_base=10,
        this_update=t, next_update=t + DAY, idp_url=pki.urls.crl(CA),
    )  # fmt: skip
    assert entries_of(delta) == [released]


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "kw", "match"),
    [
        ([RevokedEntry(1, dt.datetime(2020, 1, 1, tzinfo=dt.UTC), R.REMOVE_FROM_CRL)], {}, "delta"),
        ([RevokedEntry(1, dt.datetime(2020, 1, 1, tzinfo=dt.UTC))] * 2, {}, "twice"),
        ([], {"crl_number": -1}, "20 octets"),
        ([], {"crl_number": MAX_CRL_NUMBER + 1}, "20 octets"),
        ([], {"crl_number": True}, "20 octets"),
        ([], {"delta_base": 10, "freshest_crl_url": None}, "greater than its base"),
        ([], {"delta_base": 9}, "freshestCRL"),
        ([], {"next_update": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "later than"),
        ([], {"this_update": dt.datetime(2030, 1, 1)}, "timezone"),
        ([], {"idp_url": "http://pki.natid.gov.kh/crl/ស.crl"}, "cannot be encoded"),
    ],
)
def test_impossible_crl_is_refused(
    pki: Pki, t: dt.datetime, entries: list[RevokedEntry], kw: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidCRLRequest, match=match):
        full_crl(pki, entries, t, **kw)


def test_revocation_after_this_update_is_refused(pki: Pki, t: dt.datetime) -> None:
    # A CRL cannot vouch for what happened after it was made (clock skew between workers).
    with pytest.raises(InvalidCRLRequest, match="after the CRL"):
        full_crl(pki, [RevokedEntry(1, t + dt.timedelta(seconds=1))], t)
    # The same second is fine: CRL times are whole seconds.
    full_crl(pki, [RevokedEntry(1, t + dt.timedelta(microseconds=999_999))], t)


def test_crl_signed_by_a_certificate_without_crl_sign_is_refused(pki: Pki, t: dt.datetime) -> None:
    with pytest.raises(InvalidCRLRequest, match="cRLSign"):
        build_crl(
            pki.responder_cert, pki.responder_key, [], crl_number=1,
            this_update=t, next_update=t + DAY, idp_url=None,
        )  # fmt: skip


def test_crl_signed_by_a_key_that_is_not_the_issuers_is_refused(pki: Pki, t: dt.datetime) -> None:
    with pytest.raises(InvalidCRLRequest, match="does not match"):
        build_crl(
            pki.ca_cert, fresh_p256(), [], crl_number=1,
            this_update=t, next_update=t + DAY, idp_url=None,
        )  # fmt: skip


def test_non_entries_are_refused(pki: Pki, t: dt.datetime) -> None:
    with pytest.raises(InvalidCRLRequest, match="RevokedEntry"):
        full_crl(pki, [(1, t)], t)  # type: ignore[list-item]


# --- the schedule ----------------------------------------------------------------------------

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
SCHEDULE = CrlSchedule()
FULL = PublishedCrl(10, T0, T0 + 7 * DAY)
DELTA = PublishedCrl(11, T0, T0 + DAY, delta_base=10)


def plan(at: dt.datetime, *, change: dt.datetime | None = None, **kw: Any) -> CrlPlan:
    return SCHEDULE.plan(
        at=at, full=kw.get("full", FULL), delta=kw.get("delta", DELTA), last_change=change
    )


def test_first_run_makes_both_crls() -> None:
    first = SCHEDULE.plan(at=T0, full=None, delta=None, last_change=None)
    assert (first.full, first.delta) == (True, True)
    assert SCHEDULE.next_check(full=None, delta=None, last_change=None) is None


def test_nothing_is_due_in_a_quiet_hour() -> None:
    quiet = plan(T0 + HOUR)
    assert (quiet.full, quiet.delta, quiet.reasons) == (False, False, ())


def test_revocation_makes_a_delta_at_once_and_a_full_crl_after_the_minimum_interval() -> None:
    change = T0 + dt.timedelta(minutes=5)
    soon = plan(change, change=change)
    assert (soon.full, soon.delta) == (False, True)
    assert SCHEDULE.next_check(full=FULL, delta=DELTA, last_change=change) == (
        T0 + SCHEDULE.full_min_interval
    )
    later = plan(T0 + SCHEDULE.full_min_interval, change=change)
    assert (later.full, later.delta) == (True, True)


def test_without_deltas_every_change_remakes_the_full_crl() -> None:
    schedule = CrlSchedule(deltas=False, full_min_interval=dt.timedelta(0))
    result = schedule.plan(at=T0 + HOUR, full=FULL, delta=None, last_change=T0 + HOUR)
    assert (result.full, result.delta) == (True, False)


def test_crls_are_renewed_before_next_update_not_after() -> None:
    assert plan(DELTA.next_update - SCHEDULE.delta_margin).delta
    assert not plan(DELTA.next_update - SCHEDULE.delta_margin - dt.timedelta(seconds=1)).delta
    assert plan(FULL.next_update - SCHEDULE.full_margin).full
    assert SCHEDULE.next_check(full=FULL, delta=DELTA, last_change=None) == (
        DELTA.next_update - SCHEDULE.delta_margin
    )


def test_delta_on_an_old_base_is_remade() -> None:
    stale = PublishedCrl(9, T0, T0 + DAY, delta_base=8)
    assert plan(T0 + HOUR, delta=stale).delta


def test_change_in_the_same_second_as_the_crl_counts_as_after_it() -> None:
    # CRL times are whole seconds; a change inside the CRL's second may have missed it.
    assert plan(T0 + dt.timedelta(seconds=1), change=T0 + dt.timedelta(microseconds=500)).delta


def test_published_crl_reads_numbers_and_times(pki: Pki, t: dt.datetime) -> None:
    crl = full_crl(pki, [], t)
    assert PublishedCrl.of(crl) == PublishedCrl(10, t, t + 7 * DAY, None)
    delta = build_crl(
        pki.ca_cert, pki.ca_key, [], crl_number=12, delta_base=10,
        this_update=t, next_update=t + DAY, idp_url=None,
    )  # fmt: skip
    assert PublishedCrl.of(delta).delta_base == 10


@pytest.mark.parametrize(
    "kw",
    [
        {"full_margin": 8 * DAY},
        {"delta_margin": dt.timedelta(0)},
        {"full_min_interval": -HOUR},
    ],
)
def test_nonsensical_schedule_is_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(InvalidCRLRequest):
        CrlSchedule(**kw)


def test_windows_are_whole_seconds(t: dt.datetime) -> None:
    start, end = SCHEDULE.full_window(at=t + dt.timedelta(microseconds=7))
    assert (start, end) == (t, t + 7 * DAY)
    assert SCHEDULE.delta_window(at=t) == (t, t + DAY)
