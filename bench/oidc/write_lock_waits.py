"""Who writes to SQLite during logins, and how long the login's write transactions wait.

    PYTHONPATH=. .venv/bin/python bench/oidc/write_lock_waits.py [N]

Runs profile_natid_login.py's harness with N (default 1,500): the `natid serve` application on
one event loop, its background threads running as in the server, driven through 30 + 2 x N
complete logins (the second N under cProfile, which slows them). Prints:

* every write statement (BEGIN, INSERT, UPDATE, DELETE, COMMIT) counted by the thread that ran
  it, from an SQLite trace callback on every connection the engine opens;
* how long each ``BEGIN IMMEDIATE`` of a write transaction took, by percentile, and how many
  took more than 0.9 ms: SQLite's busy handler sleeps 1 ms when another connection holds the
  write lock, and in `natid serve` the login's transactions run on the event loop.

docs/benchmarks.md, "Twenty-second round": the audit ledger's flusher thread (core/audit.py,
"Soon") wrote ~20 transactions a second of its own under load, and the event loop's
transactions that met one slept in the busy handler.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import profile_natid_login as harness  # the in-process login harness

import core.write_tx as write_tx

WRITES = ("BEGIN", "INSERT", "UPDATE", "DELETE", "COMMIT", "ROLLBACK")


def main(n: int) -> None:
    statements: collections.Counter[tuple[str, str]] = collections.Counter()
    begins: list[float] = []

    @event.listens_for(Engine, "connect")
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        def traced(sql: str) -> None:
            words = sql.split(None, 1)
            if words and words[0].upper() in WRITES:
                statements[(threading.current_thread().name, words[0].upper())] += 1

        dbapi_connection.set_trace_callback(traced)

    begin = write_tx.CursorTx._begin

    def timed_begin(self: write_tx.CursorTx) -> None:
        t0 = time.perf_counter()
        begin(self)
        begins.append(time.perf_counter() - t0)

    write_tx.CursorTx._begin = timed_begin  # type: ignore[method-assign]
    harness._patch()
    asyncio.run(harness.main(n, None))
    print(f"write statements during {30 + 2 * n} logins and the set-up, by thread:")
    for (thread, verb), count in sorted(statements.items()):
        print(f"  {thread:24} {verb:10} {count:7}")
    begins.sort()
    count = len(begins)
    marks = ", ".join(
        f"p{q} {begins[min(count - 1, count * q // 100)] * 1e6:.0f}" for q in (50, 90, 95, 99)
    )
    slept = sum(1 for b in begins if b > 0.0009)
    print(f"BEGIN IMMEDIATE of write transactions: {count}; µs {marks}; over 0.9 ms: {slept}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 1500)
