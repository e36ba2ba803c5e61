"""CPU cost of bearer-token verification (``auth=jwt``), measured side by side, in-process.

Run with a generated ``auth=jwt`` project's interpreter, from that project's
directory (it uses the project's own loopback issuer, ``tests/issuer.py``)::

    cd path/to/project
    BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python path/to/template/bench/auth_cost.py

1. Verification alone: ``Authentication.verify`` (header, key lookup, PyJWT's
   checks) on distinct tokens, RS256 (2048-bit) and ES256; beside it PyJWT's
   ``jwt.decode`` on the same tokens with the key given, the library's share.
2. Per request: the same app (``create_app``) serving ``GET /api/probe``, which
   touches no database, through httpx's ASGI transport, once with the route
   behind ``api.DEPENDENCIES`` (a token verified) and once without; the
   difference is what a token costs a request.

CPU time is ``time.process_time`` over the whole loop, divided by the calls,
after a warm-up; each figure is the median of 5 repetitions.
"""

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from httpx import ASGITransport, AsyncClient

sys.path.insert(0, str(Path.cwd()))
PACKAGE = os.environ.get("BENCH_PACKAGE", "orders_service")
URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
CALLS, REQUESTS, REPEATS = 2_000, 2_000, 5

api: Any = __import__(f"{PACKAGE}.api", fromlist=["api"])
config: Any = __import__(f"{PACKAGE}.config", fromlist=["config"])
main: Any = __import__(f"{PACKAGE}.main", fromlist=["main"])
tokens_module: Any = __import__(f"{PACKAGE}.auth.tokens", fromlist=["tokens"])
issuer_module: Any = __import__("tests.issuer", fromlist=["issuer"])


async def cpu_per_call(calls: int, call: Callable[[int], Awaitable[object]]) -> float:
    """Median CPU microseconds per call over ``REPEATS`` loops of ``calls``."""
    for n in range(200):
        await call(n)
    results = []
    for _ in range(REPEATS):
        started = time.process_time()
        for n in range(calls):
            await call(n)
        results.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(results)


def probe_router() -> APIRouter:
    router = APIRouter()

    @router.get("/probe")
    async def probe() -> dict[str, str]:
        return {"ok": "yes"}

    return router


async def per_request(settings: Any, *, verified: bool, headers: dict[str, str]) -> float:
    app = main.create_app(settings)
    dependencies = api.DEPENDENCIES if verified else []
    app.include_router(probe_router(), prefix=api.PREFIX, dependencies=dependencies)
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://bench") as client,
    ):

        async def call(_: int) -> None:
            response = await client.get("/api/probe", headers=headers)
            assert response.status_code == 200, response.text

        return await cpu_per_call(REQUESTS, call)


async def measure() -> None:
    issuer = issuer_module.Issuer({"tenant": "bench"})
    settings = config.Settings(
        database_url=URL,
        environment="test",
        log_level="WARNING",
        tenants=["bench"],
        **issuer.settings(),
    )
    try:
        async with tokens_module.Authentication(settings) as authentication:
            for name, kid in (("RS256", issuer.kid), ("ES256", issuer.ec_kid)):
                minted = [issuer.token(kid=kid, sub=f"user-{n}") for n in range(CALLS)]
                key = await authentication.keys.get(kid, name)

                async def verify(n: int, minted: list[str] = minted) -> object:
                    return await authentication.verify(minted[n % CALLS])

                async def decode(
                    n: int, minted: list[str] = minted, key: Any = key, alg: str = name
                ) -> object:
                    audience = issuer_module.AUDIENCE
                    return jwt.decode(minted[n % CALLS], key, algorithms=[alg], audience=audience)

                full = await cpu_per_call(CALLS, verify)
                library = await cpu_per_call(CALLS, decode)
                print(f"{name}: verify {full:.1f} us CPU per token; PyJWT decode {library:.1f} us")
        token = issuer.bearer(exp=int(time.time()) + 3600)
        without = await per_request(settings, verified=False, headers=token)
        with_token = await per_request(settings, verified=True, headers=token)
        print(
            f"per request (GET, no database, RS256): {without:.0f} us CPU without the token check,"
            f" {with_token:.0f} us with it: +{with_token - without:.0f} us"
            f" ({(with_token / without - 1) * 100:.0f} %)"
        )
    finally:
        issuer.close()


if __name__ == "__main__":
    asyncio.run(measure())
