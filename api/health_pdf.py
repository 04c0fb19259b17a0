"""The printable, e-sealed health certificate: ``vaccine_cert.pdf`` renders, ``signing`` seals.

The two services do not import each other (ARCHITECTURE.md, "Which way imports go"), so the
transport layer composes them, for ``natid health issue --pdf`` and ``POST
/health/v1/certificates`` with ``"pdf": true``:

1. :func:`prepare_sealing` - BEFORE anything is issued: the fonts are installed and the health
   authority (the Ministry of Health entity the health service signs for) has a usable e-seal
   certificate, issued with a server-side key if it had none (``SigningService.ensure_eseal``).
   What can fail for lack of set-up fails here, while nothing is stored.
2. The caller issues the credential.
3. :func:`sealed_certificate_pdf` - the PDF (:func:`vaccine_cert.pdf.render_certificate_pdf`,
   with the holder's Khmer name and the Ministry's Khmer name from the register) sealed as
   PAdES B-T by the Ministry's e-seal (``SigningService.seal``: the signature time-stamped by
   NatID's TSA).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.context import AppContext
    from signing.service import SigningService
    from vaccine_cert.service import IssuedHealthCredential

__all__ = ["SEAL_LEVEL", "prepare_sealing", "sealed_certificate_pdf"]

#: PAdES level of the seal: B-T, so the time of sealing is vouched for by the TSA.
SEAL_LEVEL = "B-T"


def _signing(ctx: AppContext) -> SigningService:
    """The context's signing service (built once, in ``api.context``)."""
    return ctx.signing()


def _health_entity(ctx: AppContext) -> str:
    # The configured health authority, or the demo's Ministry of Health.
    return ctx.health().health_entity_id()


def prepare_sealing(ctx: AppContext, *, actor: str | None) -> None:
    """Step 1 of the module docstring; raise a NatID error if a sealed PDF cannot be made."""
    from vaccine_cert.pdf import CertificateFonts

    CertificateFonts.find()
    _signing(ctx).ensure_eseal(_health_entity(ctx), actor=actor)


def sealed_certificate_pdf(
    ctx: AppContext, issued: IssuedHealthCredential, *, subject_id: str, actor: str | None
) -> bytes:
    """Step 3 of the module docstring: the sealed PDF of a credential just issued."""
    from vaccine_cert.pdf import render_certificate_pdf

    entity_id = _health_entity(ctx)
    holder = ctx.register.get_person(subject_id)
    entity = ctx.register.get_entity(entity_id)
    pdf = render_certificate_pdf(
        issued.payload,
        holder_name_km=holder.name_km.strip() or None,
        issuer_name_km=entity.name_km.strip() or None,
    )
    return _signing(ctx).seal(entity_id, pdf, actor=actor, level=SEAL_LEVEL)
