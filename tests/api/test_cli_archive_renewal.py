"""``natid ca tsa-renew`` and ``natid sign renew-archive`` on a real data directory whose
hierarchy was made five and a half years ago (its time-stamping certificate has half a year
left), as an operator and an archivist would run them: a B-LTA document cannot be renewed by
the time-stamping certificate that made its last time-stamp; once that certificate is renewed,
it can, and the renewed file validates with a second document time-stamp by the new one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.context import build_context
from ca.profiles import ProfileName
from core.settings import load_settings
from tests._env import without_natid_settings
from tests.api._aged import hierarchy_made_long_ago
from tests.signing._pdf import make_pdf

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings():
        yield


def natid(*args: str, data: Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data)])
    return result.exit_code, result.stdout, result.stderr


def _servant_with_signing_key(data: Path) -> str:
    ctx = build_context(load_settings(data_dir=data))
    try:
        register = ctx.register
        person = register.add_person(
            {"national_id": "412000001", "name_km": "សុខ ដារ៉ា", "name_latin": "Sok Dara",
             "birthdate": "1990-04-17"}
        )  # fmt: skip
        register.record_proofing(
            person.id, method="in_person", level="high", evidence="national_id_card",
            office="Phnom Penh",
        )  # fmt: skip
        ministry = register.add_entity(
            {"register_no": "MIN-412", "name_km": "ក្រសួងសុខាភិបាល", "name_en": "Ministry of Health",
             "kind": "ministry"}
        )  # fmt: skip
        servant = register.add_servant(
            {"person_id": person.id, "ministry_id": ministry.id, "unit": "Archives",
             "title": "Archivist"}
        )  # fmt: skip
        ctx.ca().issue_with_server_key(ProfileName.GOV_SIGN, servant.id, actor="test")
        return str(servant.id)
    finally:
        ctx.close()


def test_an_archive_is_renewed_once_the_time_stamping_unit_was(tmp_path: Path) -> None:
    data = tmp_path / "var"
    hierarchy_made_long_ago(data)
    code, _out, err = natid("ca", "ocsp-renew", data=data)  # as `natid serve` does at start
    assert code == 0, err
    servant = _servant_with_signing_key(data)
    src, signed, renewed = tmp_path / "memo.pdf", tmp_path / "signed.pdf", tmp_path / "kept.pdf"
    src.write_bytes(make_pdf())
    code, _out, err = natid(
        "sign", "pdf", "--in", str(src), "--out", str(signed), "--signer", servant,
        "--level", "B-LTA", data=data,
    )  # fmt: skip
    assert code == 0, err

    # The time-stamping certificate that made its last time-stamp cannot extend it.
    renew_archive = ("sign", "renew-archive", "--in", str(signed), "--out", str(renewed))
    code, _out, err = natid(*renew_archive, data=data)
    assert code == 1 and "renew it first with `natid ca tsa-renew`" in err
    assert not renewed.exists()

    code, out, err = natid("ca", "tsa-renew", "--within", "100", data=data)
    assert code == 0, err
    assert "nothing to renew" in out  # half a year left, more than 100 days
    code, out, err = natid("ca", "tsa-renew", "--json", data=data)  # within 365 days
    assert code == 0, err
    tsa = json.loads(out)
    assert tsa["serial"] != tsa["renewed_from"] and tsa["key_label"].startswith("tsa-")
    assert dt.datetime.fromisoformat(tsa["not_after"]) > dt.datetime.now(dt.UTC) + dt.timedelta(
        days=4 * 365
    )

    code, out, err = natid(*renew_archive, data=data)
    assert code == 0, err
    assert "renewed" in out

    code, out, err = natid("sign", "validate", str(renewed), "--json", data=data)
    assert code == 0, out + err
    report = json.loads(out)
    assert report["ok"] is True
    assert [s["kind"] for s in report["signatures"]] == [
        "signature",
        "document-timestamp",
        "document-timestamp",
    ]
    assert report["signatures"][0]["pades_level"] == "B-LTA"
    assert report["signatures"][2]["signer_serial"] == tsa["serial"]
