"""``/signing/v1/seal-batches``: what a CA operator sealing a legal entity's documents over
HTTP sees: the sealed files (valid for NatID's validator and poppler's pdfsig), each failure
reported, progress that only moves forward, the limits, and who may see a batch."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.context import AppContext
from tests.api._ra import bearer
from tests.api.signing_batch.conftest import Sealers
from tests.api.signing_workflows._checks import pdfsig_report
from tests.signing._pdf import make_pdf

URL = "/signing/v1/seal-batches"
PDF = "application/pdf"
BROKEN = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << >>\n%%EOF\n"


def _files(named: dict[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, PDF)) for name, data in named.items()]


def _post(http: TestClient, token: str, files: dict[str, bytes], **fields: str) -> httpx.Response:
    data = {"level": "B-T", **fields}
    response: httpx.Response = http.post(URL, files=_files(files), data=data, headers=bearer(token))
    return response


def _five(broken_at: int = 2) -> dict[str, bytes]:
    named = {f"licence-{n}.pdf": make_pdf(text=f"Licence {n}") for n in range(1, 6)}
    named[f"licence-{broken_at}.pdf"] = BROKEN
    return named


def _batch_dirs(ctx: AppContext) -> list[Path]:
    root = ctx.settings.data_dir / "seal-batches"
    return sorted(root.iterdir()) if root.exists() else []


def _ledger_events(ctx: AppContext, prefix: str) -> list[Any]:
    return [e for e in ctx.ledger.tail(500) if e.event.startswith(prefix)]


def test_five_pdfs_one_broken_four_sealed_and_valid_one_reported(
    http: TestClient, ctx: AppContext, sealers: Sealers, tmp_path: Path
) -> None:
    created = _post(http, sealers.token, _five(), entity=sealers.entity_id)
    assert created.status_code == 202, created.text
    body = created.json()
    assert created.headers["Location"] == f"{URL}/{body['id']}"
    assert body["total"] == 5
    assert "owner" not in body

    status = http.get(created.headers["Location"], headers=bearer(sealers.token))
    assert status.status_code == 200
    progress = status.json()
    assert (progress["state"], progress["done"], progress["total"]) == ("finished", 5, 5)
    assert (progress["sealed"], progress["failed"]) == (4, 1)
    failed = [f for f in progress["files"] if f["state"] == "failed"]
    assert [f["name"] for f in failed] == ["licence-2.pdf"]
    assert failed[0]["code"] == "invalid_pdf"
    assert failed[0]["reason"] and "Traceback" not in failed[0]["reason"]

    result = http.get(progress["result_url"], headers=bearer(sealers.token))
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(result.content))
    names = sorted(archive.namelist())
    assert names == ["licence-1.pdf", "licence-3.pdf", "licence-4.pdf", "licence-5.pdf",
                     "report.json"]  # fmt: skip
    report = json.loads(archive.read("report.json"))
    assert [(f["name"], f["state"]) for f in report["files"]] == [
        ("licence-1.pdf", "sealed"), ("licence-2.pdf", "failed"), ("licence-3.pdf", "sealed"),
        ("licence-4.pdf", "sealed"), ("licence-5.pdf", "sealed"),
    ]  # fmt: skip
    eseal = ctx.signing().eseal_certificate(sealers.entity_id)
    for number, name in enumerate(n for n in names if n.endswith(".pdf")):
        sealed = archive.read(name)
        validation = ctx.signing().validate(sealed)
        assert validation.ok, [s.as_dict() for s in validation.signatures]
        (signature,) = validation.signatures
        assert int(signature.signer_serial, 16) == int(eseal.serial_hex, 16)
        assert signature.pades_level in {"B-T", "B-LT", "B-LTA"}
        folder = tmp_path / f"pdfsig-{number}"
        folder.mkdir()
        out = pdfsig_report(ctx, sealed, folder)
        assert out.count("Signature is Valid.") == 1, out
    # Every seal is in the ledger under the operator's id; the inputs are gone.
    seals = _ledger_events(ctx, "signing.pdf.sealed")
    assert len(seals) == 4 and {e.actor for e in seals} == {sealers.operator_id}
    assert [e.data["failed"] for e in _ledger_events(ctx, "signing.batch.finished")] == [1]
    (folder,) = _batch_dirs(ctx)
    assert sorted(p.name for p in folder.iterdir()) == ["result.zip"]


def test_progress_only_moves_forward(
    http: TestClient, ctx: AppContext, sealers: Sealers, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    original = ctx.cache.set

    def recording(key: str, value: bytes, *, ttl: float) -> None:
        if key.startswith("seal-batch:"):
            seen.append(json.loads(value))
        original(key, value, ttl=ttl)

    monkeypatch.setattr(ctx.cache, "set", recording)
    created = _post(http, sealers.token, _five(broken_at=4), entity=sealers.entity_id, level="B-B")
    assert created.status_code == 202
    done = [sum(f["state"] != "pending" for f in s["files"]) for s in seen]
    assert done[0] == 0 and done[-1] == 5
    assert done == sorted(done), done
    assert [s["state"] for s in seen] == ["running"] * (len(seen) - 1) + ["finished"]
    # A file's state changes once, from pending to its outcome, and never back.
    for index in range(5):
        states = [s["files"][index]["state"] for s in seen]
        first_final = next(i for i, state in enumerate(states) if state != "pending")
        assert set(states[first_final:]) == {states[-1]}, states
    assert seen[-1]["files"][3]["state"] == "failed"


@pytest.mark.parametrize(
    ("limits", "files", "code"),
    [
        ({"seal_batch_max_files": 3}, 4, "too_many_files"),
        ({"seal_batch_max_file_bytes": 2048}, 1, "file_too_large"),
        ({"seal_batch_max_total_bytes": 4096}, 3, "batch_too_large"),
    ],
)
def test_limits_answer_413_and_store_nothing(
    http: TestClient, ctx: AppContext, sealers: Sealers, limits: dict[str, int], files: int,
    code: str,
) -> None:  # fmt: skip
    ctx.settings = ctx.settings.model_copy(update=limits)
    big = make_pdf(pages=8, text="Licence")
    assert len(big) > 2048
    named = {f"l-{n}.pdf": big for n in range(files)}
    refused = _post(http, sealers.token, named, entity=sealers.entity_id)
    assert refused.status_code == 413, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == code
    assert _batch_dirs(ctx) == []
    assert _ledger_events(ctx, "signing.") == []


def test_whole_request_over_the_total_is_refused_before_reading(
    http: TestClient, ctx: AppContext, sealers: Sealers
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"seal_batch_max_total_bytes": 1024})
    huge = b"%PDF-1.7\n" + b"0" * (2 * 1024 * 1024)
    refused = _post(http, sealers.token, {"huge.pdf": huge}, entity=sealers.entity_id)
    assert refused.status_code == 413
    assert refused.json()["code"] == "batch_too_large"
    assert _batch_dirs(ctx) == []


@pytest.mark.parametrize(
    ("fields", "with_files", "status", "code"),
    [
        ({}, True, 422, "missing_entity"),
        ({"entity": "ENTITY"}, False, 422, "no_files"),
        ({"entity": "ENTITY", "level": "B-Z"}, True, 422, "invalid_signing_request"),
        ({"entity": "no-such-entity"}, True, 404, "no_eseal_certificate"),
    ],
)
def test_bad_requests_are_refused_clearly_and_store_nothing(
    http: TestClient, ctx: AppContext, sealers: Sealers, fields: dict[str, str],
    with_files: bool, status: int, code: str,
) -> None:  # fmt: skip
    fields = {k: sealers.entity_id if v == "ENTITY" else v for k, v in fields.items()}
    files = {"a.pdf": make_pdf()} if with_files else {}
    data = {"level": "B-T", **fields}
    refused = http.post(URL, files=_files(files) or None, data=data, headers=bearer(sealers.token))
    assert refused.status_code == status, refused.text
    assert refused.json()["code"] == code
    assert _batch_dirs(ctx) == []
    assert _ledger_events(ctx, "signing.") == []


def test_entity_without_eseal_certificate_is_not_sealed_behind_its_back(
    http: TestClient, ctx: AppContext, sealers: Sealers
) -> None:
    from tests.ca._issuance import add_entity

    bare = add_entity(ctx.register, kind="company")
    refused = _post(http, sealers.token, {"a.pdf": make_pdf()}, entity=bare.id)
    assert refused.status_code == 404
    assert "natid ca issue --profile eseal" in refused.json()["detail"]
    assert not ctx.ca().list(subject_id=bare.id)


def test_without_token_401_without_role_403(
    http: TestClient, sealers: Sealers, ctx: AppContext
) -> None:
    files = _files({"a.pdf": make_pdf()})
    anonymous = http.post(URL, files=files, data={"entity": sealers.entity_id})
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    auditor = _post(http, sealers.auditor_token, {"a.pdf": make_pdf()}, entity=sealers.entity_id)
    assert auditor.status_code == 403
    assert auditor.json()["code"] == "insufficient_role"
    assert _batch_dirs(ctx) == []


def test_another_operator_cannot_see_or_download_a_batch(
    http: TestClient, sealers: Sealers
) -> None:
    created = _post(http, sealers.token, {"a.pdf": make_pdf()}, entity=sealers.entity_id)
    batch_url = created.headers["Location"]
    for url in (batch_url, f"{batch_url}/result.zip"):
        assert http.get(url, headers=bearer(sealers.token)).status_code == 200
        other = http.get(url, headers=bearer(sealers.other_token))
        assert other.status_code == 404, url
        assert other.json()["code"] == "seal_batch_not_found"
        assert http.get(url, headers=bearer(sealers.auditor_token)).status_code == 403
        assert http.get(url).status_code == 401
    unknown = http.get(f"{URL}/AAAAAAAAAAAAAAAAAAAAAA", headers=bearer(sealers.token))
    assert unknown.status_code == 404


def test_hostile_file_names_stay_inside_the_archive(http: TestClient, sealers: Sealers) -> None:
    named = {"../../etc/passwd.pdf": make_pdf(text="A"), "report.json": make_pdf(text="B"),
             "a.pdf": make_pdf(text="C"), "A.PDF": make_pdf(text="D")}  # fmt: skip
    created = _post(http, sealers.token, named, entity=sealers.entity_id, level="B-B")
    result = http.get(f"{created.headers['Location']}/result.zip", headers=bearer(sealers.token))
    names = zipfile.ZipFile(io.BytesIO(result.content)).namelist()
    assert sorted(names) == ["A-2.PDF", "a.pdf", "passwd.pdf", "report-2.json", "report.json"]
