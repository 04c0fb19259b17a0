"""The OCSP responders of the stored hierarchy: one per issuing CA, kept current.

:class:`OCSPResponders` is the domain glue between storage and :class:`ca.ocsp.OCSPResponder`
(the RFC 6960 / RFC 5019 core). The HTTP routes (``api/routers/ocsp.py``) ask it for the
response to a request addressed to ``/pki/ocsp/{ca}`` (``ca/urls.py``: the URL that issued
certificates name in AIA OCSP, RFC 5280 §4.2.2.1). Decisions:

1. **One responder per issuing CA** (``citizen``, ``entity``, ``government``, ``health``),
   built from that CA's newest good ``ocsp-responder`` certificate in storage and the key
   stored with it (``ocsp-<ca>`` from ``natid init``, a new label after each renewal, see
   :mod:`ca.ocsp_renewal`). It is a delegated responder (RFC 6960 §4.2.2.2).
2. **The root has no responder.** Its key is meant to stay offline (ca/hierarchy.py) and the
   issuing-CA profile names no OCSP URL (``aia_ocsp=False``): a delegated responder for the
   root would need the root key online every time that responder's 90-day certificate is
   renewed. The issuing CAs' status is published by the root's CRL (RFC 5280 §3.3), which
   every client that reaches a NatID issuing CA can fetch from its CRL distribution point.
   ``/pki/ocsp/root`` is therefore "not found" (:class:`UnknownOCSPResponder`, HTTP 404),
   with a message that points at the CRL.
3. **Status from storage on every request**: each responder's ``status_of`` is the CA
   service's indexed lookup for its issuer, so a revocation made by another process is
   answered on the next request (ca/ocsp.py, decision 5). :meth:`OCSPResponders.on_status_change`
   is the listener the CA service calls after a status change in this process: it pre-signs.
4. **Renewed responder certificates are picked up** without a restart: at most every
   ``recheck_every`` (default 60 s, by the injected clock) the newest responder certificates
   are read again (one indexed query) and a responder whose certificate changed is rebuilt.
   Renewal runs weeks before expiry (``natid ca ocsp-renew``, ``natid serve`` hourly),
   so a minute of delay costs nothing; the old certificate stays valid meanwhile. A new
   responder certificate starts a new namespace of pre-signed responses (ca/ocsp.py).
5. **Threads**: the HTTP layer answers in a thread pool. The map of responders is replaced
   as a whole under a lock, never mutated, so readers need no lock.
6. **Answering on the event loop** (issue 3's OCSP-over-HTTP goal): when the status lookup is
   a local read that does not wait on a network (``inline_lookup=True``: SQLite in WAL mode,
   whose readers never wait for writers), :meth:`OCSPResponders.answer_cached` gives the
   answers that need neither a signature, nor the shared cache, nor a re-read of the
   responder certificates, without leaving the event loop; everything else (PostgreSQL, a
   nonce, a miss) goes to the thread pool as before. The status is read on every request
   either way (decision 3).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import CAError
from ca.hierarchy import ROOT_CA, ocsp_key_label
from ca.ocsp import OCSPResponder, PreparedResponse, http_cache_headers
from ca.profiles import ProfileName
from ca.revocation import RevocationStatus
from ca.store import CertificateStore, IssuedCertificate
from ca.urls import PkiUrls
from core.cache import Cache
from core.clock import Clock
from core.errors import InfrastructureError, NotFound
from hsm_adapters.base import KeyBackend

__all__ = [
    "IssuerStatusLookup",
    "OCSPResponderUnavailable",
    "OCSPResponders",
    "UnknownOCSPResponder",
]

log = logging.getLogger(__name__)

#: ``(issuer CA name, serial) -> status``: the CA service's ``status_of``.
IssuerStatusLookup = Callable[[str, int], RevocationStatus]


class UnknownOCSPResponder(CAError, NotFound):
    """No OCSP responder answers for the requested CA name."""

    code = "unknown_ocsp_responder"


class OCSPResponderUnavailable(CAError, InfrastructureError):
    """A CA's responder cannot be built now (its key is missing or the backend is down)."""

    code = "ocsp_responder_unavailable"


# RFC 6960 §4.2.1 tryLater: unsigned, the same bytes for everyone.
_TRY_LATER = PreparedResponse.uncacheable(
    ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
        serialization.Encoding.DER
    )
)


class OCSPResponders:
    """The delegated OCSP responders of every issuing CA, from storage."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        keys: KeyBackend,
        cache: Cache | None,
        clock: Clock,
        status_of: IssuerStatusLookup,
        urls: PkiUrls | None = None,
        recheck_every: dt.timedelta = dt.timedelta(seconds=60),
        response_validity: dt.timedelta = dt.timedelta(hours=12),
        http_max_age: dt.timedelta = dt.timedelta(seconds=60),
        inline_lookup: bool = False,
    ) -> None:
        self._store = CertificateStore(sessions)
        self._keys = keys
        self._cache = cache
        self._clock = clock
        self._status_of = status_of
        self._urls = urls
        self._recheck_every = recheck_every
        self._validity = response_validity
        self._http_max_age = http_max_age
        self._inline_lookup = inline_lookup
        self._lock = threading.Lock()
        self._responders: Mapping[str, OCSPResponder] = MappingProxyType({})
        #: CAs whose responder could not be built at the last check (answered tryLater).
        self._unavailable: frozenset[str] = frozenset()
        self._next_check: dt.datetime | None = None

    # --- answering ---------------------------------------------------------------------------

    def responder(self, ca_name: str) -> OCSPResponder:
        """The responder of ``ca_name``, current as of the last check.

        :raises UnknownOCSPResponder: no issuing CA of that name (or ``root``).
        :raises InfrastructureError: storage or the key backend failed, and no responder of
            ``ca_name`` was built before.
        """
        responders = self._current()
        found = responders.get(ca_name)
        if found is not None:
            return found
        shown = repr(ca_name)[:40] if isinstance(ca_name, str) else type(ca_name).__name__
        if ca_name in self._unavailable:
            raise OCSPResponderUnavailable(
                f"the OCSP responder of CA {shown} cannot be used now (see the server log)"
            )
        if ca_name == ROOT_CA:
            where = f" ({self._urls.crl(ROOT_CA)})" if self._urls is not None else ""
            raise UnknownOCSPResponder(
                "the root CA has no OCSP responder (its key stays offline): the status of "
                f"the issuing CAs is in the root's CRL{where}"
            )
        known = ", ".join(sorted(responders)) or "none yet"
        raise UnknownOCSPResponder(f"no OCSP responder for CA {shown}; known: {known}")

    def respond(self, ca_name: str, request_der: bytes) -> bytes:
        """The DER OCSPResponse to a DER request (POST body) for ``ca_name``'s certificates.

        Never raises for anything the client sent; ``tryLater`` when storage is down.

        :raises UnknownOCSPResponder: as :meth:`responder`.
        """
        return self.answer(ca_name, request_der).der

    def respond_get(self, ca_name: str, path: str) -> bytes:
        """As :meth:`respond`, for an RFC 6960 §A.1 GET path."""
        return self.answer_get(ca_name, path).der

    def answer(self, ca_name: str, request_der: bytes) -> PreparedResponse:
        """As :meth:`respond`, with what the HTTP caching headers need (:meth:`headers`)."""
        try:
            responder = self.responder(ca_name)
        except InfrastructureError:
            return _TRY_LATER
        return responder.answer(request_der)

    def answer_get(self, ca_name: str, path: str) -> PreparedResponse:
        """As :meth:`respond_get`, with what the HTTP caching headers need."""
        try:
            responder = self.responder(ca_name)
        except InfrastructureError:
            return _TRY_LATER
        return responder.answer_get(path)

    def answer_cached(
        self, ca_name: str, request: bytes | str, *, get: bool
    ) -> PreparedResponse | None:
        """The answer without blocking (decision 6), or ``None``: call :meth:`answer` /
        :meth:`answer_get` in a thread then. Never raises."""
        if not self._inline_lookup:
            return None
        responder = self.ready_responder(ca_name)
        if responder is None:
            return None
        return responder.answer_cached(request, get=get)

    def ready_responder(self, ca_name: str) -> OCSPResponder | None:
        """``ca_name``'s responder if one is built and no re-read must start now; never blocks.

        ``None`` when the re-read of decision 4 is due and nobody runs it yet: the caller then
        goes through :meth:`responder` (in a thread), which runs it. While it runs (under the
        lock) the current responders go on answering here, so a re-read - a table query, slow
        on a large store - stalls one request, not every request that arrives meanwhile.
        """
        next_check = self._next_check
        if next_check is None:
            return None
        if self._clock.now() >= next_check and not self._lock.locked():
            return None
        return self._responders.get(ca_name)

    def headers(self, answer: PreparedResponse) -> dict[str, str]:
        """RFC 5019 §6.2 headers for an answer of :meth:`answer` (``no-store`` unless cacheable)."""
        return answer.headers(at=self._clock.now(), max_age=self._http_max_age)

    @property
    def http_max_age(self) -> dt.timedelta:
        return self._http_max_age

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def inline_lookup(self) -> bool:
        """Whether cached answers may be given without leaving an event loop (decision 6)."""
        return self._inline_lookup

    def http_headers(self, response_der: bytes) -> dict[str, str]:
        """RFC 5019 §6.2 headers for a response (``no-store`` unless cacheable); parses it."""
        return http_cache_headers(response_der, at=self._clock.now(), max_age=self._http_max_age)

    def on_status_change(self, issuer: str, serial: int) -> None:
        """Pre-sign ``serial``'s responses after its status changed (a status listener).

        Best effort and never raises: correctness does not depend on it (decision 3).
        """
        responder = self._responders.get(issuer)
        if responder is None:
            return
        try:
            responder.on_status_change(serial)
        except Exception:  # the listener must not fail the revocation that called it
            log.warning(
                "OCSP pre-signing after a status change failed",
                extra={"issuer": issuer},
                exc_info=True,
            )

    def refresh(self) -> None:
        """Read the newest responder certificates now (after a renewal in this process)."""
        with self._lock:
            self._rebuild()

    # --- keeping the responders current -------------------------------------------------------

    def _current(self) -> Mapping[str, OCSPResponder]:
        next_check = self._next_check
        if next_check is not None and self._clock.now() < next_check:
            return self._responders
        with self._lock:
            if self._next_check == next_check:  # nobody rebuilt while we waited
                try:
                    self._rebuild()
                except InfrastructureError:
                    if not self._responders:
                        raise
                    # Keep answering with what we have; try again at the next check.
                    log.warning("OCSP responders could not be re-read; keeping the current ones")
                    self._next_check = self._clock.now() + self._recheck_every
        return self._responders

    def _rebuild(self) -> None:
        newest = self._store.newest_service_certificates(ProfileName.OCSP_RESPONDER)
        authorities = {a.name: a for a in self._store.authorities()}
        built = dict(self._responders)
        unavailable: set[str] = set()
        for name, issued in newest.items():
            current = built.get(name)
            authority = authorities.get(name)
            if authority is None:
                continue
            if current is not None and current.responder_certificate == issued.certificate:
                continue
            try:
                built[name] = self._build(name, authority.certificate, issued)
            except Exception:  # one CA's broken responder must not take down the others
                # A broken new certificate must not take down a working responder either.
                log.exception(
                    "could not build the OCSP responder from its newest certificate",
                    extra={"issuer": name, "serial": issued.serial_hex},
                )
                if current is None:
                    unavailable.add(name)
                continue
            log.info("OCSP responder ready", extra={"issuer": name, "serial": issued.serial_hex})
        self._responders = MappingProxyType(built)
        self._unavailable = frozenset(unavailable)
        self._next_check = self._clock.now() + self._recheck_every

    def _build(
        self, name: str, issuer_cert: x509.Certificate, issued: IssuedCertificate
    ) -> OCSPResponder:
        key = self._keys.load(issued.key_label or ocsp_key_label(name))
        return OCSPResponder(
            issuer_cert,
            issued.certificate,
            key,
            clock=self._clock,
            status_of=functools.partial(self._status_of, name),
            cache=self._cache,
            validity=self._validity,
            http_max_age=self._http_max_age,
        )
