"""pyHanko's own CSC client signs a PDF through NatID's CSC API on a real server.

uvicorn serves the CSC router in a thread (pyHanko's client is aiohttp; it needs a socket).
The client is pyHanko's: ``fetch_certs_in_csc_credential`` reads the credential, a
``CSCAuthorizationManager`` subclass calls ``credentials/authorize`` with the hashes and the
official's OTP, and ``CSCSigner`` calls ``signatures/signHash``. pyHanko's client speaks CSC
v1.0.4.0 payloads (its ``api_ver`` only changes the path), so it runs against ``/csc/v1``.
The signed PDF is then validated by NatID's validator and by poppler's ``pdfsig``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCCredentialInfo,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)

from api.context import AppContext
from ca.hierarchy import Hierarchy
from core.clock import FixedClock
from signing.validate import Indication
from tests._serving import serve_app
from tests.api._ra import installed_context
from tests.api.csc._csc import Official, csc_app, mint_token, new_official, otp_now, signing_client
from tests.conftest import require_command
from tests.signing._pdf import make_pdf

pytestmark = pytest.mark.slow

#: pyHanko stamps the signing time from the system clock; the server's clock starts at the
#: real time too, so the certificate is valid at the time the signature claims.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


class OtpAuthorizationManager(CSCAuthorizationManager):
    """Authorises each batch by calling credentials/authorize with the hashes and an OTP."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        info: CSCServiceSessionInfo,
        credential: CSCCredentialInfo,
        otp: list[str],
    ) -> None:
        super().__init__(info, credential)
        self.session = session
        self.otp = otp
        self.calls = 0

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        self.calls += 1
        body = self.format_csc_auth_request(otp=self.otp.pop(0), hash_b64s=hash_b64s)
        url = f"{self.csc_session_info.service_url}/csc/v1/credentials/authorize"
        async with self.session.post(url, json=body, headers=self.auth_headers) as response:
            data = await response.json()
            if response.status != 200:
                raise SigningError(f"authorize refused: {data}")
        return self.parse_csc_auth_response(data)


@pytest.fixture
def server_ctx(
    tmp_path: Path, db_url: str, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[tuple[AppContext, FixedClock]]:
    clock = FixedClock(NOW)
    ctx = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    ctx.idp_core().signing_keys.ensure_active(actor="test")
    try:
        yield ctx, clock
    finally:
        ctx.close()


async def _sign_with_pyhanko(
    base: str, official: Official, token: str, otp: list[str], pdf: bytes
) -> tuple[bytes, int]:
    async with aiohttp.ClientSession() as session:
        info = CSCServiceSessionInfo(
            service_url=base,
            credential_id=official.credential.serial_hex,
            oauth_token=token,
            api_ver="v1",
        )
        credential = await fetch_certs_in_csc_credential(session, info)
        manager = OtpAuthorizationManager(session, info, credential, otp)
        signer = CSCSigner(session, manager)
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        meta = signers.PdfSignatureMetadata(
            field_name="Approval",
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
        )
        out = await signers.PdfSigner(meta, signer).async_sign_pdf(writer)
        return out.getvalue(), manager.calls


def test_pyhanko_csc_client_signs_a_pdf_that_validates(
    server_ctx: tuple[AppContext, FixedClock], tmp_path: Path
) -> None:
    ctx, clock = server_ctx
    official = new_official(ctx, clock)
    token = mint_token(ctx, signing_client(ctx), official.person_id)
    original = make_pdf(text="Approval memo")
    otp = [otp_now(official, clock)]
    with serve_app(csc_app(ctx)) as served:
        signed, calls = asyncio.run(_sign_with_pyhanko(served.url, official, token, otp, original))
    assert calls == 1
    assert signed.startswith(original)  # an incremental update: the memo is untouched

    report = ctx.signing().validate(signed)
    [signature] = report.signatures
    assert signature.indication is Indication.TOTAL_PASSED, signature
    assert signature.signer_serial == official.credential.serial_hex.upper()
    assert signature.pades_level == "B-B"
    assert signature.modifications == "none"

    tampered = bytearray(signed)
    at = signed.index(b"Approval memo")
    tampered[at] = ord("X")
    [broken] = ctx.signing().validate(bytes(tampered)).signatures
    assert broken.indication is Indication.TOTAL_FAILED
    assert broken.sub_indication == "HASH_FAILURE"

    pdfsig = require_command("pdfsig")
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    out = subprocess.run(
        [pdfsig, str(path)], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    assert "Signature Validation: Signature is Valid." in out
    assert (
        official.credential.certificate.subject.rfc4514_string().split(",")[0].split("=")[1] in out
    )

    # One authorisation, one signature: signing again needs a new OTP and a new SAD.
    [entry] = [e for e in ctx.ledger.tail(200) if e.event == "signing.csc.signed"]
    assert entry.data["hash_count"] == 1


def test_pyhanko_client_without_a_fresh_otp_cannot_sign(
    server_ctx: tuple[AppContext, FixedClock],
) -> None:
    ctx, clock = server_ctx
    official = new_official(ctx, clock)
    token = mint_token(ctx, signing_client(ctx), official.person_id)
    used = otp_now(official, clock)
    ctx.idp_accounts().totp.verify(official.account_id, used, at=clock.now())  # spent elsewhere
    # pyHanko logs the refused authorisation and fails the signature ("No signing results").
    with serve_app(csc_app(ctx)) as served, pytest.raises(SigningError):
        asyncio.run(_sign_with_pyhanko(served.url, official, token, [used], make_pdf()))
    refusals = [e for e in ctx.ledger.tail(200) if e.event == "signing.csc.authorize_refused"]
    assert [e.data["reason"] for e in refusals] == ["otp_wrong"]
    assert [e for e in ctx.ledger.tail(200) if e.event == "signing.csc.signed"] == []
