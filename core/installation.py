"""What an installation remembers about itself: the public base URL its CA hierarchy names.

The public base URL (``NATID_PUBLIC_BASE_URL``) is written into every certificate the CA makes
(RFC 5280 §4.2.2.1 authority information access, §4.2.1.13 CRL distribution points), into
every CRL's issuing distribution point (§5.2.5), and it is the OpenID issuer (OpenID Connect
Discovery 1.0 §3: the issuer is stable, its tokens name it). A CRL whose issuing distribution
point is not the distribution point of the certificates it covers is out of scope for them
(§6.3.3 (b)(2)(i); ``openssl verify -crl_check_all`` says "different CRL scope"), so the URL
cannot be a per-process setting: one command run without the variable would publish a CRL
naming another URL, and a certificate issued then would name it for good.

So the database remembers it, in ``installation_settings`` (core/models.py):

1. The hierarchy's creation records the URL it was made with, in the same transaction
   (:func:`record_public_url`, called by ``ca.authorities``).
2. Every later process uses the recorded URL when ``NATID_PUBLIC_BASE_URL`` is not set
   (:func:`resolve_public_url`).
3. When it is set and names another URL, the process refuses to start
   (:class:`PublicUrlMismatch`) - whether or not its command would write the URL - and says
   both URLs and how to change the recorded one on purpose.
4. :func:`change_public_url` (``natid ca set-public-url``) is that change: one audited
   transaction. Certificates already issued keep the URLs they name.

URLs are compared in one canonical form, without a trailing ``/`` (as ``ca.urls.PkiUrls``
writes them); otherwise byte for byte, since a relying party compares the bytes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from core.db import transaction
from core.errors import CoreError
from core.models import InstallationSettingRow

if TYPE_CHECKING:
    from core.audit import AuditLedger

__all__ = [
    "PUBLIC_URL_CHANGED",
    "PUBLIC_URL_RECORDED",
    "PublicUrlMismatch",
    "canonical_public_url",
    "change_public_url",
    "record_public_url",
    "recorded_public_url",
    "resolve_public_url",
]

#: The name of the public base URL's row.
_PUBLIC_URL = "public_base_url"
#: Audit event of a URL recorded for a hierarchy made before the URL was remembered.
PUBLIC_URL_RECORDED = "installation.public_url.recorded"
#: Audit event of a deliberate change (``natid ca set-public-url``).
PUBLIC_URL_CHANGED = "installation.public_url.changed"


class PublicUrlMismatch(CoreError):
    """``NATID_PUBLIC_BASE_URL`` names another URL than the one this installation recorded."""

    code = "public_url_mismatch"


def canonical_public_url(url: str) -> str:
    """``url`` as certificates name it: without trailing slashes."""
    return url.rstrip("/")


def resolve_public_url(configured: str, *, explicit: bool, recorded: str | None) -> str:
    """The public base URL a process must use.

    ``configured`` is the setting's value and ``explicit`` whether it was set (environment or
    override) rather than defaulted; ``recorded`` is :func:`recorded_public_url`. Returns the
    recorded URL when there is one and nothing else was asked for, else ``configured``.
    Raises :class:`PublicUrlMismatch` when an explicit setting contradicts the record.
    """
    if recorded is None:
        return configured
    if not explicit:
        return recorded
    if canonical_public_url(configured) != recorded:
        raise PublicUrlMismatch(
            f"NATID_PUBLIC_BASE_URL is {canonical_public_url(configured)}, but this "
            f"installation was set up with {recorded} (its certificates, CRLs and OpenID "
            f"issuer name it): unset NATID_PUBLIC_BASE_URL to use {recorded}, or change it on "
            f"purpose with `natid ca set-public-url {canonical_public_url(configured)}` "
            "(certificates already issued keep their URLs)"
        )
    return configured


def recorded_public_url(sessions: sessionmaker[Session]) -> str | None:
    """The recorded public base URL, or ``None`` before the hierarchy exists."""
    with sessions() as session:
        # A read: on SQLite it need not wait for a writer (core/db.py, BEGIN IMMEDIATE).
        session.connection(execution_options={"sqlite_deferred": True})
        row = session.get(InstallationSettingRow, _PUBLIC_URL)
        return None if row is None else row.value


def record_public_url(session: Session, url: str, *, at: dt.datetime) -> bool:
    """Record ``url`` in ``session``'s transaction unless a URL is recorded already.

    Returns whether it was recorded. Raises :class:`PublicUrlMismatch` if another URL is
    recorded: a hierarchy must never be stored under a URL other than the installation's.
    """
    url = canonical_public_url(url)
    row = session.get(InstallationSettingRow, _PUBLIC_URL)
    if row is None:
        session.add(InstallationSettingRow(name=_PUBLIC_URL, value=url, updated_at=at))
        session.flush()
        return True
    if row.value != url:
        raise PublicUrlMismatch(
            f"this installation was set up with the public base URL {row.value}, not {url}"
        )
    return False


def change_public_url(
    sessions: sessionmaker[Session],
    url: str,
    *,
    ledger: AuditLedger,
    actor: str | None,
    at: dt.datetime,
) -> str | None:
    """Record ``url`` as the public base URL, with an audit entry, in one transaction.

    Returns the URL recorded before (``None`` if none was); if it already was ``url``,
    nothing is written. The entry (:data:`PUBLIC_URL_CHANGED`) has the data
    ``{"from": OLD or null, "to": NEW}``.
    """
    url = canonical_public_url(url)
    with transaction(sessions) as session:
        row = session.get(InstallationSettingRow, _PUBLIC_URL)
        previous = None if row is None else row.value
        if previous == url:
            return previous
        if row is None:
            session.add(InstallationSettingRow(name=_PUBLIC_URL, value=url, updated_at=at))
        else:
            row.value = url
            row.updated_at = at
        session.flush()
        ledger.append(
            PUBLIC_URL_CHANGED, actor=actor, data={"from": previous, "to": url}, session=session
        )
        return previous
