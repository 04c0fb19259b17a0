"""What register life events mean for certificates (issue 8, "Life events").

:class:`CertificateLifecycle` takes ids only (a person's or civil servant's register id, an
event id) and acts through :class:`~ca.service.CAService`, so every revocation is audited,
regenerates the CRLs and re-signs OCSP answers like any other:

* **Death** - every good or held certificate of the person, and of each of their civil-servant
  positions (government certificates name the position's id), is revoked with
  ``cessationOfOperation`` (RFC 5280 §5.3.1: the subject no longer needs it), unless
  :data:`DEATH_REASONS` names another reason for the profile.
* **Change of name, ID card renewal** - the person's good certificates are flagged for re-issue
  (``registry_reissue_flags``): they stay valid, since the person still is who they certify,
  until the person accepts a replacement. A new certificate of the same profile issued to the
  same subject after the flag is that acceptance: :meth:`settle_reissues` then revokes the
  flagged one with ``superseded``. New certificates take the names and ``serialNumber``
  (ETSI EN 319 412-1 §5.1.3, ``IDCKH-<card number>``) from the register at issuance.
* **A civil servant moves or leaves** - the government certificates of the ended position are
  revoked with ``affiliationChanged`` (RFC 5280 §5.3.1).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca.models import CertificateStatus
from ca.profiles import ProfileName
from ca.revocation import RevocationReason
from ca.revoke import RevocationQuery
from ca.service import CAService
from core.audit import AuditLedger
from core.db import transaction
from registry.event_models import ReissueFlagRow

__all__ = ["DEATH_REASONS", "GOVERNMENT_PROFILES", "CertificateLifecycle", "ReissueFlag"]

log = logging.getLogger(__name__)

#: Per profile, the revocation reason after the subject's death when it is not
#: ``cessationOfOperation`` (none by default; a policy may want ``privilegeWithdrawn`` for
#: government certificates, for example).
DEATH_REASONS: Mapping[ProfileName, RevocationReason] = {}
GOVERNMENT_PROFILES = (ProfileName.GOV_AUTH, ProfileName.GOV_SIGN)
ACTOR = "lifecycle"


@dataclass(frozen=True, slots=True)
class ReissueFlag:
    """A certificate a life event made outdated, and whether a replacement settled it."""

    serial_hex: str
    subject_id: str
    profile: ProfileName
    event_id: str
    flagged_at: dt.datetime
    resolved_at: dt.datetime | None
    superseded_by: str | None


def _flag(row: ReissueFlagRow) -> ReissueFlag:
    return ReissueFlag(
        serial_hex=row.serial_hex,
        subject_id=row.subject_id,
        profile=ProfileName(row.profile),
        event_id=row.event_id,
        flagged_at=row.flagged_at,
        resolved_at=row.resolved_at,
        superseded_by=row.superseded_by,
    )


class CertificateLifecycle:
    """Carries out the certificate side of life events (see the module docstring)."""

    def __init__(
        self, ca: CAService, sessions: sessionmaker[Session], *, ledger: AuditLedger | None
    ) -> None:
        self._ca = ca
        self._sessions = sessions
        self._ledger = ledger

    def revoke_after_death(self, subject_ids: Iterable[str], *, event_id: str) -> list[str]:
        """Revoke every certificate of these subjects; the serials revoked."""
        revoked: list[str] = []
        for subject_id in dict.fromkeys(subject_ids):
            for profile, reason in DEATH_REASONS.items():
                revoked += self._revoke(subject_id, reason, event_id, profile=profile)
            revoked += self._revoke(subject_id, RevocationReason.CESSATION_OF_OPERATION, event_id)
        return revoked

    def revoke_position(self, servant_id: str, *, event_id: str) -> list[str]:
        """Revoke the government certificates of an ended civil-servant position."""
        revoked: list[str] = []
        for profile in GOVERNMENT_PROFILES:
            revoked += self._revoke(
                servant_id, RevocationReason.AFFILIATION_CHANGED, event_id, profile=profile
            )
        return revoked

    def flag_for_reissue(
        self, subject_ids: Iterable[str], *, event_id: str, at: dt.datetime
    ) -> list[str]:
        """Flag the subjects' good certificates for re-issue; the serials newly flagged."""
        flagged: list[str] = []
        with transaction(self._sessions) as session:
            for subject_id in dict.fromkeys(subject_ids):
                for cert in self._ca.list(
                    subject_id=subject_id, status=CertificateStatus.GOOD, limit=None
                ):
                    if session.get(ReissueFlagRow, cert.serial_hex) is not None:
                        continue
                    session.add(
                        ReissueFlagRow(
                            serial_hex=cert.serial_hex,
                            subject_id=subject_id,
                            profile=cert.profile.value,
                            event_id=event_id,
                            flagged_at=at,
                        )
                    )
                    flagged.append(cert.serial_hex)
                    self._audit(
                        session,
                        "ca.certificate.flagged_for_reissue",
                        subject_id,
                        {"serial": cert.serial_hex, "event_id": event_id},
                    )
        return flagged

    def flags(self, subject_id: str) -> tuple[ReissueFlag, ...]:
        """The subject's re-issue flags, oldest first (resolved ones too)."""
        query = (
            select(ReissueFlagRow)
            .where(ReissueFlagRow.subject_id == subject_id)
            .order_by(ReissueFlagRow.flagged_at, ReissueFlagRow.serial_hex)
        )
        with self._sessions() as session:
            return tuple(_flag(row) for row in session.scalars(query))

    def settle_reissues(
        self, subject_ids: Sequence[str] | None = None, *, at: dt.datetime
    ) -> list[str]:
        """Revoke (``superseded``) each flagged certificate whose subject has since been issued
        a good certificate of the same profile; the serials revoked. ``None``: every subject."""
        query = select(ReissueFlagRow).where(ReissueFlagRow.resolved_at.is_(None))
        if subject_ids is not None:
            query = query.where(ReissueFlagRow.subject_id.in_(list(subject_ids)))
        with self._sessions() as session:
            open_flags = [_flag(row) for row in session.scalars(query)]
        revoked: list[str] = []
        for flag in open_flags:
            newer = [
                cert
                for cert in self._ca.list(
                    subject_id=flag.subject_id,
                    profile=flag.profile,
                    status=CertificateStatus.GOOD,
                    limit=None,
                )
                if cert.serial_hex != flag.serial_hex and cert.issued_at >= flag.flagged_at
            ]
            if not newer:
                continue
            replacement = newer[0].serial_hex  # newest first
            old = self._ca.get(flag.serial_hex)
            if old.status is not CertificateStatus.REVOKED:
                self._ca.revoke(flag.serial_hex, reason=RevocationReason.SUPERSEDED, actor=ACTOR)
                revoked.append(flag.serial_hex)
            with transaction(self._sessions) as session:
                row = session.get(ReissueFlagRow, flag.serial_hex)
                if row is not None and row.resolved_at is None:
                    row.resolved_at, row.superseded_by = at, replacement
                    self._audit(
                        session,
                        "ca.certificate.reissue_accepted",
                        flag.subject_id,
                        {"serial": flag.serial_hex, "superseded_by": replacement},
                    )
        return revoked

    # --- internals -------------------------------------------------------------------------

    def _revoke(
        self,
        subject_id: str,
        reason: RevocationReason,
        event_id: str,
        *,
        profile: ProfileName | None = None,
    ) -> list[str]:
        changed = self._ca.revoke_where(
            RevocationQuery(subject_id=subject_id, profile=profile), reason=reason, actor=ACTOR
        )
        if changed:
            log.info(
                "certificates revoked after a life event",
                extra={"event_id": event_id, "count": len(changed), "reason": reason.value},
            )
        return [cert.serial_hex for cert in changed]

    def _audit(self, session: Session, event: str, subject: str, data: dict[str, object]) -> None:
        if self._ledger is not None:
            self._ledger.append(event, actor=ACTOR, subject=subject, data=data, session=session)
