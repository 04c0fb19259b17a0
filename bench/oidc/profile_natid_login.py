"""Where one NatID complete login spends its CPU: in process, one thread, cProfile.

    PYTHONPATH=. .venv/bin/python bench/oidc/profile_natid_login.py [N] [--out FILE.prof]
        [--handshake DIR]

With ``--handshake DIR`` it runs N logins between files in DIR instead of profiling, for an
exact instruction count under callgrind: bench/oidc/callgrind_login.sh.

The companion of bench/bench_oidc.py (docs/benchmarks.md, "Where NatID's time goes"). The
FastAPI application of ``natid serve`` (the data-directory set-up of bench_oidc.py: SQLite, one
client, one account with an existing session and consent) is driven through ASGI by
``httpx.AsyncClient`` on one event loop. Sync endpoints normally hop to anyio's thread pool;
here ``run_in_threadpool`` is replaced by a direct call so cProfile sees every frame in one
thread (the hop itself is therefore not in these figures, nor is HTTP parsing). Prints the CPU
per login, the wall-time split between the endpoints, the SQL statements and transactions per
login (per endpoint and the most frequent ones) and the top NatID functions by cumulative time.
The statements are counted by SQLAlchemy's ``before_cursor_execute`` event, which the
statements on the DBAPI cursor (core/write_tx.py: the audit ledger's appends, the code
exchange's grant and refresh-token rows) and the held-connection reads (core/held_read.py) do
not raise: they are not in the count, which on the login path is now close to zero.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import fastapi.dependencies.utils as fastapi_deps
import fastapi.routing as fastapi_routing
import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_oidc as bench  # the benchmark's set-up and login helpers

BASE = "http://testserver"


async def _inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _patch() -> None:
    # httpx's ASGITransport tries `import sniffio` on every request (a failed import scans
    # sys.path): a harness cost, not NatID's, so it is made to fail at once.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
    setattr(fastapi_routing, "run_in_threadpool", _inline)  # noqa: B010 - not exported
    setattr(fastapi_deps, "run_in_threadpool", _inline)  # noqa: B010 - not exported
    # /authorize hops explicitly (its handler is async to read the form first).
    import api.routers.oidc_authorize as oidc_authorize

    setattr(oidc_authorize, "run_in_threadpool", _inline)  # noqa: B010 - module global


async def main(n: int, out: str | None, handshake: Path | None = None) -> None:
    from api.app import create_app
    from api.context import build_context
    from core.settings import load_settings

    data = Path(tempfile.mkdtemp()) / "var"
    client_id, secret, users = bench.make_natid(data, BASE, 1)
    ctx = build_context(load_settings(data_dir=data, public_base_url=BASE))
    app = create_app(ctx)
    statements: collections.Counter[str] = collections.Counter()
    per_endpoint: collections.Counter[str] = collections.Counter()
    current = ["set-up"]

    @event.listens_for(ctx.engine, "before_cursor_execute")
    def _count(*args: Any) -> None:
        statement = str(args[2])
        statements[" ".join(statement.split())[:100]] += 1
        per_endpoint[current[0] + (" BEGIN" if statement.startswith("BEGIN") else "")] += 1

    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    wall: collections.Counter[str] = collections.Counter()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        params, _verifier = bench.authorize_query(client_id)
        response = await client.get("/authorize?" + urlencode(params))
        for _ in range(20):  # the login and consent pages, once
            location = response.headers.get("location", "")
            if not response.is_redirect:
                method, action, form = bench.fill(response.text, *users[0])
                response = await client.request(
                    method, action or str(response.url), data=bench.dict_multi(form)
                )
            elif location.startswith(bench.REDIRECT_URI):
                break
            else:
                response = await client.get(location)

        async def one() -> None:
            params, verifier = bench.authorize_query(client_id)
            t0 = time.perf_counter()
            current[0] = "authorize"
            r = await client.get("/authorize?" + urlencode(params))
            t1 = time.perf_counter()
            code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
            current[0] = "token"
            form = {"grant_type": "authorization_code", "code": code,
                    "redirect_uri": bench.REDIRECT_URI, "code_verifier": verifier}  # fmt: skip
            t = await client.post("/token", headers={"Authorization": basic}, data=form)
            t2 = time.perf_counter()
            assert t.status_code == 200, t.text
            current[0] = "userinfo"
            bearer = {"Authorization": "Bearer " + t.json()["access_token"]}
            u = await client.get("/userinfo", headers=bearer)
            t3 = time.perf_counter()
            assert u.status_code == 200, u.text
            wall.update({"authorize": t1 - t0, "token": t2 - t1, "userinfo": t3 - t2})

        for _ in range(30):
            await one()
        if handshake is not None:
            # For `valgrind --tool=callgrind --instr-atstart=no`: instrumentation is switched on
            # (callgrind_control -i on) between "ready" and "go", off after "done".
            (handshake / "ready").touch()
            while not (handshake / "go").exists():
                await asyncio.sleep(0.05)
            for _ in range(n):
                await one()
            (handshake / "done").touch()
            while not (handshake / "end").exists():
                await asyncio.sleep(0.05)
            ctx.close()
            return
        statements.clear()
        per_endpoint.clear()
        wall.clear()
        chunks: list[float] = []  # CPU per login of each run of 20: other jobs inflate some
        cpu0 = time.process_time()
        for done in range(n):
            if done % 20 == 0:
                chunk0 = time.process_time()
            await one()
            if done % 20 == 19:
                chunks.append((time.process_time() - chunk0) / 20)
        cpu = time.process_time() - cpu0
        total = sum(wall.values())
        chunks.sort()
        print(
            f"CPU ms per login (in process, no thread hop, no HTTP parsing): {cpu / n * 1000:.2f}; "
            f"runs of 20: min {chunks[0] * 1000:.2f}, "
            f"median {chunks[len(chunks) // 2] * 1000:.2f}; "
            "wall ms per endpoint: "
            + ", ".join(f"{k} {v / n * 1000:.2f} ({v / total:.0%})" for k, v in wall.items())
        )
        begins = sum(v for k, v in statements.items() if k.startswith("BEGIN"))
        print(
            f"SQL statements per login: {sum(statements.values()) / n:.1f}, of which "
            f"transactions (BEGIN) {begins / n:.1f}"
        )
        print(
            "  per endpoint: "
            + ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(per_endpoint.items()))
        )
        for statement, count in statements.most_common(25):
            print(f"  {count / n:5.2f}  {statement}")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(n):
            await one()
        profile.disable()
        if out:
            profile.dump_stats(out)
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(r"/(api|idp|core|registry|hsm_adapters)/", 40)
        stats.sort_stats("tottime").print_stats(25)
    ctx.close()


if __name__ == "__main__":
    _patch()
    argv = sys.argv[1:]
    count = int(argv[0]) if argv and argv[0].isdigit() else 300
    target = argv[argv.index("--out") + 1] if "--out" in argv else None
    shake = Path(argv[argv.index("--handshake") + 1]) if "--handshake" in argv else None
    asyncio.run(main(count, target, shake))
