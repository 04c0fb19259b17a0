"""The registration officer's pages (issue 8, "enrolment at the counter"), Khmer and English.

Routes (HTML unless said otherwise; every form carries the IdP's CSRF token):

* ``GET /officer``, ``POST /officer`` - find a person by ID card number. The number is posted,
  never put in a URL, a log line or the ledger; a hit is a 303 to the person's page (by the
  register's random id), a miss says so on the page.
* ``GET /officer/persons/{id}`` - names (Khmer and Latin), birth date, status, proofing level,
  account status, certificates, and the forms below.
* ``POST .../proofing`` - in-person proofing at level ``high`` (``EmbeddedRegister.
  record_proofing``, method ``in_person``, the officer's civil-servant id as ``officer_id``);
  the officer must tick "the document number matches" and "I compared the photo".
* ``POST .../enrol`` - a new activation code (:func:`api.routers.activation.activation_service`)
  and its letter; ``POST .../reset`` - the in-person reset
  (:func:`api.routers.recovery.recovery_service`), which ends in a new letter too. The letter's
  PDF (:mod:`api.officer_letter`) is rendered once and kept in the cache for
  :data:`LETTER_TTL` under the officer's account: ``GET /officer/letters/{activation_id}.pdf``
  serves it to that officer only (anyone else, or later: 404, re-issue instead). The code itself
  is never shown on a page, stored, or logged here.
* ``POST .../certificates`` - issue on the spot, through the CA service the RA API uses
  (:meth:`ca.service.CAService.issue_with_server_key` for keys kept in the key backend for
  remote signing, :meth:`~ca.service.CAService.issue_from_csr` for a CSR from the person's
  device).
* ``GET .../receipt`` - a printable PDF of what was done for the person today (Cambodia time).

Access: a live IdP login session at ``acr`` ``high`` (certificate login or a passkey bound in
person) whose account is linked to an active operator with the ``ra-officer`` role, and whose
person is an active civil servant in the register. No session: 303 to ``/login?next=..``; a
weaker session: 303 to ``/login?next=..&acr=high`` (a step-up); anyone else: a 403 page.

The office the officer works at is typed on the forms, checked with the register's free-text
rules, and remembered for the login session (in the cache) to prefill the next form. Every
action is in the audit ledger as ``officer.*`` with the operator id as actor, the person's
register id as subject, and the civil-servant id and office in its data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.digits import ascii_digits
from api.idp_web import (
    PageRoute,
    check_csrf,
    context_of,
    see_other,
)
from api.officer_letter import (
    LETTER_TTL,
    LetterFacts,
    ReceiptFacts,
    keep_letter,
    kept_letter,
    receipt_lines,
    render_letter_pdf,
    render_receipt_pdf,
)
from api.officer_web import (
    CSR_PROFILES,
    DOCUMENTS,
    Officer,
    audit,
    checked_office,
    error_page,
    find_person,
    page_language,
    pdf_response,
    person_page_response,
    render,
    require_officer,
    saved_office,
)
from api.routers.officer_text import officer_texts
from ca.profiles import ProfileName
from core.errors import NatIDError
from registry.records import AssuranceLevel, EvidenceType, Person

__all__ = ["LETTER_TTL", "router"]

router = APIRouter(tags=["officer pages"], route_class=PageRoute, include_in_schema=False)

_MAX_CSR = 64 * 1024

Short = Annotated[str, Form(max_length=128)]
Text = Annotated[str, Form(max_length=400)]
Lang = Annotated[str | None, Query(max_length=8)]


@dataclass(frozen=True, slots=True)
class _Form:
    """The fields every officer form posts."""

    office: str
    csrf_token: str
    lang: str


def _form(office: Text = "", csrf_token: Short = "", lang: Short = "") -> _Form:
    return _Form(office, csrf_token, lang)


Common = Annotated[_Form, Depends(_form)]


# --- search -------------------------------------------------------------------------------------


@router.get("/officer", response_class=HTMLResponse, summary="Find a person")
def search_page(request: Request, lang: Lang = None) -> Response:
    chosen = page_language(request, lang)
    officer = require_officer(request, chosen)
    if not isinstance(officer, Officer):
        return officer
    office = saved_office(context_of(request), officer)
    return render(request, "search.html", chosen, officer=officer, office=office)


@router.post("/officer", response_class=HTMLResponse, summary="Find a person by ID card number")
def search(
    request: Request,
    *,
    national_id: Annotated[str, Form(max_length=64)] = "",
    office: Text = "",
    csrf_token: Short = "",
    lang: Short = "",
) -> Response:
    national_id = ascii_digits(national_id)  # a Khmer keyboard types Khmer digits
    check_csrf(request, csrf_token)
    chosen = page_language(request, lang)
    officer = require_officer(request, chosen)
    if not isinstance(officer, Officer):
        return officer
    ctx = context_of(request)
    checked = checked_office(ctx, officer, office)

    def again(key: str, status: int) -> Response:
        error = officer_texts(chosen)[key]
        return render(
            request, "search.html", chosen, status, officer=officer, office=office, error=error
        )

    if checked is None:
        return again("office_invalid", 400)
    number = "".join(national_id.split())
    if not number:
        return again("national_id_missing", 400)
    try:
        person = ctx.register.find_person_by_national_id(number)
    except NatIDError:
        person = None
    audit(ctx, "person.searched", officer, checked, person.id if person else None,
           found=person is not None)  # fmt: skip
    if person is None:
        return again("not_found", 404)
    return see_other(f"/officer/persons/{person.id}?lang={chosen}")


# --- the person ---------------------------------------------------------------------------------


@router.get("/officer/persons/{person_id}", response_class=HTMLResponse, summary="A person")
def person_page(request: Request, person_id: str, lang: Lang = None, done: str = "") -> Response:
    chosen = page_language(request, lang)
    officer = require_officer(request, chosen)
    if not isinstance(officer, Officer):
        return officer
    ctx = context_of(request)
    person = find_person(ctx, person_id)
    if person is None:
        return error_page(request, chosen, "person_unknown", 404)
    audit(ctx, "person.viewed", officer, saved_office(ctx, officer), person.id)
    notice = None
    if done == "proofing":
        level = ctx.register.proofing_level(person.id)
        words = officer_texts(chosen)
        notice = words["proofing_done"].format(level=words[f"level_{level or 'none'}"])
    return person_page_response(request, chosen, officer, person, notice=notice)


def _form_action(
    request: Request, person_id: str, form: _Form
) -> tuple[str, Officer, Person, str] | Response:
    """The common start of a person form: CSRF, officer, person, office (or a response)."""
    check_csrf(request, form.csrf_token)
    chosen = page_language(request, form.lang)
    officer = require_officer(request, chosen)
    if not isinstance(officer, Officer):
        return officer
    ctx = context_of(request)
    person = find_person(ctx, person_id)
    if person is None:
        return error_page(request, chosen, "person_unknown", 404)
    checked = checked_office(ctx, officer, form.office)
    if checked is None:
        error = officer_texts(chosen)["office_invalid"]
        return person_page_response(request, chosen, officer, person, status=400, error=error)
    return chosen, officer, person, checked


@router.post("/officer/persons/{person_id}/proofing", summary="Record in-person proofing")
def proofing(
    request: Request,
    person_id: str,
    *,
    form: Common,
    document_type: Short = "",
    number_matches: Short = "",
    photo_compared: Short = "",
) -> Response:
    started = _form_action(request, person_id, form)
    if isinstance(started, Response):
        return started
    chosen, officer, person, checked = started
    words = officer_texts(chosen)

    def refuse(key: str) -> Response:
        return person_page_response(request, chosen, officer, person, status=400, error=words[key])

    if document_type not in DOCUMENTS:
        return refuse("document_invalid")
    if number_matches != "yes" or photo_compared != "yes":
        return refuse("proofing_checks_missing")
    ctx = context_of(request)
    try:
        record = ctx.register.record_proofing(
            person.id, method="in_person", level=AssuranceLevel.HIGH,
            evidence=EvidenceType(document_type), office=checked, officer_id=officer.servant_id,
            at=ctx.clock.now(), actor=officer.operator_id,
        )  # fmt: skip
    except NatIDError:
        return refuse("proofing_refused")
    audit(ctx, "proofing.recorded", officer, checked, person.id, record_id=record.id,
           evidence=document_type, level=record.level.value)  # fmt: skip
    return see_other(f"/officer/persons/{person.id}?done=proofing&lang={chosen}")


# --- letters ------------------------------------------------------------------------------------


def _letter_page(
    request: Request, lang: str, officer: Officer, person: Person, *, issued: Any, office: str
) -> Response:
    """Render the letter, keep its PDF for the officer, show the download page."""
    ctx = context_of(request)
    pdf = render_letter_pdf(
        LetterFacts(
            name_km=person.name_km, name_latin=person.name_latin, code=issued.code,
            activate_url=issued.activate_url, expires_at=issued.expires_at,
            issued_at=ctx.clock.now(), office=office,
        )
    )  # fmt: skip
    keep_letter(ctx.cache, issued.activation_id, owner=officer.account_id, pdf=pdf)
    return render(
        request, "letter.html", lang, officer=officer, person=person,
        activation_id=issued.activation_id, expires_at=issued.expires_at,
        sms_sent=issued.sms_sent,
    )  # fmt: skip


@router.post("/officer/persons/{person_id}/enrol", summary="Issue an activation letter")
def enrol(request: Request, person_id: str, form: Common) -> Response:
    return _issue_letter(request, person_id, form, reset=False)


@router.post("/officer/persons/{person_id}/reset", summary="Reset an account in person")
def reset(request: Request, person_id: str, form: Common) -> Response:
    return _issue_letter(request, person_id, form, reset=True)


def _issue_letter(request: Request, person_id: str, form: _Form, *, reset: bool) -> Response:
    """Enrol (a first or a replacement code) or reset in person: both end with a letter."""
    from api.routers.activation import activation_service
    from api.routers.recovery import recovery_service

    started = _form_action(request, person_id, form)
    if isinstance(started, Response):
        return started
    chosen, officer, person, checked = started
    ctx = context_of(request)
    words = officer_texts(chosen)
    if ctx.register.proofing_level(person.id) is not AssuranceLevel.HIGH:
        error = words["enrol_needs_high"]
        return person_page_response(request, chosen, officer, person, status=409, error=error)
    now = ctx.clock.now()
    try:
        if reset:
            issued = recovery_service(ctx).reset_in_person(
                person.id, officer=officer.operator_id, office=checked, at=now
            )
        else:
            issued = activation_service(ctx).issue(
                person.id, officer=officer.operator_id, office=checked, at=now
            )
    except NatIDError:
        error = words["reset_refused" if reset else "enrol_refused"]
        return person_page_response(request, chosen, officer, person, status=409, error=error)
    audit(ctx, "account.reset" if reset else "activation.issued", officer, checked, person.id,
           activation_id=issued.activation_id, expires_at=issued.expires_at.isoformat(),
           sms_sent=issued.sms_sent)  # fmt: skip
    return _letter_page(request, chosen, officer, person, issued=issued, office=checked)


@router.get("/officer/letters/{activation_id}.pdf", summary="The activation letter (PDF)")
def letter_pdf(request: Request, activation_id: str, lang: Lang = None) -> Response:
    chosen = page_language(request, lang)
    officer = require_officer(request, chosen)
    if not isinstance(officer, Officer):
        return officer
    ctx = context_of(request)
    pdf = kept_letter(ctx.cache, activation_id, owner=officer.account_id)
    if pdf is None:
        # Another officer's letter is answered like an expired one: nothing to see here.
        return error_page(request, chosen, "letter_gone", 404)
    audit(ctx, "letter.downloaded", officer, saved_office(ctx, officer), None,
           activation_id=activation_id)  # fmt: skip
    return pdf_response(pdf, f"natid-letter-{activation_id[:8]}.pdf")


# --- certificates, receipt ----------------------------------------------------------------------


def _csr_text(upload: UploadFile | None, pasted: str) -> str:
    """The CSR from the uploaded file, else the pasted text ("" when too large)."""
    if upload is not None and upload.filename:
        data = upload.file.read(_MAX_CSR + 1)
        return data.decode("ascii", "replace") if len(data) <= _MAX_CSR else ""
    return pasted.strip()


@router.post("/officer/persons/{person_id}/certificates", summary="Issue certificates on the spot")
def certificates(
    request: Request,
    person_id: str,
    *,
    mode: Short = "server",
    profile: Short = "",
    csr: Annotated[str, Form(max_length=_MAX_CSR)] = "",
    csr_file: Annotated[UploadFile | None, File()] = None,
    form: Common,
) -> Response:
    started = _form_action(request, person_id, form)
    if isinstance(started, Response):
        return started
    chosen, officer, person, checked = started
    ctx = context_of(request)
    words = officer_texts(chosen)
    issued = []
    try:
        if mode == "csr":
            pem = _csr_text(csr_file, csr)
            if "BEGIN CERTIFICATE REQUEST" not in pem or profile not in CSR_PROFILES:
                return person_page_response(request, chosen, officer, person, status=400,
                                    error=words["csr_missing"])  # fmt: skip
            issued.append(
                ctx.ca().issue_from_csr(profile, person.id, pem, actor=officer.operator_id)
            )
        else:
            issued.extend(
                ctx.ca().issue_with_server_key(name, person.id, actor=officer.operator_id)
                for name in (ProfileName.CITIZEN_AUTH, ProfileName.CITIZEN_SIGN)
            )
    except NatIDError as exc:
        error = words["certs_refused"].format(reason=exc.message)
        return person_page_response(request, chosen, officer, person, status=400, error=error)
    serials = [c.serial_hex for c in issued]
    audit(ctx, "certificates.issued", officer, checked, person.id, mode=mode, serials=serials)
    notice = words["certs_done"].format(serials=", ".join(serials))
    return person_page_response(request, chosen, officer, person, notice=notice)


@router.get("/officer/persons/{person_id}/receipt", summary="Today's receipt (PDF)")
def receipt(request: Request, person_id: str, lang: Lang = None) -> Response:
    chosen = page_language(request, lang)
    officer = require_officer(request, chosen)
    if not isinstance(officer, Officer):
        return officer
    ctx = context_of(request)
    person = find_person(ctx, person_id)
    if person is None:
        return error_page(request, chosen, "person_unknown", 404)
    now = ctx.clock.now()
    office = saved_office(ctx, officer)
    facts = ReceiptFacts(
        name_km=person.name_km, name_latin=person.name_latin, office=office or "-",
        officer=officer.servant_id, printed_at=now, lines=receipt_lines(ctx, person, now),
    )  # fmt: skip
    audit(ctx, "receipt.printed", officer, office, person.id)
    return pdf_response(render_receipt_pdf(facts), "natid-receipt.pdf")
