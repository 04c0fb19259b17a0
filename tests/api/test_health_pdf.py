"""The printable health certificate, e-sealed: ``POST /health/v1/certificates`` with
``"pdf": true`` and ``natid health issue --pdf`` (api/health_pdf.py).

poppler's ``pdfsig`` must find the Ministry of Health's seal on the PDF and call it valid, and
the QR code printed on it must scan back to the credential. The router is mounted in a fixture
until the lead wires it; the CLI sub-app is invoked directly.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.app import create_app
from api.cli.health import app as health_app
from api.cli.main import app as main_app
from api.context import AppContext, build_context
from api.routers import health_certs
from ca.hierarchy import Hierarchy, create_hierarchy
from ca.urls import PkiUrls
from core.clock import FixedClock
from core.operators import OperatorService
from core.settings import load_settings
from hsm_adapters import SoftKeyBackend
from tests._env import unset_natid_settings
from tests.conftest import require_command
from tests.vaccine_cert._health import VACCINATION
from vaccine_cert import pdf as pdf_module
from vaccine_cert import read_qr_texts
from vaccine_cert.models import HealthCertificateRow

pytestmark = pytest.mark.slow

PASSPHRASE = "health pdf test passphrase"
NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
MOH = {"register_no": "DEMO-MIN-MOH", "name_km": "ក្រសួងសុខាភិបាល",
       "name_en": "Ministry of Health", "kind": "ministry"}  # fmt: skip


def _pdfsig(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "sealed.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        [require_command("pdfsig"), str(path)], capture_output=True, text=True, check=False
    )
    return done.stdout + done.stderr


def _page_png(pdf: bytes, tmp_path: Path) -> bytes:
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        [require_command("pdftoppm"), "-r", "150", "-png", "-singlefile", str(path),
         str(tmp_path / "page")],
        check=True, capture_output=True,
    )  # fmt: skip
    return (tmp_path / "page.png").read_bytes()


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Hierarchy]:
    path = tmp_path_factory.mktemp("health-pdf-keys")
    backend = SoftKeyBackend(path, PASSPHRASE)
    try:
        return path, create_hierarchy(backend, urls=PkiUrls("http://localhost:8000"), at=NOW)
    finally:
        backend.close()


@pytest.fixture
def ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, key_dir: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    settings = load_settings(
        data_dir=tmp_path / "var", database_url=db_url, soft_key_dir=key_dir[0],
        soft_key_passphrase=PASSPHRASE,
    )  # fmt: skip
    context = build_context(settings, clock=clock)
    context.ca().adopt_hierarchy(key_dir[1], actor="test")
    context.register.add_entity(MOH)
    try:
        yield context
    finally:
        context.close()


def test_api_returns_the_certificate_sealed_by_the_ministry(
    ctx: AppContext, tmp_path: Path
) -> None:
    holder = ctx.register.add_person(
        {"national_id": "000555333", "name_km": "ចាន់ ធីតា", "name_latin": "Chan Thida",
         "birthdate": "1985-02-03"}
    )  # fmt: skip
    service = OperatorService(ctx.sessions, ledger=ctx.ledger, clock=ctx.clock, cache=ctx.cache)
    _operator, token = service.add("pdf-issuer", roles=("health-issuer",), actor="test")
    app = create_app(ctx)
    app.include_router(health_certs.router)
    body = {"subject": holder.id, "kind": "vaccination", "record": VACCINATION, "pdf": True}
    with TestClient(app) as client:
        response = client.post(
            "/health/v1/certificates", json=body,
            headers={"Authorization": f"Bearer {token.token}"},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        issued = response.json()
        plain = client.post(
            "/health/v1/certificates", json={**body, "pdf": False},
            headers={"Authorization": f"Bearer {token.token}"},
        ).json()  # fmt: skip
    assert plain["pdf"] is None
    pdf = base64.b64decode(issued["pdf"])
    report = _pdfsig(pdf, tmp_path)
    assert "Signature #1" in report
    assert "Ministry of Health" in report  # the seal's signer: the health authority
    assert "Signature is Valid" in report
    assert "ETSI.CAdES.detached" in report  # PAdES
    assert read_qr_texts(_page_png(pdf, tmp_path)) == (issued["payload"],)


def test_api_issues_nothing_when_the_seal_cannot_be_made(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = ctx.register.add_person(
        {"national_id": "000555444", "name_km": "សុខ ដារ៉ា", "name_latin": "Sok Dara",
         "birthdate": "1990-05-17"}
    )  # fmt: skip
    monkeypatch.setattr(pdf_module, "_KHMER_CANDIDATES", ("/nonexistent/KhmerOS.ttf",))
    service = OperatorService(ctx.sessions, ledger=ctx.ledger, clock=ctx.clock, cache=ctx.cache)
    _operator, token = service.add("pdf-issuer-2", roles=("health-issuer",), actor="test")
    app = create_app(ctx)
    app.include_router(health_certs.router)
    body = {"subject": holder.id, "kind": "vaccination", "record": VACCINATION, "pdf": True}
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/health/v1/certificates", json=body,
            headers={"Authorization": f"Bearer {token.token}"},
        )  # fmt: skip
    assert response.status_code == 503
    assert response.json()["code"] == "certificate_font_missing"
    assert "fonts-khmeros" in response.json()["detail"]
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(HealthCertificateRow)) == 0


def test_cli_issue_writes_the_sealed_pdf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unset_natid_settings(monkeypatch, keep_test_databases=True)
    runner = CliRunner()
    data = tmp_path / "var"
    result = runner.invoke(main_app, ["init", "--no-demo", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    context = build_context(load_settings(data_dir=data))
    try:
        context.register.add_entity(MOH)
        holder = context.register.add_person(
            {"national_id": "000777002", "name_km": "កែវ សុភា", "name_latin": "Keo Sophea",
             "birthdate": "1979-12-30"}
        )  # fmt: skip
    finally:
        context.close()
    record = tmp_path / "dose.json"
    record.write_text(json.dumps(VACCINATION))
    out = tmp_path / "certificate.pdf"
    result = runner.invoke(
        health_app,
        ["issue", "-s", holder.id, "-k", "vaccination", "--json", str(record),
         "--pdf", str(out), "--data-dir", str(data)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = result.stdout.strip()
    assert payload.startswith("HC1:")
    report = _pdfsig(out.read_bytes(), tmp_path)
    assert "Signature is Valid" in report
    assert read_qr_texts(_page_png(out.read_bytes(), tmp_path)) == (payload,)
