"""Request bodies and response shapes of the CSC API (api/routers/csc.py), for both versions.

Requests are pydantic models (untrusted JSON; ``extra="forbid"``: a parameter NatID does not
know is refused, not silently ignored). Each lists every parameter its version of the
specification defines for the method - CSC API v2.0.0.2 §11 and v1.0.4.0 §11 - so a conforming
client is never refused for sending an optional one. Responses are built as dicts from the
domain's :class:`~signing.csc.Credential`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field

from signing.csc import MAX_BATCH, Credential
from signing.errors import InvalidSigningRequest

__all__ = [
    "AuthorizeV1",
    "AuthorizeV2",
    "CredentialInfoRequest",
    "InfoRequest",
    "ListV1",
    "ListV2",
    "SignHashV1",
    "SignHashV2",
    "credential_info",
    "decode_hashes",
]

_ID = Field(min_length=1, max_length=64)
_HASHES = Field(min_length=1, max_length=MAX_BATCH)
_TEXT = Field(default=None, max_length=500)


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InfoRequest(_Body):
    lang: str | None = Field(default=None, max_length=20)


class ListV2(_Body):
    userID: str | None = Field(default=None, max_length=200)  # noqa: N815 - the wire name
    credentialInfo: bool = False  # noqa: N815
    certificates: Literal["none", "single", "chain"] = "single"
    certInfo: bool = False  # noqa: N815
    authInfo: bool = False  # noqa: N815
    onlyValid: bool = False  # noqa: N815
    lang: str | None = Field(default=None, max_length=20)
    clientData: str | None = _TEXT  # noqa: N815


class ListV1(_Body):
    userID: str | None = Field(default=None, max_length=200)  # noqa: N815
    maxResults: int | None = Field(default=None, ge=1, le=1000)  # noqa: N815
    pageToken: str | None = Field(default=None, max_length=200)  # noqa: N815
    clientData: str | None = _TEXT  # noqa: N815


class CredentialInfoRequest(_Body):
    credentialID: str = _ID  # noqa: N815
    certificates: Literal["none", "single", "chain"] = "single"
    certInfo: bool = False  # noqa: N815
    authInfo: bool = False  # noqa: N815
    lang: str | None = Field(default=None, max_length=20)
    clientData: str | None = _TEXT  # noqa: N815


class _AuthData(_Body):
    id: str = Field(min_length=1, max_length=64)
    value: str = Field(min_length=1, max_length=64)


class AuthorizeV2(_Body):
    credentialID: str = _ID  # noqa: N815
    numSignatures: int = Field(ge=1, le=MAX_BATCH)  # noqa: N815
    hashes: list[str] | None = Field(default=None, max_length=MAX_BATCH)
    hashAlgorithmOID: str | None = Field(default=None, max_length=64)  # noqa: N815
    authData: list[_AuthData] | None = Field(default=None, max_length=5)  # noqa: N815
    description: str | None = _TEXT
    clientData: str | None = _TEXT  # noqa: N815

    def otp(self) -> str | None:
        """The value of the ``OTP`` authentication object (its id in credentials/info)."""
        for item in self.authData or ():
            if item.id.upper() == "OTP":
                return item.value
        return None


class AuthorizeV1(_Body):
    credentialID: str = _ID  # noqa: N815
    numSignatures: int = Field(ge=1, le=MAX_BATCH)  # noqa: N815
    hash: list[str] | None = Field(default=None, max_length=MAX_BATCH)
    PIN: str | None = Field(default=None, max_length=64)
    OTP: str | None = Field(default=None, max_length=64)
    description: str | None = _TEXT
    clientData: str | None = _TEXT  # noqa: N815


class SignHashV2(_Body):
    credentialID: str = _ID  # noqa: N815
    SAD: str = Field(min_length=1, max_length=128)
    hashes: list[str] = _HASHES
    hashAlgorithmOID: str | None = Field(default=None, max_length=64)  # noqa: N815
    signAlgo: str = Field(min_length=1, max_length=64)  # noqa: N815
    signAlgoParams: str | None = Field(default=None, max_length=1000)  # noqa: N815
    operationMode: Literal["S", "A"] = "S"  # noqa: N815
    validity_period: int | None = None
    response_uri: str | None = Field(default=None, max_length=500)
    clientData: str | None = _TEXT  # noqa: N815


class SignHashV1(_Body):
    credentialID: str = _ID  # noqa: N815
    SAD: str = Field(min_length=1, max_length=128)
    hash: list[str] = _HASHES
    hashAlgo: str | None = Field(default=None, max_length=64)  # noqa: N815
    signAlgo: str = Field(min_length=1, max_length=64)  # noqa: N815
    signAlgoParams: str | None = Field(default=None, max_length=1000)  # noqa: N815
    clientData: str | None = _TEXT  # noqa: N815


def decode_hashes(values: list[str] | None) -> list[bytes]:
    """Base64 hash values (CSC: "Base64-encoded raw message digest(s)")."""
    decoded = []
    for value in values or ():
        try:
            decoded.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise InvalidSigningRequest("a hash is not valid base64") from None
    return decoded


def decode_params(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSigningRequest("signAlgoParams is not valid base64") from None


# --- responses ----------------------------------------------------------------------------------

_OTP_LABEL = "NatID authenticator app code"
_OTP_DESCRIPTION = "The 6-digit code your authenticator app shows for NatID now"


def _der64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def _generalized(moment: Any) -> str:
    return str(moment.strftime("%Y%m%d%H%M%SZ"))


def _cert_status(credential: Credential) -> str:
    status = credential.issued.status.value
    if status == "good":
        return "valid" if credential.usable else "expired"
    return status if status in {"revoked", "suspended"} else "revoked"


def credential_info(
    credential: Credential,
    *,
    version: int,
    certificates: str,
    cert_info: bool,
    auth_info: bool = True,
) -> dict[str, Any]:
    """The credentials/info response (v2 §11.5 / v1 §11.5) for one credential."""
    cert = credential.certificate
    key: dict[str, Any] = {
        "status": "enabled" if credential.usable else "disabled",
        "algo": list(credential.sign_algorithms),
        "len": credential.key_bits,
    }
    if credential.curve_oid is not None:
        key["curve"] = credential.curve_oid
    cert_part: dict[str, Any] = {"status": _cert_status(credential)}
    if certificates != "none":
        chain = [cert, *credential.chain] if certificates == "chain" else [cert]
        cert_part["certificates"] = [_der64(c) for c in chain]
    if cert_info:
        cert_part.update(
            issuerDN=cert.issuer.rfc4514_string(),
            serialNumber=credential.credential_id,
            subjectDN=cert.subject.rfc4514_string(),
            validFrom=_generalized(cert.not_valid_before_utc),
            validTo=_generalized(cert.not_valid_after_utc),
        )
    profile = credential.issued.profile.value
    body: dict[str, Any] = {
        "description": f"NatID {profile} signing certificate {credential.credential_id}",
        "key": key,
        "cert": cert_part,
        "multisign": MAX_BATCH,
        "lang": "en",
    }
    otp = {"type": "OTP", "id": "OTP", "format": "N", "label": _OTP_LABEL,
           "description": _OTP_DESCRIPTION}  # fmt: skip
    if version == 2:
        body["scal"] = "2"
        if auth_info:
            body["auth"] = {"mode": "explicit", "expression": "OTP", "objects": [otp]}
    else:
        body["SCAL"] = "2"
        body["authMode"] = "explicit"
        body["PIN"] = {"presence": "false"}
        body["OTP"] = {"presence": "true", "type": "offline", "format": "N",
                       "label": _OTP_LABEL, "description": _OTP_DESCRIPTION,
                       "ID": "totp", "provider": "NatID"}  # fmt: skip
    return body
