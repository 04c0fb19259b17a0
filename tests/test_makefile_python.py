"""The interpreter `make install` builds `.venv` on (docs/decisions.md, "Runtime"): the
distribution's optimised CPython 3.11 where the machine has one, the caller's choice with
``PYTHON=``, and uv's own choice otherwise. Read from ``make -n`` (nothing is run or installed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DISTRIBUTION_PYTHON = Path("/usr/bin/python3.11")


def _make(*args: str) -> str:
    """What ``make *args`` prints in the repository, with no ``PYTHON`` from the environment
    (``PYTHON ?=`` would take it, and these tests read the Makefile's own choice)."""
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    return subprocess.run(
        [make, "--no-print-directory", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _sync_command(*assignments: str) -> str:
    """The `uv sync` line `make` would run to (re)build the venv."""
    printed = _make("-n", "-B", ".venv/.synced", *assignments)
    lines = [line for line in printed.splitlines() if " sync --frozen" in line]
    assert len(lines) == 1, printed
    return lines[0]


def test_the_venv_is_built_on_the_distributions_python_where_there_is_one() -> None:
    command = _sync_command()
    if DISTRIBUTION_PYTHON.exists():
        assert command.rstrip().endswith(f"--python {DISTRIBUTION_PYTHON}")
    else:
        assert "--python" not in command


def test_python_picks_another_interpreter() -> None:
    command = _sync_command("PYTHON=/opt/python/bin/python3.12")
    assert command.rstrip().endswith("--python /opt/python/bin/python3.12")


def test_an_empty_python_leaves_the_choice_to_uv() -> None:
    assert "--python" not in _sync_command("PYTHON=")


def test_a_changed_makefile_rebuilds_the_venv() -> None:
    # The venv's stamp depends on the Makefile, so a checkout whose venv was built on another
    # interpreter moves to the one chosen here on its next `make install`.
    database = _make("-p", "-n", "help")
    rule = next(line for line in database.splitlines() if line.startswith(".venv/.synced:"))
    assert "Makefile" in rule.split(":", 1)[1].split()
