"""Revocation data and certificates for signing (B-LT) and validation, in process or over HTTP.

A PAdES B-LT signature carries the OCSP responses and CRLs that prove its certificates were good
(ETSI EN 319 142-1 §6.4, the DSS of ISO 32000-2 §12.8.4.3). pyHanko collects them with the
fetchers of a :class:`~pyhanko_certvalidator.ValidationContext`, following the URLs in each
certificate: AIA OCSP and caIssuers (RFC 5280 §4.2.2.1) and the CRL distribution points
(§4.2.1.13). Decisions:

1. **Same URLs, no network, when NatID signs its own documents.** :class:`PkiRoutes` answers
   the URLs of NatID's own URL scheme (``ca/urls.py``: ``/pki/ocsp/{ca}``, ``/pki/crl/{ca}.crl``,
   ``/pki/ca/{ca}.crt``) by calling the OCSP responders, the CRL publisher and the hierarchy
   directly, returning the very DER bytes ``natid serve`` would send. The fetchers are
   pyHanko's own ``aiohttp`` fetchers with only the transport swapped (:func:`in_process_fetchers`),
   so request building, response checks and caching are pyHanko's, unchanged. A URL outside
   NatID's scheme fails like an unreachable server would (nothing is fetched from elsewhere).
2. **Against a remote NatID**, pyHanko's ordinary HTTP fetchers follow the same URLs
   (:func:`validation_context` with ``fetchers=None``), bounded by pyHanko's ``FetchLimits``.
3. **Trust anchor**: NatID's root, and only it (ETSI EN 319 102-1 §5.2.4 trust anchors come
   from the validation policy, not from the document).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers import Fetchers
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.cert_fetch_client import (
    AIOHttpCertificateFetcher,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.crl_client import AIOHttpCRLFetcher
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.ocsp_client import AIOHttpOCSPFetcher
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy

from ca.urls import PkiUrls
from core.errors import NatIDError
from signing.pades import asn1_certificate

__all__ = ["PkiRoutes", "in_process_fetchers", "validation_context"]

_OCSP = re.compile(r"/pki/ocsp/([a-z][a-z0-9-]{0,31})")
_CRL = re.compile(r"/pki/crl/([a-z][a-z0-9-]{0,31}?)(-delta)?\.crl")
_CERT = re.compile(r"/pki/ca/([a-z][a-z0-9-]{0,31})\.crt")


class _Reply:
    """The part of an ``aiohttp`` response pyHanko's fetchers read."""

    def __init__(self, content: bytes, content_type: str) -> None:
        self._content = content
        self.headers = {"Content-Type": content_type}

    async def read(self) -> bytes:
        return self._content

    async def __aenter__(self) -> _Reply:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


@dataclass(frozen=True, slots=True)
class PkiRoutes:
    """NatID's PKI URLs answered in process (decision 1).

    It stands in for the ``aiohttp.ClientSession`` of pyHanko's aiohttp fetchers: ``get`` and
    ``post`` answer like a server, and fail with ``aiohttp.ClientError`` like one.
    """

    urls: PkiUrls
    #: ``(ca name, DER OCSPRequest) -> DER OCSPResponse`` (``OCSPResponders.respond``).
    ocsp: Callable[[str, bytes], bytes]
    #: ``(ca name, delta) -> DER CRL`` (``CAService.crl``).
    crl: Callable[[str, bool], bytes]
    #: ``ca name -> CA certificate`` (the stored hierarchy).
    ca_certificate: Callable[[str], x509.Certificate]

    def _path(self, url: str) -> str:
        base = self.urls.base
        if not isinstance(url, str) or not url.startswith(base + "/"):
            raise aiohttp.ClientError("not a URL of this NatID")
        return url[len(base) :]

    def get(self, url: str, **_: object) -> _Reply:
        path = self._path(url)
        try:
            if m := _CRL.fullmatch(path):
                der = self.crl(m.group(1), m.group(2) is not None)
                return _Reply(der, "application/pkix-crl")
            if m := _CERT.fullmatch(path):
                cert = self.ca_certificate(m.group(1))
                return _Reply(
                    cert.public_bytes(serialization.Encoding.DER), "application/pkix-cert"
                )
        except NatIDError as exc:
            raise aiohttp.ClientError(exc.code) from exc
        raise aiohttp.ClientError("404 not found")

    def post(self, url: str, *, data: bytes, **_: object) -> _Reply:
        path = self._path(url)
        if m := _OCSP.fullmatch(path):
            try:
                der = self.ocsp(m.group(1), data)
            except NatIDError as exc:
                raise aiohttp.ClientError(exc.code) from exc
            return _Reply(der, "application/ocsp-response")
        raise aiohttp.ClientError("404 not found")


def in_process_fetchers(routes: PkiRoutes) -> Fetchers:
    """pyHanko fetchers that answer NatID's own URLs without a network (decision 1)."""
    session: Any = routes
    return Fetchers(
        # No nonce: the responder's pre-signed (RFC 5019) responses are what clients get.
        ocsp_fetcher=AIOHttpOCSPFetcher(session, certid_hash_algo="sha256", request_nonces=False),
        crl_fetcher=AIOHttpCRLFetcher(session),
        cert_fetcher=AIOHttpCertificateFetcher(session),
    )


def validation_context(
    root: x509.Certificate,
    *,
    intermediates: Iterable[x509.Certificate] = (),
    fetchers: Fetchers | None,
    moment: dt.datetime | None = None,
    allow_fetching: bool = True,
    revinfo_policy: CertRevTrustPolicy | None = None,
    **extra: Any,
) -> ValidationContext:
    """A validation context trusting ``root`` only (decision 3).

    ``fetchers=None`` with ``allow_fetching`` uses pyHanko's HTTP fetchers (decision 2);
    ``allow_fetching=False`` validates with what the document carries.
    """
    kwargs: dict[str, Any] = {
        "trust_roots": [asn1_certificate(root)],
        "other_certs": [asn1_certificate(c) for c in intermediates],
        "allow_fetching": allow_fetching,
        **extra,
    }
    if fetchers is not None and allow_fetching:
        kwargs["fetchers"] = fetchers
    if moment is not None:
        kwargs["moment"] = moment
    if revinfo_policy is not None:
        kwargs["revinfo_policy"] = revinfo_policy
    else:
        kwargs["revocation_mode"] = "hard-fail"
    return ValidationContext(**kwargs)
