"""Run every benchmark in bench/ (``make bench``) and collect their Markdown reports.

Each ``bench_*.py`` is a standalone script that measures NatID against a baseline in the same
run and prints a Markdown section with ratios. This runner executes them one after another
(never in parallel: they would measure each other), saves each report under ``bench/results/``
and prints them all. Pass names to run a subset: ``python bench/run_all.py signing audit``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    header = (
        f"# NatID benchmarks, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
    )
    print(header)
    failed = 0
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    for script in scripts:
        print(f"## {script.stem}\n", flush=True)
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, check=False
        )
        report = proc.stdout
        if proc.returncode != 0:
            failed += 1
            report += f"\n(failed with exit code {proc.returncode})\n{proc.stderr[-2000:]}\n"
        (out_dir / f"{script.stem}.md").write_text(report)
        print(report, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
