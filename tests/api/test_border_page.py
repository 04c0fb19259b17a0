"""The border verifier page (api/routers/border.py) in headless Chromium, on a real server.

A uvicorn server runs in a thread with a test context (SQLite and PostgreSQL); Chromium
(``/usr/bin/chromium`` driven by Playwright) loads the page, and the officer's steps are played:
upload a photo of a QR code -> green with the holder's name; a QR code of an altered credential
-> red with the signature reason; revoke, refresh the lists -> red with the revocation reason;
then the server is stopped and the browser taken offline, and the page - served by its service
worker - still verifies. A credential of another country, whose signer NatID knows only from
that country's imported trust list, verifies green; one from a signer in no list is red with
the unknown-signer reason. The public EU DCC test vectors are run through the page's verifier
and must agree with NatID's Python verifier check by check.

The server's clock is a fixed clock at the real current time, because Chromium checks iat/exp
against its own clock (Date.now()), as a border device does.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import math
import re
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext, build_context
from api.page_format import local_time, numerals
from api.routers import border, health_certs
from api.routers.border_text import TEXT
from ca.hierarchy import Hierarchy, create_hierarchy
from ca.urls import PkiUrls
from core.clock import FixedClock
from core.operators import OperatorService
from core.settings import load_settings
from hsm_adapters import SoftKeyBackend
from tests._serving import serve_app
from tests.conftest import require_command
from tests.vaccine_cert._health import TEST, VACCINATION
from tests.vaccine_cert.conftest import DCC_DIR
from vaccine_cert.base45 import b45decode, b45encode
from vaccine_cert.qr import qr_png
from vaccine_cert.report import Check, Outcome, ReasonCode
from vaccine_cert.revocation import STALE_AFTER
from vaccine_cert.trustlist import export_trustlist
from vaccine_cert.verify import verify

PASSPHRASE = "border page test passphrase"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
STATIC = Path(border.__file__).resolve().parent.parent / "static" / "border"


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Hierarchy]:
    path = tmp_path_factory.mktemp("border-keys")
    backend = SoftKeyBackend(path, PASSPHRASE)
    try:
        return path, create_hierarchy(backend, urls=PkiUrls("http://localhost:8000"), at=NOW)
    finally:
        backend.close()


@pytest.fixture
def ctx(tmp_path: Path, db_url: str, key_dir: tuple[Path, Hierarchy]) -> Iterator[AppContext]:
    settings = load_settings(
        data_dir=tmp_path / "var", database_url=db_url, soft_key_dir=key_dir[0],
        soft_key_passphrase=PASSPHRASE,
    )  # fmt: skip
    context = build_context(settings, clock=FixedClock(NOW))
    context.ca().adopt_hierarchy(key_dir[1], actor="test")
    context.register.add_entity(
        {"register_no": "DEMO-MIN-MOH", "name_km": "ក្រសួងសុខាភិបាល",
         "name_en": "Ministry of Health", "kind": "ministry"}
    )  # fmt: skip
    # What `natid health signer ensure` does on a real installation. The key store lives for
    # the module, so without it the page's trust list existed only once an earlier test had
    # issued a credential, and a test run alone met 503 health_signer_unavailable.
    context.health().ensure_anchor(actor="test")
    try:
        yield context
    finally:
        context.close()


def _app(ctx: AppContext) -> FastAPI:
    app = create_app(ctx)
    app.include_router(health_certs.router)
    app.include_router(border.router)
    return app


def _stop(server: uvicorn.Server, base: str) -> None:
    """Stop the server and wait until its port refuses connections."""
    server.should_exit = True
    host, port = base.removeprefix("http://").split(":")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError("the server did not stop")


@contextlib.contextmanager
def _chromium() -> Iterator[Any]:
    executable = require_command("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _altered(payload: str) -> str:
    """The credential with another date of birth and its original signature: a forgery."""
    cose = cbor2.loads(zlib.decompress(b45decode(payload[4:])))
    protected, unprotected, body, signature = cose.value
    claims = cbor2.loads(body)
    claims[-260][1]["dob"] = "1999-09-09"
    forged = cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature])
    return "HC1:" + b45encode(zlib.compress(cbor2.dumps(forged), 9))


def _upload(page: Any, payload: str) -> dict[str, Any]:
    """Upload a picture of the QR code of ``payload``; return what the page shows."""
    page.evaluate("document.getElementById('result').removeAttribute('data-valid')")
    page.set_input_files(
        "#photo", files=[{"name": "qr.png", "mimeType": "image/png", "buffer": qr_png(payload)}]
    )
    page.wait_for_selector("#result[data-valid]")
    shown: dict[str, Any] = page.evaluate(
        """() => ({
          valid: document.getElementById('result').dataset.valid === 'true',
          verdict: document.getElementById('verdict').textContent,
          name: document.getElementById('holder-name').textContent,
          dob: document.getElementById('holder-dob').textContent,
          holderShown: !document.getElementById('holder').hidden,
          note: document.getElementById('holder-note').textContent,
          details: document.getElementById('details').textContent,
          checks: Object.fromEntries([...document.querySelectorAll('#checks li')].map(
            li => [li.dataset.check, {outcome: li.className, text: li.textContent,
              codes: [...li.querySelectorAll('.why')].map(w => w.dataset.code)}])),
        })"""
    )
    return shown


def _open(page: Any, url: str) -> None:
    # Deferred scripts have run when "load" fires; the lists load right after. (No
    # wait_for_function: Playwright polls it with eval, which the page's CSP forbids.)
    page.goto(url)
    page.evaluate("window.NatIDBorder.ready")


@pytest.mark.slow
def test_officer_scans_verifies_sees_revocation_and_works_offline(ctx: AppContext) -> None:
    holder = ctx.register.add_person(
        {"national_id": "000555222", "name_km": "ចាន់ ធីតា", "name_latin": "Chan Thida",
         "birthdate": "1985-02-03"}
    )  # fmt: skip
    health = ctx.health()
    kept = health.issue(holder.id, "vaccination", VACCINATION, actor="test")
    revoked = health.issue(holder.id, "test", TEST, actor="test")
    service = OperatorService(ctx.sessions, ledger=ctx.ledger, clock=ctx.clock, cache=ctx.cache)
    _operator, token = service.add("border-test-issuer", roles=("health-issuer",), actor="test")

    with _chromium() as browser, serve_app(_app(ctx)) as served:
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        _open(page, f"{served.url}/health/verify?lang=en")
        # The service worker installs and takes the page over (it caches the lists first).
        page.evaluate(
            """async () => {
              await navigator.serviceWorker.ready;
              while (!navigator.serviceWorker.controller) await new Promise(r => setTimeout(r, 50));
            }"""
        )
        # One ES256 signer signed both credentials; the lists were just made - by the fixed
        # clock, set when this module was imported, so on a busy machine a few minutes ago.
        assert "1 signer(s)" in page.text_content("#trust-age")
        assert re.search(r"\(\d{1,2} min old\)", page.text_content("#revocation-age") or "")

        # 1. A genuine credential: green, with the holder's name and date of birth.
        shown = _upload(page, kept.payload)
        assert shown["valid"], shown
        assert "VALID" in shown["verdict"]
        assert shown["name"].startswith("Chan Thida")
        assert "CHAN<<THIDA" in shown["name"]
        assert shown["dob"] == "1985-02-03"
        assert all(c["outcome"] == "pass" for c in shown["checks"].values())
        # Online, the full schema check was asked of the server, and the page says so.
        assert TEXT["schema_server"]["en"] in shown["checks"]["schema"]["text"]

        assert shown["holderShown"]
        assert shown["note"] == TEXT["compare"]["en"]

        # 2. An altered credential: red, because the signature does not match; the forged name
        # and date of birth are not shown for the officer to compare with the passport.
        shown = _upload(page, _altered(kept.payload))
        assert not shown["valid"]
        assert "NOT VALID" in shown["verdict"]
        assert shown["checks"]["signature"]["outcome"] == "fail"
        assert shown["checks"]["signature"]["codes"] == ["signature_invalid"]
        assert shown["checks"]["expiry"]["outcome"] == "skipped"
        assert not shown["holderShown"]
        assert (shown["name"], shown["dob"], shown["details"]) == ("", "", "")
        assert shown["note"] == TEXT["holder_hidden"]["en"]
        assert "1999-09-09" not in page.text_content("#result")
        assert "Chan" not in page.text_content("#result")

        # 3. Revoked over the API; the officer refreshes the lists: red, revocation.
        response = TestClient(_app(ctx)).post(
            f"/health/v1/certificates/{revoked.uvci.replace('#', '%23')}/revoke",
            headers={"Authorization": f"Bearer {token.token}"},
        )
        assert response.status_code == 200, response.text
        assert _upload(page, revoked.payload)["valid"]  # the page still has the old list
        with page.expect_response(lambda r: r.url.endswith("/health/revocations")):
            page.click("#refresh")
        page.evaluate("window.NatIDBorder.loadLists()")  # and wait until it is loaded
        shown = _upload(page, revoked.payload)
        assert not shown["valid"]
        assert shown["checks"]["revocation"]["outcome"] == "fail"
        assert shown["checks"]["revocation"]["codes"] == ["revoked"]
        # Revoked, but signed by the issuer: the holder is shown, marked as NOT VALID.
        assert shown["holderShown"]
        assert shown["dob"] == "1985-02-03"
        assert shown["note"] == TEXT["holder_signed_invalid"]["en"]
        assert f"{TEXT['test_result']['en']}{TEXT['test_not_detected']['en']}" in shown["details"]

        # 4. Khmer: the page and its labels in Khmer, the html element says so.
        _open(page, f"{served.url}/health/verify?lang=km")
        assert page.get_attribute("html", "lang") == "km"
        assert page.text_content("h1") == TEXT["title"]["km"]
        assert page.text_content("#scan") == TEXT["scan"]["km"]
        # The numbers a person reads in Khmer digits: the list's signer count, its time and
        # age, the date of birth, the dose and the date; the identifiers as the credential has
        # them (the UVCI, the vaccine product code).
        lists = (page.text_content("#trust-age") or "") + (
            page.text_content("#revocation-age") or ""
        )
        assert "(១)" in lists
        # In Cambodia time, labelled as the server-drawn Khmer pages label it.
        assert not re.search(r"[0-9]", lists), lists
        assert TEXT["local_time"]["km"].format(time="") in lists, lists
        shown = _upload(page, kept.payload)
        assert shown["valid"]
        assert TEXT["valid"]["km"] in shown["verdict"]
        assert shown["dob"] == numerals("1985-02-03", "km")
        assert f"{TEXT['dose']['km']}{numerals('2 / 2', 'km')}" in shown["details"]
        assert f"{TEXT['date']['km']}{numerals(VACCINATION['dt'], 'km')}" in shown["details"]
        assert kept.uvci in shown["details"] and str(VACCINATION["mp"]) in shown["details"]
        # A test result in Khmer words, not the English of the value set.
        shown = _upload(page, revoked.payload)
        assert f"{TEXT['test_result']['km']}{TEXT['test_not_detected']['km']}" in shown["details"]
        assert "detected" not in shown["details"].lower()
        assert shown["note"] == TEXT["holder_signed_invalid"]["km"]
        _open(page, f"{served.url}/health/verify?lang=en")

        # 5. Offline: no server at all, and the browser offline. The service worker serves
        # the page, its scripts and the lists it cached; verification runs in the browser.
        _stop(served.server, served.url)
        context.set_offline(True)
        page.reload()
        page.evaluate("window.NatIDBorder.ready")
        assert page.text_content("#network") == TEXT["offline"]["en"]
        assert "old" in page.text_content("#trust-age")
        shown = _upload(page, kept.payload)
        assert shown["valid"], shown
        assert shown["name"].startswith("Chan Thida")
        assert TEXT["schema_local"]["en"] in shown["checks"]["schema"]["text"]
        shown = _upload(page, revoked.payload)
        assert not shown["valid"]
        assert shown["checks"]["revocation"]["codes"] == ["revoked"]
        context.close()


# --- another country's credentials ------------------------------------------------------------

#: HCERT spec, Appendix A, "Key Usage Policy Identifiers": may sign vaccination certificates.
VACCINATION_PURPOSE = "1.3.6.1.4.1.1847.2021.1.2"


def _name(country: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _foreign_signer(country: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A document signer as another country makes its own, with nothing of NatID's: its
    country signing CA (CSCA), and a DSC certified by it that may sign vaccinations only."""
    csca_key = ec.generate_private_key(ec.SECP256R1())
    csca_name = _name(country, f"CSCA-{country} health")
    csca = (
        x509.CertificateBuilder()
        .subject_name(csca_name)
        .issuer_name(csca_name)
        .public_key(csca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=400))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(csca_key, hashes.SHA256())
    )
    dsc_key = ec.generate_private_key(ec.SECP256R1())
    dsc = (
        x509.CertificateBuilder()
        .subject_name(_name(country, f"DSC-{country} vaccination"))
        .issuer_name(csca.subject)
        .public_key(dsc_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=30))
        .not_valid_after(NOW + dt.timedelta(days=730))
        .add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(VACCINATION_PURPOSE)]), critical=False
        )
        .sign(csca_key, hashes.SHA256())
    )
    return dsc_key, dsc


def _foreign_credential(
    key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, country: str, nam: dict[str, str]
) -> str:
    """A vaccination credential issued abroad, encoded here with cbor2, cryptography, zlib and
    Base45 (HCERT spec: CWT, COSE_Sign1 ES256, kid = SHA-256 of the DSC, first 8 bytes)."""
    dcc = {
        "ver": "1.3.0",
        "nam": nam,
        "dob": "1979-11-30",
        "v": [
            {
                "tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528",
                "ma": "ORG-100030215", "dn": 2, "sd": 2, "dt": "2026-09-15", "co": country,
                "is": f"Ministry of Public Health ({country})",
                "ci": f"URN:UVCI:01:{country}:FOREIGN{nam['fnt'][:6]}#7",
            }
        ],
    }  # fmt: skip
    iat = int((NOW - dt.timedelta(hours=2)).timestamp())
    claims = cbor2.dumps({1: country, 6: iat, 4: iat + 180 * 86400, -260: {1: dcc}})
    kid = hashlib.sha256(dsc.public_bytes(serialization.Encoding.DER)).digest()[:8]
    protected = cbor2.dumps({1: -7, 4: kid})
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", claims])
    r, s = decode_dss_signature(key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, claims, signature]))
    return "HC1:" + b45encode(zlib.compress(cose, 9))


@pytest.mark.slow
def test_credential_of_a_foreign_signer_from_an_imported_trust_list(ctx: AppContext) -> None:
    # Thailand publishes its signers in a trust list signed with its own anchor; NatID's
    # operator imports it (what ``natid health trustlist import th.json --anchor th.pem`` does).
    dsc_key, dsc = _foreign_signer("TH")
    anchor = ec.generate_private_key(ec.SECP256R1())
    thai_list = json.dumps(export_trustlist([dsc], country="TH", key=anchor))
    assert ctx.health().import_trustlist(thai_list, anchor=anchor.public_key(), actor="t") == (1, 1)
    thai = _foreign_credential(
        dsc_key, dsc, "TH", {"fn": "Sukprasert", "fnt": "SUKPRASERT", "gn": "Niran", "gnt": "NIRAN"}
    )
    # Laos's signer is in no list NatID has.
    lao_key, lao_dsc = _foreign_signer("LA")
    lao = _foreign_credential(
        lao_key, lao_dsc, "LA", {"fn": "Phommachanh", "fnt": "PHOMMACHANH", "gn": "Kham"}
    )
    lao_kid = base64.b64encode(
        hashlib.sha256(lao_dsc.public_bytes(serialization.Encoding.DER)).digest()[:8]
    ).decode()
    signers = len(ctx.health().trustlist(include_foreign=True))

    with _chromium() as browser, serve_app(_app(ctx)) as served:
        page = browser.new_context(locale="en-GB").new_page()
        _open(page, f"{served.url}/health/verify?lang=en")
        assert f"{signers} signer(s)" in page.text_content("#trust-age")

        # Green, with the holder's name and date of birth to compare with the passport.
        shown = _upload(page, thai)
        assert shown["valid"], shown
        assert "VALID" in shown["verdict"]
        assert shown["name"].startswith("Sukprasert Niran")
        assert "SUKPRASERT<<NIRAN" in shown["name"]
        assert shown["dob"] == "1979-11-30"
        assert all(c["outcome"] == "pass" for c in shown["checks"].values()), shown["checks"]

        # Red: the signer is unknown, so nothing else about the credential is believed.
        shown = _upload(page, lao)
        assert not shown["valid"]
        assert "NOT VALID" in shown["verdict"]
        assert shown["checks"]["decode"]["outcome"] == "pass"
        assert shown["checks"]["signature"]["outcome"] == "fail"
        assert shown["checks"]["signature"]["codes"] == ["signer_unknown"]
        assert "not in the trust list" in shown["checks"]["signature"]["text"]
        assert lao_kid in shown["checks"]["signature"]["text"]
        assert shown["checks"]["expiry"]["outcome"] == "skipped"
        # Nobody vouches for the name and date of birth: they are not shown.
        assert not shown["holderShown"]
        assert "Phommachanh" not in page.text_content("#result")
        assert shown["note"] == TEXT["holder_hidden"]["en"]

    # NatID's own verifier (the CLI's and the API's) agrees with the page.
    assert ctx.health().verify(thai).valid
    assert ctx.health().verify(lao).codes() == {ReasonCode.SIGNER_UNKNOWN}


@pytest.mark.slow
def test_credential_of_a_revoked_signer_says_so_in_both_languages(ctx: AppContext) -> None:
    """The published trust list leaves a revoked signer out, so the page alone would call it
    unknown, as it calls a forger's key; online it asks the server, which knows the
    revocation, and shows its date and reason in the page's language."""
    from ca.revocation import RevocationReason

    holder = ctx.register.add_person(
        {"national_id": "000555333", "name_km": "ចាន់ ធីតា", "name_latin": "Chan Thida",
         "birthdate": "1985-02-03"}
    )  # fmt: skip
    issued = ctx.health().issue(holder.id, "vaccination", VACCINATION, actor="test")
    (signer,) = ctx.health().signers()
    ctx.ca().revoke(signer.serial, reason=RevocationReason.KEY_COMPROMISE, actor="test")

    with _chromium() as browser, serve_app(_app(ctx)) as served:
        page = browser.new_context(locale="en-GB").new_page()
        for lang in ("en", "km"):
            _open(page, f"{served.url}/health/verify?lang={lang}")
            shown = _upload(page, issued.payload)
            assert not shown["valid"]
            signature = shown["checks"]["signature"]
            assert (signature["outcome"], signature["codes"]) == ("fail", ["signer_revoked"])
            # The time as the server-drawn pages write it (Cambodia time, the page's digits and
            # words); the key id exactly as published.
            expected = TEXT["r_signer_revoked"][lang].format(
                at=local_time(NOW, lang), reason="keyCompromise", kid=issued.kid
            )
            assert expected in signature["text"], signature["text"]
            assert not shown["holderShown"]
            assert shown["note"] == TEXT["holder_hidden"][lang]


def _vectors() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(DCC_DIR.glob("**/*.json")):
        try:
            case = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(case, dict) or "TESTCTX" not in case or not case.get("PREFIX"):
            continue
        clock = case["TESTCTX"].get("VALIDATIONCLOCK")
        at = dt.datetime.fromisoformat(clock.replace("Z", "+00:00")) if clock else NOW
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        certificates = []
        with contextlib.suppress(ValueError, KeyError, TypeError):
            der = base64.b64decode(case["TESTCTX"]["CERTIFICATE"])
            certificates = [x509.load_der_x509_certificate(der)]
        try:
            expected = verify(case["PREFIX"], trusted=certificates, at=at).as_dict()["checks"]
        except Exception:
            expected = verify(case["PREFIX"], trusted=[], at=at).as_dict()["checks"]
            certificates = []
        cases.append(
            {
                "name": str(path.relative_to(DCC_DIR)),
                "payload": case["PREFIX"],
                "certificate": case["TESTCTX"].get("CERTIFICATE", "") if certificates else "",
                "at": at.timestamp(),
                "expected": expected,
            }
        )
    return cases


@pytest.mark.slow
def test_page_verifier_agrees_with_natid_on_the_eu_test_vectors(ctx: AppContext) -> None:
    cases = _vectors()
    assert len(cases) > 100
    with _chromium() as browser, serve_app(_app(ctx)) as served:
        page = browser.new_page()
        _open(page, f"{served.url}/health/verify?lang=en")
        outcomes = page.evaluate(
            """async (cases) => {
              const V = window.NatIDVerifier, out = [];
              for (const c of cases) {
                const trust = await V.loadSigners(c.certificate ? [{rawData: c.certificate}] : []);
                const r = await V.verify(c.payload, trust, null, c.at);
                out.push({name: c.name, checks: r.checks});
              }
              return out;
            }""",
            cases,
        )
    disagree = [
        (case["name"], check, case["expected"][check], got["checks"][check])
        for case, got in zip(cases, outcomes, strict=True)
        for check in ("decode", "signature", "expiry", "schema")
        if case["expected"][check] != got["checks"][check]
    ]
    assert disagree == []


@pytest.mark.slow
def test_page_is_bilingual_self_contained_and_pins_its_qr_decoder(ctx: AppContext) -> None:
    client = TestClient(_app(ctx))
    km = client.get("/health/verify", headers={"Accept-Language": "km-KH,en;q=0.5"})
    en = client.get("/health/verify", headers={"Accept-Language": "fr-FR, en;q=0.8, km;q=0.2"})
    default = client.get("/health/verify")
    assert km.status_code == en.status_code == default.status_code == 200
    assert '<html lang="km">' in km.text and TEXT["title"]["km"] in km.text
    assert '<html lang="en">' in en.text and TEXT["title"]["en"] in en.text
    assert '<html lang="km">' in default.text  # neither named: the national language
    assert (
        client.get("/health/verify?lang=en", headers={"Accept-Language": "km"}).headers[
            "content-language"
        ]
        == "en"
    )
    # Nothing from another origin: the policy says so and the page only names its own files.
    assert "default-src 'self'" in km.headers["content-security-policy"]
    assert "//" not in "".join(part.split('"')[0] for part in km.text.split('src="')[1:])
    # jsQR is the pinned file, and the page asks the browser to check it (SRI).
    pinned = (STATIC / "jsQR.js").read_bytes()
    assert hashlib.sha256(pinned).hexdigest() == border.JSQR_SHA256
    integrity = "sha256-" + base64.b64encode(hashlib.sha256(pinned).digest()).decode()
    assert f'integrity="{integrity}"' in km.text
    script = client.get(km.text.split('src="')[1].split('"')[0])
    assert script.status_code == 200
    assert script.content == pinned
    assert "immutable" in script.headers["cache-control"]
    assert client.get("/health/verify/static/..%2Fborder.py").status_code == 404
    worker = client.get("/health/verify/sw.js")
    assert worker.headers["service-worker-allowed"] == "/health/"
    assert "/health/revocations" in worker.text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "km"),
        ("", "km"),
        ("en-US,en;q=0.9", "en"),
        ("km", "km"),
        ("de, en;q=0.1, km;q=0.2", "km"),
        ("en;q=0, km;q=0", "km"),
        ("en;q=abc", "km"),
        ("EN-gb", "en"),
    ],
)
def test_language_negotiation(header: str | None, expected: str) -> None:
    assert border.negotiate_language(header) == expected


def test_catalogue_has_every_word_the_page_uses_in_both_languages() -> None:
    """Every key border.js and the template look up is in the catalogue, in Khmer and English,
    and no English is hard-coded in the script instead (the test results once were)."""
    script = (STATIC / "border.js").read_text(encoding="utf-8")
    template = (border._TEMPLATE_DIR / "border" / "verify.html").read_text(encoding="utf-8")
    used = set(re.findall(r"\bT\.(\w+)", script)) | set(re.findall(r'\bT\["(\w+)"\]', script))
    used |= set(re.findall(r"\bt\.(\w+)", template))
    used |= set(re.findall(r'"(test_(?:not_)?detected)"', script))
    # Keys the script builds: "r_" + reason code, "check_" + check, "kind_" + group, outcomes.
    used |= {f"r_{code}" for code in ReasonCode} | {"r_signer_suspended"}
    used |= {f"check_{check}" for check in Check} | {f"kind_{kind}" for kind in "vtr"}
    used |= {str(outcome) for outcome in Outcome}
    assert {"test_detected", "test_not_detected", "holder_hidden", "r_signer_revoked"} <= used
    assert sorted(used - set(TEXT)) == []
    for key in used:
        km, en = TEXT[key]["km"], TEXT[key]["en"]
        assert km.strip() and en.strip(), key
        assert km != en, f"{key} is not translated"
        # Khmer fills only what the English does (it may leave out the decoder's English
        # detail, as r_decode_failed does).
        assert set(re.findall(r"\{(\w+)\}", km)) <= set(re.findall(r"\{(\w+)\}", en)), key
    for english in ("Not detected", "Detected"):
        assert f'"{english}"' not in script


def test_page_and_cli_call_a_revocation_list_old_after_the_same_time() -> None:
    script = (STATIC / "border.js").read_text(encoding="utf-8")
    (stale,) = re.findall(r"const STALE = ([\d *]+);", script)
    assert math.prod(int(factor) for factor in stale.split("*")) == STALE_AFTER.total_seconds()
