"""Password logins per second on one core: NatID's first login step against raw Argon2id.

    PYTHONPATH=. python bench/bench_argon2.py [--seconds S] [--rounds R] [--quick]

Issue 4, "Benchmarks": "Password logins per second per core with Argon2id at the chosen
parameters (document them)."

* NatID: ``AccountService.authenticate_password`` - the whole first step of a login as the
  /login route calls it: throttle check, the ID card number looked up in the register, the
  account and its password authenticator read, Argon2id verification, the account's
  ``last_login_at`` and the authenticator's ``last_used_at`` written, the ``idp.login.succeeded``
  audit entry appended, the throttle counter reset. SQLite (WAL) in a fresh data directory, the
  context ``natid serve`` builds (``api.context.build_context``), in-process cache.
* Baseline: ``argon2.PasswordHasher.verify`` of the same password against a hash made with the
  same parameters (``idp.passwords.DEFAULT_PARAMETERS``), nothing else.

One thread, this process pinned to one CPU (the last one it may use), rounds alternating
between the two; the rate is successful logins per wall-clock second and per CPU second of
this process (``time.process_time``, which other jobs on a shared machine disturb less).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher, Type

PASSWORD = "river mango lantern bench"
NATIONAL_ID = "700000001"


def measure(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Calls per wall-clock second and per CPU second of ``fn`` for ``seconds``."""
    count = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    until = wall0 + seconds
    while time.perf_counter() < until:
        fn()
        count += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return count / wall, count / cpu if cpu > 0 else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = 1, 1

    from api.context import build_context
    from core.settings import load_settings
    from idp.passwords import DEFAULT_PARAMETERS

    cpu = sorted(os.sched_getaffinity(0))[-1]
    os.sched_setaffinity(0, {cpu})
    params = DEFAULT_PARAMETERS
    hasher = PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )
    raw_hash = hasher.hash(PASSWORD)

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp) / "var", public_base_url="http://127.0.0.1:1")
        ctx = build_context(settings)
        try:
            person = ctx.register.add_person(
                {"national_id": NATIONAL_ID, "name_km": "សុខ ដារា", "name_latin": "Sok Dara",
                 "birthdate": "1990-04-17", "sex": "F"},
                actor="bench",
            )  # fmt: skip
            accounts = ctx.idp_accounts()
            account = accounts.create(person.id, actor="bench")
            accounts.set_password(account.id, PASSWORD, actor="bench", activate=True)

            def natid() -> object:
                return accounts.authenticate_password(
                    NATIONAL_ID, PASSWORD, source="192.0.2.10", at=ctx.clock.now()
                )

            def raw() -> object:
                return hasher.verify(raw_hash, PASSWORD)

            natid()  # warm: the dummy hash, statement caches
            raw()
            results: dict[str, list[tuple[float, float]]] = {"raw": [], "natid": []}
            for _ in range(args.rounds):
                results["raw"].append(measure(raw, args.seconds))
                results["natid"].append(measure(natid, args.seconds))
            stored = accounts.authenticators(account.id)
        finally:
            ctx.close()

    print(
        f"Argon2id parameters (idp/passwords.py DEFAULT_PARAMETERS): time_cost (t) "
        f"{params.time_cost}, memory {params.memory_kib} KiB ({params.memory_kib // 1024} MiB), "
        f"parallelism (lanes) {params.parallelism}, hash 32 bytes, salt 16 bytes; "
        f"argon2-cffi, PHC hash `{raw_hash.rsplit('$', 2)[0]}$...`. One thread pinned to CPU "
        f"{cpu}; {args.rounds} rounds of {args.seconds:g} s each, alternating; "
        f"{len(stored)} authenticator(s) on the account.\n"
    )
    print("| login step | logins/s (wall) | logins per CPU second | ms each (CPU) | / raw verify |")
    print("|---|---:|---:|---:|---:|")
    raw_wall = statistics.median(r[0] for r in results["raw"])
    raw_cpu = statistics.median(r[1] for r in results["raw"])
    for key, label in (
        ("raw", "raw argon2-cffi `PasswordHasher.verify` (baseline)"),
        ("natid", "NatID `AccountService.authenticate_password` (throttle, register, audit)"),
    ):
        wall = statistics.median(r[0] for r in results[key])
        per_cpu = statistics.median(r[1] for r in results[key])
        print(
            f"| {label} | {wall:.1f} | {per_cpu:.1f} | {1000 / per_cpu:.1f} "
            f"| {per_cpu / raw_cpu:.2f} |"
        )
    print(
        f"\nRounds (wall logins/s): raw {', '.join(f'{r[0]:.1f}' for r in results['raw'])}; "
        f"NatID {', '.join(f'{r[0]:.1f}' for r in results['natid'])}. "
        f"Median wall-clock ratio NatID / raw: "
        f"{statistics.median(r[0] for r in results['natid']) / raw_wall:.2f}."
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
