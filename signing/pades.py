"""PAdES baseline signatures (ETSI EN 319 142-1) with keys from the key backend.

This module turns "these PDF bytes, this key and certificate, this level" into signed PDF
bytes. pyHanko does the PDF work (incremental update, /ByteRange, the CMS container, the DSS);
NatID supplies the pieces pyHanko leaves open:

* :class:`BackendSigner` - a pyHanko :class:`~pyhanko.sign.signers.pdf_cms.Signer` whose raw
  signature comes from a :mod:`hsm_adapters` key (``key.sign()`` runs in the backend, so the
  same code signs with the soft store and with an HSM). ECDSA P-256 signs with SHA-256 and
  P-384 with SHA-384 (EN 319 142-1 §5.1 and ETSI TS 119 312: the digest matches the curve);
  RSA keys sign with RSASSA-PSS (``prefer_pss``), Ed25519 with PureEdDSA (RFC 8419).
* :class:`InProcessTimeStamper` - a pyHanko :class:`~pyhanko.sign.timestamps.api.TimeStamper`
  that hands the RFC 3161 request DER to a callable (NatID's own
  :meth:`ca.tsa.TimeStampAuthority.respond`), so a server signing its own documents needs no
  HTTP round trip. Against a remote NatID, pyHanko's ``HTTPTimeStamper`` on ``{base}/tsa`` is
  the same thing over the wire (:func:`http_timestamper`).
* :func:`sign_pdf_bytes` - one signing session. The levels (EN 319 142-1 §6):

  ============ ============================================================================
  ``B-B``      CAdES-detached CMS, ``/SubFilter /ETSI.CAdES.detached``, signingCertificateV2
  ``B-T``      plus a signature time-stamp (unsigned attribute) from the TSA (§6.3)
  ``B-LT``     plus a DSS with the certificates, OCSP responses and CRLs needed to validate
               the signer and the TSA (§6.4; pyHanko's ``embed_validation_info``)
  ``B-LTA``    plus a document time-stamp over everything (§6.5; ``use_pades_lta``)
  ============ ============================================================================

Decisions:

1. **The signing time comes from the injected clock** (ARCHITECTURE.md "Time"): pyHanko would
   take the system clock, so the session's ``system_time`` is set from ``at``.
2. **Bounded input**: at most :data:`MAX_PDF_BYTES`; pyHanko's default
   :class:`~pyhanko.pdf_utils.decode_limits.DecodeLimits` (meant for untrusted input) bound
   stream decoding; encrypted files are refused (:class:`~signing.errors.EncryptedPdf`) and
   unreadable ones are :class:`~signing.errors.InvalidPdf`. Nothing is written on failure:
   the result is returned as bytes, never streamed half-way into a caller's file.
3. **Size of the signature container**: ``bytes_reserved`` is computed from the key and the
   level instead of pyHanko's default, which signs once more with a dummy key just to
   measure the result (the reason pyHanko's plain path is slow, see bench/bench_signing_pdf.py).
4. **Certification (DocMDP, ISO 32000-2 §12.8.2.2)**: ``certify=True`` makes the signature a
   certification signature with permission level 2 (form filling and further signatures), so
   later approvals in a workflow keep it valid.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from asn1crypto import algos, cms, core, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import BaseStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from core.clock import require_aware
from signing.errors import (
    EncryptedPdf,
    InvalidPdf,
    InvalidSigningRequest,
    SigningUnavailable,
)

__all__ = [
    "MAX_PDF_BYTES",
    "READ_ERRORS",
    "BackendSigner",
    "InProcessTimeStamper",
    "PadesLevel",
    "SignatureSpec",
    "VisibleSpec",
    "add_signature_fields",
    "asn1_certificate",
    "http_timestamper",
    "open_pdf",
    "renew_archive_time_stamp",
    "sign_pdf_bytes",
]

#: Largest PDF accepted for signing or validation (the 50 MB benchmark file fits with room).
MAX_PDF_BYTES = 256 * 1024 * 1024
#: What pyHanko raises on malformed input: its own PdfError, and builtin errors (including
#: failed internal assertions and runaway recursion) from deep inside its parser.
READ_ERRORS = (
    PdfError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    AssertionError,
    RecursionError,
    OverflowError,
    UnicodeError,
)
# pyHanko's PDF object model and writer are not annotated; these aliases keep the untyped
# calls in one visible place instead of a type: ignore on each.
_STORE: Any = SimpleCertificateStore
_WRITER: Any = IncrementalPdfFileWriter
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_T = TypeVar("_T")


class PadesLevel(StrEnum):
    """PAdES baseline levels (ETSI EN 319 142-1 §6), in the standard's spelling."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @classmethod
    def parse(cls, value: str | PadesLevel) -> PadesLevel:
        try:
            return cls(str(value).upper())
        except ValueError:
            known = ", ".join(level.value for level in cls)
            raise InvalidSigningRequest(
                f"unknown PAdES level {str(value)[:20]!r}; expected one of {known}"
            ) from None

    @property
    def needs_timestamp(self) -> bool:
        return self is not PadesLevel.B_B

    @property
    def needs_validation_data(self) -> bool:
        return self in (PadesLevel.B_LT, PadesLevel.B_LTA)


def asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    """``cert`` as asn1crypto's type, which pyHanko works with."""
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run pyHanko's asynchronous API from synchronous code (a fresh loop per call; the CLI
    and the worker threads of the HTTP layer have no running loop)."""
    return asyncio.run(coro)


class BackendSigner(Signer):
    """A pyHanko signer whose key lives in the key backend (module docstring)."""

    def __init__(
        self,
        key: Any,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        *,
        embed_root: bool = True,
    ) -> None:
        if not isinstance(
            key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise InvalidSigningRequest(
                f"a signing key must be ECDSA, RSA or Ed25519, got {type(key).__name__}"
            )
        if key.public_key() != certificate.public_key():
            raise InvalidSigningRequest("the key does not match the signing certificate")
        self._key = key
        self._cms_parts: _CmsParts | None = None
        self._max_signature = _max_signature_size(key)
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
            self.digest = "sha384"
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self.digest = "sha512"
        else:
            self.digest = "sha256"
        super().__init__(
            prefer_pss=True,
            embed_roots=embed_root,
            signing_cert=asn1_certificate(certificate),
            cert_registry=_STORE.from_certs([asn1_certificate(c) for c in chain]),
        )

    @property
    def max_signature_size(self) -> int:
        return self._max_signature

    async def async_sign(  # noqa: PLR0917 - pyHanko's signature, overridden
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        signed_attr_settings: PdfCMSSignedAttributes | None = None,
        is_pdf_sig: bool = True,
        encap_content_info: Any = None,
    ) -> cms.ContentInfo:
        """The CMS container, from DER parts encoded once (decision 3 of the module).

        The PAdES signed attributes are contentType, messageDigest and signingCertificateV2
        (EN 319 142-1 §5.1; the signing time goes in the signature dictionary's /M); every
        part except the digest, the signature and the time-stamp token is the same for
        every signature of this signer, so it is encoded here once instead of asn1crypto
        re-encoding the certificates and attributes each time. Anything else (non-PAdES,
        legacy revocation attributes, CAdES extras) takes pyHanko's general path.
        """
        settings = signed_attr_settings
        plain = (
            use_pades
            and not dry_run
            and is_pdf_sig
            and encap_content_info is None
            and digest_algorithm == self.digest
            and (settings is None or (settings.adobe_revinfo_attr is None
                                      and settings.cades_signed_attrs is None))
        )  # fmt: skip
        if not plain:
            result: cms.ContentInfo = await super().async_sign(
                data_digest,
                digest_algorithm,
                dry_run=dry_run,
                use_pades=use_pades,
                timestamper=timestamper,
                signed_attr_settings=signed_attr_settings,
                is_pdf_sig=is_pdf_sig,
                encap_content_info=encap_content_info,
            )
            return result
        parts = self._parts()
        attrs = sorted(  # DER SET OF: elements in ascending order of encoding (X.690 §11.6)
            [parts.content_type_attr, _message_digest_attr(data_digest), parts.ess_attr]
        )
        signature = await self.async_sign_raw(_tlv(0x31, b"".join(attrs)), digest_algorithm)
        unsigned = b""
        if timestamper is not None:
            imprint = hashlib.new(digest_algorithm, signature).digest()
            token = await timestamper.async_timestamp(imprint, digest_algorithm)
            attr = _tlv(0x30, _TST_ATTR_OID + _tlv(0x31, token.dump()))
            unsigned = _tlv(0xA1, attr)
        signer_info = _tlv(
            0x30,
            _INT_1
            + parts.sid
            + parts.digest_alg
            + _tlv(0xA0, b"".join(attrs))
            + parts.signature_alg
            + _tlv(0x04, signature)
            + unsigned,
        )
        signed_data = _tlv(
            0x30,
            _INT_1
            + _tlv(0x31, parts.digest_alg)
            + _DATA_CONTENT_INFO
            + parts.certificates
            + _tlv(0x31, signer_info),
        )
        return _EncodedContentInfo.from_der(_tlv(0x30, _SIGNED_DATA_OID + _tlv(0xA0, signed_data)))

    def _parts(self) -> _CmsParts:
        parts = self._cms_parts
        if parts is None:
            cert = self.signing_cert
            assert cert is not None
            cert_der = cert.dump()
            ess = cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        {
                            "certs": [
                                {
                                    "cert_hash": hashlib.sha256(cert_der).digest(),
                                    "issuer_serial": {
                                        "issuer": [
                                            asn1_x509.GeneralName(
                                                name="directory_name", value=cert.issuer
                                            )
                                        ],
                                        "serial_number": cert.serial_number,
                                    },
                                }
                            ]
                        }
                    ],
                }
            )
            ders = sorted({cert_der, *(c.dump() for c in self.cert_registry)})
            parts = self._cms_parts = _CmsParts(
                digest_alg=algos.DigestAlgorithm({"algorithm": self.digest}).dump(),
                signature_alg=self.get_signature_mechanism_for_digest(self.digest).dump(),
                sid=cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={"issuer": cert.issuer, "serial_number": cert.serial_number},
                ).dump(),
                content_type_attr=cms.CMSAttribute(
                    {"type": "content_type", "values": ["data"]}
                ).dump(),
                ess_attr=ess.dump(),
                certificates=_tlv(0xA0, b"".join(ders)),
            )
        return parts

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return bytes(self._max_signature)
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        name = mechanism.signature_algo
        key = self._key
        chosen = _HASHES[digest_algorithm]()
        if isinstance(key, ec.EllipticCurvePrivateKey) and name == "ecdsa":
            return key.sign(data, ec.ECDSA(chosen))
        if isinstance(key, rsa.RSAPrivateKey) and name == "rsassa_pss":
            params = mechanism["parameters"]
            pss_hash = _HASHES[params["hash_algorithm"]["algorithm"].native]()
            salt = int(params["salt_length"].native)
            return key.sign(data, padding.PSS(padding.MGF1(pss_hash), salt), pss_hash)
        if isinstance(key, rsa.RSAPrivateKey) and name == "rsassa_pkcs1v15":
            return key.sign(data, padding.PKCS1v15(), chosen)
        if isinstance(key, ed25519.Ed25519PrivateKey) and name == "ed25519":
            return key.sign(data)
        raise InvalidSigningRequest(f"signature mechanism {name} does not fit the key")


@dataclass(frozen=True, slots=True)
class _CmsParts:
    """DER of the parts of a signer's CMS containers that never change."""

    digest_alg: bytes
    signature_alg: bytes
    sid: bytes
    content_type_attr: bytes
    ess_attr: bytes
    #: ``[0] IMPLICIT SET OF Certificate`` (RFC 5652 §5.1), sorted as DER wants.
    certificates: bytes


class _EncodedContentInfo(cms.ContentInfo):  # type: ignore[misc]
    """A ContentInfo that dumps as the DER it was built from.

    pyHanko reads fields of the container after signing (the time-stamp token, the signer
    info); asn1crypto then sees parsed children and may re-encode the whole tree on
    ``dump()``, certificates included, which took seconds to tens of seconds per signature.
    Nothing here is ever modified, so the original encoding is the right answer.
    """

    _natid_der: bytes = b""

    @classmethod
    def from_der(cls, der: bytes) -> _EncodedContentInfo:
        value: _EncodedContentInfo = cls.load(der)
        value._natid_der = der
        return value

    def dump(self, force: bool = False) -> bytes:
        if force or not self._natid_der:
            return bytes(super().dump(force=force))
        return self._natid_der


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER tag-length-value (X.690 §8.1; definite length)."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def _oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


_INT_1 = b"\x02\x01\x01"
_SIGNED_DATA_OID = _oid("1.2.840.113549.1.7.2")
#: EncapsulatedContentInfo of a detached signature: id-data, no content (RFC 5652 §5.2).
_DATA_CONTENT_INFO = _tlv(0x30, _oid("1.2.840.113549.1.7.1"))
_MESSAGE_DIGEST_OID = _oid("1.2.840.113549.1.9.4")
#: id-aa-signatureTimeStampToken (RFC 3161 Appendix A).
_TST_ATTR_OID = _oid("1.2.840.113549.1.9.16.2.14")


def _message_digest_attr(digest: bytes) -> bytes:
    return _tlv(0x30, _MESSAGE_DIGEST_OID + _tlv(0x31, _tlv(0x04, digest)))


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _max_signature_size(key: Any) -> int:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # DER ECDSA-Sig-Value: two INTEGERs of at most key size + 1 octet, with headers.
        octets = (key.curve.key_size + 7) // 8
        return 2 * (octets + 3) + 4
    if isinstance(key, rsa.RSAPrivateKey):
        return int((key.key_size + 7) // 8)
    return 64


class InProcessTimeStamper(TimeStamper):
    """A pyHanko time stamper that calls an RFC 3161 responder in this process.

    ``respond`` takes a DER TimeStampReq and returns the DER TimeStampResp, exactly what
    ``POST /tsa`` exchanges (:meth:`ca.tsa.TimeStampAuthority.respond`).
    """

    def __init__(self, respond: Callable[[bytes], bytes]) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]  # pyHanko
        self._respond = respond

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        reply = self._respond(req.dump())
        try:
            return tsp.TimeStampResp.load(reply)
        except ValueError as exc:  # pragma: no cover - our TSA always answers in form
            raise SigningUnavailable("the time-stamping authority sent a malformed reply") from exc


def http_timestamper(public_base_url: str) -> TimeStamper:
    """pyHanko's HTTP client for a (remote) NatID TSA at ``{base}/tsa``."""
    return HTTPTimeStamper(public_base_url.rstrip("/") + "/tsa", timeout=10)


def open_pdf(data: bytes) -> IncrementalPdfFileWriter:
    """An incremental writer over ``data``, refusing oversized, encrypted and broken PDFs."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidPdf(f"a PDF must be bytes, got {type(data).__name__}")
    if len(data) > MAX_PDF_BYTES:
        raise InvalidPdf(f"the PDF has {len(data)} bytes; at most {MAX_PDF_BYTES} are accepted")
    if not bytes(data[:1024]).lstrip().startswith(b"%PDF-"):
        raise InvalidPdf("the input is not a PDF (no %PDF- header)")
    try:
        writer: IncrementalPdfFileWriter = _WRITER(io.BytesIO(data), strict=False)
        encrypted = writer.prev.encrypted
        if not encrypted:
            writer.root  # noqa: B018 - resolves the catalogue, proving the xref is usable
    except RecursionError as exc:
        raise InvalidPdf("the PDF nests objects too deeply") from exc
    except READ_ERRORS as exc:
        raise InvalidPdf(f"the PDF cannot be read: {_short(exc)}") from exc
    if encrypted:
        raise EncryptedPdf("the PDF is encrypted; decrypt it before signing")
    return writer


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


@dataclass(frozen=True, slots=True)
class VisibleSpec:
    """Where and how a visible signature appears."""

    style: BaseStampStyle
    text_params: dict[str, str]
    page: int = -1
    #: (x1, y1, x2, y2) in PDF points from the bottom left of the page.
    box: tuple[int, int, int, int] = (36, 36, 336, 126)
    #: A URI the stamp links to (a Link annotation over the stamp, in the signed revision).
    link: str | None = None


@dataclass(frozen=True, slots=True)
class SignatureSpec:
    """What to sign and how (everything but the key and the document)."""

    level: PadesLevel = PadesLevel.B_B
    field_name: str | None = None
    reason: str | None = None
    location: str | None = None
    name: str | None = None
    certify: bool = False
    visible: VisibleSpec | None = None

    def checked_field_name(self) -> str | None:
        if self.field_name is not None and not _FIELD_NAME.fullmatch(self.field_name):
            raise InvalidSigningRequest(
                "a signature field name is 1-64 letters, digits, '_' or '-', starting with a letter"
            )
        return self.field_name


def sign_pdf_bytes(
    data: bytes,
    signer: BackendSigner,
    spec: SignatureSpec,
    *,
    at: dt.datetime,
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
) -> bytes:
    """Sign ``data`` (a PDF) at ``spec.level``; return the signed PDF.

    B-T and higher need ``timestamper``; B-LT and B-LTA need ``validation_context`` (trust
    anchor plus fetchers for OCSP, CRLs and certificates). Raises
    :class:`~signing.errors.InvalidPdf` (bad input), :class:`~signing.errors.InvalidSigningRequest`
    or :class:`~signing.errors.SigningUnavailable` (TSA, revocation sources); nothing is
    returned half-signed.
    """
    at = require_aware(at)
    level = spec.level
    if level.needs_timestamp and timestamper is None:
        raise InvalidSigningRequest(f"level {level} needs a time-stamping authority")
    if level.needs_validation_data and validation_context is None:
        raise InvalidSigningRequest(f"level {level} needs a validation context")
    field_name = spec.checked_field_name() or _free_field_name(data)
    writer = open_pdf(data)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=signer.digest,
        reason=spec.reason,
        location=spec.location,
        name=spec.name,
        certify=spec.certify,
        subfilter=fields.SigSeedSubFilter.PADES,
        embed_validation_info=level.needs_validation_data,
        use_pades_lta=level is PadesLevel.B_LTA,
        validation_context=validation_context if level.needs_validation_data else None,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
    )
    visible = spec.visible
    field_spec = None
    if visible is not None:
        page = visible.page
        field_spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=page, box=visible.box)
    if visible is not None and visible.link is not None:
        _add_link(writer, visible)
    pdf_signer = signers.PdfSigner(
        meta,
        signer,
        timestamper=timestamper if level.needs_timestamp else None,
        stamp_style=visible.style if visible is not None else None,
        new_field_spec=field_spec,
    )
    reserved = _reserved_bytes(signer, level)
    output = io.BytesIO()
    try:
        # The result stays in ``output``: a coroutine returning 50 MB of bytes makes asyncio's
        # task bookkeeping format its repr, which cost a second per signature of a big file.
        run(
            _sign(
                pdf_signer,
                writer,
                output,
                at=at,
                reserved=reserved,
                text_params=dict(visible.text_params) if visible is not None else None,
            )
        )
        return output.getvalue()
    except (InvalidPdf, InvalidSigningRequest, SigningUnavailable):
        raise
    except (TimestampRequestError, OSError) as exc:
        raise SigningUnavailable(f"time-stamping failed: {_short(exc)}") from exc
    except (PathBuildingError, PathValidationError) as exc:
        raise SigningUnavailable(
            f"the signer's certificate could not be validated for embedding: {_short(exc)}"
        ) from exc
    except PyHankoSigningError as exc:
        if isinstance(exc.__cause__, PathBuildingError | PathValidationError):
            raise SigningUnavailable(
                f"the signer's certificate could not be validated for embedding: "
                f"{_short(exc.__cause__)}"
            ) from exc
        raise InvalidSigningRequest(f"the PDF cannot be signed: {_short(exc)}") from exc
    except READ_ERRORS as exc:
        raise InvalidPdf(f"the PDF cannot be signed: {_short(exc)}") from exc


def renew_archive_time_stamp(
    data: bytes, *, timestamper: TimeStamper, validation_context: ValidationContext
) -> bytes:
    """``data`` with the validation data of its last document time-stamp added to its DSS and a
    new document time-stamp over everything, with that time-stamp's own validation data after
    it (the document time-stamp of EN 319 142-1 B-LTA, renewed; pyHanko's
    ``update_archival_timestamp_chain``). A document without a document time-stamp gets its
    first. The caller checks beforehand that the document validates: pyHanko does not refuse an
    invalid last time-stamp. Raises :class:`~signing.errors.InvalidPdf` (bad input) or
    :class:`~signing.errors.SigningUnavailable` (TSA, revocation sources); nothing half-done is
    returned."""
    writer = open_pdf(data)
    reader = writer.prev
    output = io.BytesIO()
    stamper = signers.PdfTimeStamper(timestamper)
    try:
        run(
            stamper.async_update_archival_timestamp_chain(
                reader, validation_context, in_place=False, output=output
            )
        )
    except (TimestampRequestError, OSError) as exc:
        raise SigningUnavailable(f"time-stamping failed: {_short(exc)}") from exc
    except (PathBuildingError, PathValidationError) as exc:
        raise SigningUnavailable(
            f"the last time-stamp's certificate could not be validated: {_short(exc)}"
        ) from exc
    except PyHankoSigningError as exc:
        raise SigningUnavailable(f"the archive could not be time-stamped: {_short(exc)}") from exc
    except READ_ERRORS as exc:
        raise InvalidPdf(f"the PDF cannot be time-stamped: {_short(exc)}") from exc
    return output.getvalue()


async def _sign(
    pdf_signer: signers.PdfSigner,
    writer: IncrementalPdfFileWriter,
    output: io.BytesIO,
    *,
    at: dt.datetime,
    reserved: int,
    text_params: dict[str, str] | None,
) -> None:
    """pyHanko's ``PdfSigner.async_sign_pdf``, with the signing time from NatID's clock."""
    session = pdf_signer.init_signing_session(writer)
    session.system_time = at  # decision 1
    validation_info = await session.perform_presign_validation(writer)
    if validation_info is not None and validation_info.adobe_revinfo_attr is not None:
        # Legacy (non-PAdES) signatures carry revocation data in a signed attribute.
        reserved += 2 * len(validation_info.adobe_revinfo_attr.dump())
    tbs = session.prepare_tbs_document(
        validation_info=validation_info,
        bytes_reserved=reserved,
        appearance_text_params=text_params,
    )
    digest, res_output = tbs.digest_tbs_document(output=output)
    post = await tbs.perform_signature(
        document_digest=digest.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(
            signing_time=at,
            adobe_revinfo_attr=(
                None if validation_info is None else validation_info.adobe_revinfo_attr
            ),
            cades_signed_attrs=pdf_signer.signature_meta.cades_signed_attr_spec,
        ),
    )
    await post.post_signature_processing(res_output)


def _add_link(writer: IncrementalPdfFileWriter, visible: VisibleSpec) -> None:
    """A Link annotation (ISO 32000-2 §12.5.6.5) with a URI action over the stamp."""
    from pyhanko.pdf_utils import generic as _generic

    generic: Any = _generic
    out: Any = writer
    assert visible.link is not None
    page_ref, _resources = out.find_page_for_modification(visible.page)
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Link"),
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.FloatObject(v) for v in visible.box]
            ),
            generic.NameObject("/Border"): generic.ArrayObject([generic.NumberObject(0)] * 3),
            generic.NameObject("/A"): generic.DictionaryObject(
                {
                    generic.NameObject("/S"): generic.NameObject("/URI"),
                    generic.NameObject("/URI"): generic.TextStringObject(visible.link),
                }
            ),
        }
    )
    out.register_annotation(page_ref, out.add_object(annot))


def _reserved_bytes(signer: BackendSigner, level: PadesLevel) -> int:
    """Room for the CMS container: certificates, signed attributes, signature, and a
    time-stamp token (with the TSA's chain) from B-T on (decision 3). Hex doubles it."""
    certs = sum(len(c.dump()) for c in signer.cert_registry)
    assert signer.signing_cert is not None
    base = len(signer.signing_cert.dump()) + certs + signer.max_signature_size + 1024
    if level.needs_timestamp:
        base += 6144
    return 2 * base


def add_signature_fields(data: bytes, names: Sequence[str]) -> bytes:
    """``data`` with empty, invisible signature fields ``names`` added in one incremental
    update (the original bytes stay a prefix of the result).

    An approval workflow creates every field it will sign before the first signature: a
    certification signature (DocMDP level 2) allows later signatures into existing fields,
    while a field created after it would be a change it does not cover (issue 5,
    "certification signatures"; ISO 32000-2 §12.8.2.2.2).
    """
    checked = [SignatureSpec(field_name=name).checked_field_name() for name in names]
    if len(set(checked)) != len(checked):
        raise InvalidSigningRequest("signature field names must differ")
    writer = open_pdf(data)
    out: Any = writer
    output = io.BytesIO()
    try:
        existing = {
            name for name, _value, _ref in fields.enumerate_sig_fields(writer, filled_status=None)
        }
        taken = sorted(existing.intersection(n for n in checked if n is not None))
        if taken:
            raise InvalidSigningRequest(f"the PDF already has a field named {taken[0]}")  # noqa: TRY301
        for name in checked:
            assert name is not None
            fields.append_signature_field(writer, fields.SigFieldSpec(sig_field_name=name))
        out.write(output)
    except (InvalidPdf, InvalidSigningRequest):
        raise
    except READ_ERRORS as exc:
        raise InvalidPdf(f"the PDF cannot take signature fields: {_short(exc)}") from exc
    return output.getvalue()


def _free_field_name(data: bytes) -> str:
    """``Signature1``, ``Signature2``, ... : the first name not used in ``data``."""
    number = 1
    while f"/T (Signature{number})".encode() in data or f"Signature{number}".encode() in data:
        number += 1
    return f"Signature{number}"
