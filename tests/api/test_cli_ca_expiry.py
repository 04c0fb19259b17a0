"""``natid ca expiry`` and ``natid serve``'s start-up warnings on a real data directory whose
hierarchy was made five and a half years ago, as an operator (or a monitoring check run from
cron) would see them: the responders that ended and the time-stamping unit with half a year
left need attention (exit 1, one line each naming what to do); once renewed, nothing does
(exit 0). ``natid serve`` renews the responders itself and warns about the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from tests._env import without_natid_settings
from tests.api._aged import hierarchy_made_long_ago

runner = CliRunner()
CAS = ["citizen", "entity", "government", "health"]


@pytest.fixture(autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings():
        yield


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "var"
    hierarchy_made_long_ago(data)
    return data


def natid(*args: str, data: Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data)])
    return result.exit_code, result.stdout, result.stderr


def test_expiry_names_what_needs_an_operator_until_it_is_renewed(data: Path) -> None:
    code, out, err = natid("ca", "expiry", "--json", data=data)
    assert code == 1, err
    items = json.loads(out)
    assert [(i["role"], i["ca"]) for i in items] == [
        ("root-ca", "root"),
        *(("issuing-ca", ca) for ca in CAS),
        *(("ocsp-responder", ca) for ca in CAS),
        ("tsa", "government"),
    ]
    attention = {(i["role"], i["ca"]): i["days_left"] for i in items if i["attention"]}
    assert attention.keys() == {("ocsp-responder", ca) for ca in CAS} | {("tsa", "government")}
    assert all(days < -1800 for (role, _ca), days in attention.items() if role != "tsa")
    assert 175 <= attention[("tsa", "government")] <= 185

    code, out, err = natid("ca", "expiry", data=data)
    assert code == 1, err
    lines = out.splitlines()
    assert len(lines) == 10 + 5
    notes = [line for line in lines if line.startswith("attention: ")]
    assert len(notes) == 5
    assert sum("ended" in n and "`natid ca ocsp-renew`" in n for n in notes) == 4
    (tsa,) = [n for n in notes if n.startswith("attention: tsa certificate of the government CA")]
    assert "ends in 1" in tsa and "renew it with `natid ca tsa-renew`" in tsa

    assert natid("ca", "ocsp-renew", data=data)[0] == 0
    assert natid("ca", "tsa-renew", data=data)[0] == 0
    code, out, err = natid("ca", "expiry", data=data)
    assert code == 0, out + err
    assert out.splitlines()[-1] == "nothing needs renewing by an operator now"


def test_serve_renews_the_responders_and_warns_about_the_time_stamping_unit(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **_kw: started.append(target))
    code, _out, err = natid("serve", data=data)
    assert code == 0, err
    assert started == ["api.app:create_app_from_env"]
    for ca in CAS:
        assert f"OCSP responder of {ca} renewed" in err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: tsa certificate of the government CA (")
    assert "`natid ca tsa-renew`" in warnings[0]
