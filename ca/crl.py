"""Certificate revocation lists: full and delta CRLs (RFC 5280 §5), and when to make them.

:func:`build_crl` turns a list of :class:`~ca.revocation.RevokedEntry` into a signed CRL of one
issuer. It is pure domain code: storage supplies the entries, the CRL number and the times;
``api/`` serves the result as ``application/pkix-crl`` at the URLs of :class:`ca.urls.PkiUrls`.

A **full CRL** (RFC 5280 §5.1) carries:

* authorityKeyIdentifier (§5.2.1, the issuer's SKI) and cRLNumber (§5.2.3), both non-critical;
* issuingDistributionPoint (§5.2.5, critical) naming the full CRL's URL - the same URL the
  certificates name in their CRL distribution point, so a relying party can tell the CRL
  covers them (§6.3.3 (b)(2));
* freshestCRL (§5.2.6, non-critical) pointing at the delta CRL, when deltas are published;
* entries sorted by serial, each with its revocationDate, a reasonCode unless the reason is
  ``unspecified`` (§5.3.1: "the reason code CRL entry extension SHOULD be absent instead of
  using the unspecified (0) reasonCode value") and an invalidityDate (§5.3.2) when known.

The root CRL (the status of the issuing CAs) is built with ``idp_url=None``: the root
certificate names no distribution point of its own, and a CRL with an IDP would leave it out of
scope for ``openssl verify -crl_check_all`` ("different CRL scope").

A **delta CRL** (§5.2.4) has the deltaCRLIndicator (critical) naming the cRLNumber of its base
full CRL, the *same* issuingDistributionPoint as the base (same scope, §5.2.4; OpenSSL checks
that the two are identical) and no freshestCRL (§5.2.6: MUST NOT appear in a delta CRL). It
lists only what changed since the base: :func:`delta_entries` computes that, including
``removeFromCRL`` entries for holds released since the base (§5.3.1).

**CRL numbers** (the storage slice's contract): one sequence per issuer, shared by its full
and delta CRLs (§5.2.3: "the complete CRL and delta CRL MUST share one numbering sequence"
when both are issued for one scope), strictly increasing, never reused, at most 20 octets.
A delta's base is the number of the full CRL it updates, so base < delta number; a full CRL and
the delta made right after it get consecutive numbers.

:class:`CrlSchedule` decides when a CRL is due: a delta at once after every status change and
before its nextUpdate; a full CRL before its nextUpdate, and after a change once
``full_min_interval`` has passed since the last full CRL (every change, with ``0``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from ca.errors import InvalidCRLRequest, InvalidRevocationStatus
from ca.revocation import MAX_SERIAL, RevocationReason, RevokedEntry, signing_hash_for

__all__ = [
    "MAX_CRL_NUMBER",
    "CrlPlan",
    "CrlSchedule",
    "PublishedCrl",
    "build_crl",
    "delta_entries",
    "entries_of",
]

#: RFC 5280 §5.2.3: conforming CRL issuers MUST NOT use cRLNumber values longer than 20 octets.
MAX_CRL_NUMBER = MAX_SERIAL

_ZERO = dt.timedelta(0)


def _time(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidCRLRequest(f"{name} must be a timezone-aware datetime")
    # CRL times are whole seconds (RFC 5280 §5.1.2.4-5: UTCTime / GeneralizedTime, no fraction).
    return value.astimezone(dt.UTC).replace(microsecond=0)


def _crl_number(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CRL_NUMBER:
        raise InvalidCRLRequest(
            f"{name} must be a non-negative integer of at most 20 octets (RFC 5280 §5.2.3)"
        )
    return value


def _distribution_point(url: str) -> x509.DistributionPoint:
    return x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )


def _check_issuer(issuer_cert: x509.Certificate, issuer_key: object) -> None:
    # RFC 5280 §4.2.1.3: the key that signs CRLs is certified with the cRLSign bit.
    try:
        usage = issuer_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise InvalidCRLRequest("the issuer certificate has no key usage (cRLSign)") from exc
    if not usage.crl_sign:
        raise InvalidCRLRequest("the issuer certificate lacks the cRLSign key usage")
    public_key = getattr(issuer_key, "public_key", None)
    if public_key is None or public_key() != issuer_cert.public_key():
        raise InvalidCRLRequest("the issuer key does not match the issuer certificate")


def _authority_key_identifier(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _revoked_certificate(entry: RevokedEntry) -> x509.RevokedCertificate:
    builder = (
        x509.RevokedCertificateBuilder()
        .serial_number(entry.serial)
        .revocation_date(entry.revoked_at.replace(microsecond=0))
    )
    if entry.reason is not RevocationReason.UNSPECIFIED:
        builder = builder.add_extension(x509.CRLReason(entry.reason.flag), critical=False)
    if entry.invalidity_date is not None:
        invalid_from = entry.invalidity_date.replace(microsecond=0)
        builder = builder.add_extension(x509.InvalidityDate(invalid_from), critical=False)
    return builder.build()


def _checked_entries(
    revoked: Iterable[RevokedEntry], *, this_update: dt.datetime, is_delta: bool
) -> list[RevokedEntry]:
    entries = list(revoked)
    for entry in entries:
        if not isinstance(entry, RevokedEntry):
            raise InvalidCRLRequest(f"CRL entries must be RevokedEntry, got {type(entry).__name__}")
        if entry.revoked_at.replace(microsecond=0) > this_update:
            raise InvalidCRLRequest(
                f"serial {entry.serial:x} is revoked after the CRL's thisUpdate"
            )
        if not is_delta and not entry.reason.is_revocation:
            raise InvalidCRLRequest(
                "removeFromCRL appears only in delta CRLs (RFC 5280 §5.3.1); "
                f"serial {entry.serial:x} is in a full CRL"
            )
    # RFC 5280 does not order entries; sorted output makes CRLs reproducible and diffable.
    entries.sort(key=lambda e: e.serial)
    for previous, entry in itertools.pairwise(entries):
        if previous.serial == entry.serial:
            raise InvalidCRLRequest(f"serial {entry.serial:x} is listed twice")
    return entries


def build_crl(
    issuer_cert: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    revoked: Iterable[RevokedEntry],
    *,
    crl_number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
    idp_url: str | None,
    delta_base: int | None = None,
    freshest_crl_url: str | None = None,
) -> x509.CertificateRevocationList:
    """A signed full CRL, or a delta CRL when ``delta_base`` is the number of its base CRL.

    ``idp_url`` is the full CRL's distribution point URL (``PkiUrls.crl(ca)``), for a delta as
    well; ``freshest_crl_url`` the delta CRL's URL (``PkiUrls.delta_crl(ca)``), full CRLs only.

    :raises InvalidCRLRequest: the issuer cannot sign CRLs, a number or time is out of range,
        an entry is duplicated, revoked after ``this_update``, or ``removeFromCRL`` in a full CRL.
    """
    _check_issuer(issuer_cert, issuer_key)
    number = _crl_number(crl_number, "crl_number")
    is_delta = delta_base is not None
    if delta_base is not None and _crl_number(delta_base, "delta_base") >= number:
        raise InvalidCRLRequest(
            f"a delta CRL's number ({number}) must be greater than its base's ({delta_base})"
        )
    if is_delta and freshest_crl_url is not None:
        raise InvalidCRLRequest("a delta CRL must not carry freshestCRL (RFC 5280 §5.2.6)")
    this_update = _time(this_update, "this_update")
    next_update = _time(next_update, "next_update")
    if next_update <= this_update:
        raise InvalidCRLRequest("nextUpdate must be later than thisUpdate (RFC 5280 §5.1.2.5)")

    entries = _checked_entries(revoked, this_update=this_update, is_delta=is_delta)
    try:
        signing_hash = signing_hash_for(issuer_key)
    except InvalidRevocationStatus as exc:
        raise InvalidCRLRequest(str(exc)) from exc

    try:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer_cert.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(_authority_key_identifier(issuer_cert), critical=False)
            .add_extension(x509.CRLNumber(number), critical=False)
        )
        if delta_base is not None:
            builder = builder.add_extension(x509.DeltaCRLIndicator(delta_base), critical=True)
        if idp_url is not None:
            idp = x509.IssuingDistributionPoint(
                full_name=[x509.UniformResourceIdentifier(idp_url)],
                relative_name=None,
                only_contains_user_certs=False,
                only_contains_ca_certs=False,
                only_some_reasons=None,
                indirect_crl=False,
                only_contains_attribute_certs=False,
            )
            builder = builder.add_extension(idp, critical=True)
        if freshest_crl_url is not None:
            freshest = x509.FreshestCRL([_distribution_point(freshest_crl_url)])
            builder = builder.add_extension(freshest, critical=False)
        for entry in entries:
            builder = builder.add_revoked_certificate(_revoked_certificate(entry))
        return builder.sign(issuer_key, signing_hash)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        # cryptography's last word on an encodable CRL (URLs, names).
        raise InvalidCRLRequest(f"the CRL cannot be encoded: {exc}") from exc


def entries_of(crl: x509.CertificateRevocationList) -> list[RevokedEntry]:
    """The entries of a CRL read back as :class:`RevokedEntry` (a missing reason is unspecified).

    :raises InvalidCRLRequest: an entry's serial or reason is not one this CA writes.
    """
    result = []
    for revoked in crl:
        reason = RevocationReason.UNSPECIFIED
        invalid_from = None
        for ext in revoked.extensions:
            if isinstance(ext.value, x509.CRLReason):
                reason = RevocationReason.from_flag(ext.value.reason)
            elif isinstance(ext.value, x509.InvalidityDate):
                invalid_from = ext.value.invalidity_date_utc
        try:
            result.append(
                RevokedEntry(
                    revoked.serial_number, revoked.revocation_date_utc, reason, invalid_from
                )
            )
        except InvalidRevocationStatus as exc:
            raise InvalidCRLRequest(f"the CRL has an entry this CA cannot read: {exc}") from exc
    return result


def delta_entries(
    base: Iterable[RevokedEntry], current: Iterable[RevokedEntry]
) -> list[RevokedEntry]:
    """What a delta CRL over ``base`` must list so that base + delta = ``current`` (§5.2.4).

    ``base`` are the entries of the base full CRL (e.g. :func:`entries_of`), ``current`` every
    entry a full CRL would list now. The delta has each entry that is new or changed (a hold
    that became a revocation, a new reason), and a ``removeFromCRL`` entry for each hold in
    the base that was released. An entry that left the list for another reason (the
    certificate expired, §3.3) is not repeated: it is still revoked.
    """
    before = {e.serial: e for e in base}
    now = {e.serial: e for e in current}
    if any(not e.reason.is_revocation for e in now.values()):
        raise InvalidCRLRequest("the current entries must not contain removeFromCRL")
    changed = [entry for serial, entry in now.items() if before.get(serial) != entry]
    released = [
        RevokedEntry(serial, entry.revoked_at, RevocationReason.REMOVE_FROM_CRL)
        for serial, entry in before.items()
        if serial not in now and entry.reason is RevocationReason.CERTIFICATE_HOLD
    ]
    return sorted(changed + released, key=lambda e: e.serial)


# --- when to publish ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishedCrl:
    """What the schedule needs to know of the latest published full or delta CRL."""

    number: int
    this_update: dt.datetime
    next_update: dt.datetime
    #: The base CRL number for a delta CRL; ``None`` for a full CRL.
    delta_base: int | None = None

    @classmethod
    def of(cls, crl: x509.CertificateRevocationList) -> PublishedCrl:
        try:
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound as exc:
            raise InvalidCRLRequest("the CRL has no cRLNumber") from exc
        try:
            base: int | None = crl.extensions.get_extension_for_class(
                x509.DeltaCRLIndicator
            ).value.crl_number
        except x509.ExtensionNotFound:
            base = None
        next_update = crl.next_update_utc
        if next_update is None:
            raise InvalidCRLRequest("the CRL has no nextUpdate")
        return cls(number, crl.last_update_utc, next_update, base)


@dataclass(frozen=True, slots=True)
class CrlPlan:
    """Which CRLs to make now (the full one first: a new delta names it as its base)."""

    full: bool
    delta: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CrlSchedule:
    """When one issuer's CRLs are due (RFC 5280 §5.1.2.5: a new CRL by nextUpdate at latest).

    A CRL is renewed when less than its ``*_margin`` is left before nextUpdate, so a relying
    party that cached it never holds an expired CRL while a fresher one exists.
    """

    full_validity: dt.timedelta = dt.timedelta(days=7)
    full_margin: dt.timedelta = dt.timedelta(days=3)
    #: The shortest time between two full CRLs made because of status changes.
    full_min_interval: dt.timedelta = dt.timedelta(minutes=15)
    #: Whether delta CRLs are published (certificates then carry freshestCRL).
    deltas: bool = True
    delta_validity: dt.timedelta = dt.timedelta(days=1)
    delta_margin: dt.timedelta = dt.timedelta(hours=12)

    def __post_init__(self) -> None:
        if not _ZERO < self.full_margin < self.full_validity:
            raise InvalidCRLRequest("full_margin must be positive and shorter than full_validity")
        if not _ZERO < self.delta_margin < self.delta_validity:
            raise InvalidCRLRequest("delta_margin must be positive and shorter than delta_validity")
        if self.full_min_interval < _ZERO:
            raise InvalidCRLRequest("full_min_interval must not be negative")

    def full_window(self, *, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """(thisUpdate, nextUpdate) of a full CRL made at ``at``."""
        start = _time(at, "at")
        return start, start + self.full_validity

    def delta_window(self, *, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """(thisUpdate, nextUpdate) of a delta CRL made at ``at``."""
        start = _time(at, "at")
        return start, start + self.delta_validity

    def plan(
        self,
        *,
        at: dt.datetime,
        full: PublishedCrl | None,
        delta: PublishedCrl | None,
        last_change: dt.datetime | None,
    ) -> CrlPlan:
        """Which CRLs are due at ``at``, given the latest published ones and the time of the
        issuer's latest status change (revocation, hold or release; ``None`` if never)."""
        at = _time(at, "at")
        change = None if last_change is None else _time(last_change, "last_change")
        reasons: list[str] = []
        if full is None:
            reasons.append("no full CRL yet")
        else:
            if at >= full.next_update - self.full_margin:
                reasons.append("the full CRL is near its nextUpdate")
            changed = change is not None and change >= full.this_update
            if changed and at >= full.this_update + self.full_min_interval:
                reasons.append("a status changed since the full CRL")
        make_full = bool(reasons)
        make_delta = False
        if self.deltas:
            before = len(reasons)
            if make_full:
                reasons.append("a new full CRL needs a new delta")
            elif delta is None:
                reasons.append("no delta CRL yet")
            else:
                assert full is not None
                if delta.delta_base != full.number:
                    reasons.append("the delta CRL is based on an older full CRL")
                if change is not None and change >= delta.this_update:
                    reasons.append("a status changed since the delta CRL")
                if at >= delta.next_update - self.delta_margin:
                    reasons.append("the delta CRL is near its nextUpdate")
            make_delta = len(reasons) > before
        return CrlPlan(full=make_full, delta=make_delta, reasons=tuple(reasons))

    def next_check(
        self,
        *,
        full: PublishedCrl | None,
        delta: PublishedCrl | None,
        last_change: dt.datetime | None,
    ) -> dt.datetime | None:
        """The earliest time :meth:`plan` turns due without another status change, for a
        scheduler to sleep until (``None``: due now, as nothing was published yet)."""
        if full is None or (self.deltas and delta is None):
            return None
        times = [full.next_update - self.full_margin]
        change = None if last_change is None else _time(last_change, "last_change")
        if change is not None and change >= full.this_update:
            times.append(full.this_update + self.full_min_interval)
        if self.deltas and delta is not None:
            times.append(delta.next_update - self.delta_margin)
        return min(times)
