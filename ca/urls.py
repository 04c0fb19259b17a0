"""The URLs every certificate names: CA certificate, OCSP responder, CRL and delta CRL.

RFC 5280 §4.2.2.1 (Authority Information Access: ``id-ad-caIssuers``, ``id-ad-ocsp``) and
§4.2.1.13 (CRL distribution points), §5.2.6 (freshest CRL, i.e. the delta CRL). All of them sit
under one public base URL (``Settings.public_base_url``), in one scheme that ``natid serve``
answers:

* ``{base}/pki/ca/{ca_name}.crt`` - the CA certificate, DER (RFC 5280 §4.2.2.1: "a single DER
  encoded certificate" served as ``application/pkix-cert``);
* ``{base}/pki/ocsp/{ca_name}`` - the OCSP responder of that CA (RFC 6960, GET and POST);
* ``{base}/pki/crl/{ca_name}.crl`` - the full CRL (``application/pkix-crl``);
* ``{base}/pki/crl/{ca_name}-delta.crl`` - the delta CRL.

The URLs are plain ``http``: RFC 5280 §8 and RFC 6960 §A.1 expect revocation data over HTTP
(an HTTPS URL would need revocation checking of its own server certificate), and the data is
signed anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from ca.errors import InvalidPkiConfiguration

__all__ = ["CA_NAME_PATTERN", "PkiUrls", "base_url_named_by", "check_ca_name"]

#: What a CA name may look like: it becomes a path segment and a key label.
CA_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")


def check_ca_name(ca_name: str) -> str:
    """Return ``ca_name`` if it is a valid CA name (lowercase letters, digits and ``-``)."""
    if not isinstance(ca_name, str) or CA_NAME_PATTERN.fullmatch(ca_name) is None:
        shown = repr(ca_name)[:40] if isinstance(ca_name, str) else type(ca_name).__name__
        raise InvalidPkiConfiguration(
            f"invalid CA name {shown}: expected 1-32 characters of a-z 0-9 -, "
            "starting with a letter"
        )
    return ca_name


@dataclass(frozen=True, slots=True)
class PkiUrls:
    """The PKI URL scheme under one public base URL (``http(s)://host[:port][/prefix]``)."""

    base: str

    def __post_init__(self) -> None:
        base = self.base
        if not isinstance(base, str):
            raise InvalidPkiConfiguration(
                f"the public base URL must be a string, got {type(base).__name__}"
            )
        try:
            parts = urlsplit(base)
            _ = parts.port  # parsed only to reject a malformed port
        except ValueError as exc:
            raise InvalidPkiConfiguration(
                f"the public base URL {base[:80]!r} is not a URL: {exc}"
            ) from exc
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise InvalidPkiConfiguration(
                f"the public base URL must be http(s)://host[:port][/path], got {base[:80]!r}"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise InvalidPkiConfiguration(
                "the public base URL must not carry credentials, a query or a fragment"
            )
        if any(c.isspace() or ord(c) < 0x21 or ord(c) > 0x7E for c in base):
            raise InvalidPkiConfiguration(
                "the public base URL must be printable ASCII without spaces "
                "(IA5String, RFC 5280 §4.2.1.6)"
            )
        # One canonical form, so the same setting always yields byte-identical certificates.
        object.__setattr__(self, "base", base.rstrip("/"))

    def ca_issuers(self, ca_name: str) -> str:
        """Where the certificate of ``ca_name`` is served (DER), for AIA ``caIssuers``."""
        return f"{self.base}/pki/ca/{check_ca_name(ca_name)}.crt"

    def ocsp(self, ca_name: str) -> str:
        """The OCSP responder for certificates issued by ``ca_name``, for AIA ``ocsp``."""
        return f"{self.base}/pki/ocsp/{check_ca_name(ca_name)}"

    def crl(self, ca_name: str) -> str:
        """The full CRL of ``ca_name``, for the CRL distribution point."""
        return f"{self.base}/pki/crl/{check_ca_name(ca_name)}.crl"

    def delta_crl(self, ca_name: str) -> str:
        """The delta CRL of ``ca_name``, for the freshest-CRL extension."""
        return f"{self.base}/pki/crl/{check_ca_name(ca_name)}-delta.crl"


def base_url_named_by(cert: x509.Certificate, issuer: str) -> str | None:
    """The public base URL under which ``cert`` (issued by the CA ``issuer``) names its
    issuer's CRL, CA certificate or OCSP responder, or ``None`` if it names none of them in
    this scheme. Reads, in that order, the CRL distribution points and the authority
    information access (RFC 5280 §4.2.1.13, §4.2.2.1)."""
    suffixes = {
        f"/pki/crl/{issuer}.crl",
        f"/pki/ca/{issuer}.crt",
        f"/pki/ocsp/{issuer}",
    }
    names: list[x509.GeneralName] = []
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        names += [n for point in points for n in point.full_name or ()]
    except x509.ExtensionNotFound:
        pass
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        names += [
            d.access_location
            for d in access
            if d.access_method
            in {AuthorityInformationAccessOID.CA_ISSUERS, AuthorityInformationAccessOID.OCSP}
        ]
    except x509.ExtensionNotFound:
        pass
    for name in names:
        if not isinstance(name, x509.UniformResourceIdentifier):
            continue
        for suffix in suffixes:
            if name.value.endswith(suffix) and len(name.value) > len(suffix):
                return name.value[: -len(suffix)]
    return None
