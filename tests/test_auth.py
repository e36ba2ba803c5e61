"""Bearer tokens on a served variant, against an issuer on loopback (``auth=jwt``).

The tenant variant with the example API is served by ``fastapi run`` on a fresh
database migrated for tenants ``acme`` and ``globex``; an issuer in this process
serves discovery and a JWKS over HTTP and signs tokens with RSA and EC keys it
made (the generated projects' own ``tests/issuer.py``).

- A valid token is served; every bad token gets 401 ``invalid_token``, never a 500.
- A token for ``acme`` never reads ``globex``'s rows, whatever ``X-Tenant`` says.
- Made-up key ids cost the issuer at most one fetch per refresh interval; a key
  the issuer rotates in is accepted without a restart.
- No token appears in the log; the access lines carry the caller's ``sub``.
- An issuer that hangs at start-up delays the start by the fetch deadline
  only; readiness says why; once the issuer answers, the app serves tokens.
"""

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.faults.issuer import AUDIENCE, Issuer, app_settings, bad_tokens, running_issuer
from tests.faults.service import InstalledVariant, RunningApp, migrated_database
from tests.test_boot import BOOTED_VARIANTS
from tests.tools import TLS

pytestmark = pytest.mark.reliability

TOKEN_VARIANT = next(
    v
    for v in BOOTED_VARIANTS
    if v["auth"] == "jwt"
    and v["tenancy"] == "schema-per-tenant"
    and v["include_example_api"] == "y"
)
TENANTS = "acme,globex"
REFRESH_INTERVAL = 1.0
FLOOD = 150


@pytest.fixture(scope="module")
def variant(install_variant) -> InstalledVariant:
    return install_variant(TOKEN_VARIANT)


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def bad_tokens_are_refused(
    client: httpx.Client, issuer: Issuer, sent: list[str]
) -> dict[str, str]:
    """Each bad token's answer, as ``status WWW-Authenticate``; all must be the same 401."""
    answers = {}
    missing = client.get("/api/items")
    answers["no Authorization header"] = (
        f"{missing.status_code} {missing.headers.get('WWW-Authenticate')}"
    )
    assert (missing.status_code, missing.headers["WWW-Authenticate"]) == (401, "Bearer")
    for reason, token in bad_tokens(issuer).items():
        sent.append(token)
        response = client.get("/api/items", headers=bearer(token))
        answers[reason] = f"{response.status_code} {response.headers.get('WWW-Authenticate')}"
        assert response.status_code == 401, f"{reason}: {response.status_code} {response.text}"
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"', reason
    return answers


def tenant_comes_from_the_token(client: httpx.Client, issuer: Issuer) -> None:
    globex = issuer.bearer(tenant="globex")
    secret = client.post("/api/items", json={"name": "globex-secret"}, headers=globex)
    assert secret.status_code == 201, secret.text
    for header in ({}, {"X-Tenant": "globex"}, {"X-Tenant": "acme"}):
        acme = {**issuer.bearer(tenant="acme"), **header}
        assert "globex-secret" not in [
            i["name"] for i in client.get("/api/items", headers=acme).json()["items"]
        ]
        by_id = client.get(f"/api/items/{secret.json()['id']}", headers=acme)  # ids are per tenant
        assert by_id.json().get("name") != "globex-secret"
    seen_by_globex = client.get("/api/items", headers={**globex, "X-Tenant": "acme"})
    assert [i["name"] for i in seen_by_globex.json()["items"]] == ["globex-secret"]


def flood_of_unknown_kids(app: RunningApp, issuer: Issuer) -> tuple[int, float]:
    """``FLOOD`` requests signed by keys the issuer never published: (fetches, seconds)."""
    forged = [issuer.token(kid=issuer.add_key(publish=False)) for _ in range(3)]
    before, started = issuer.jwks_requests, time.monotonic()

    with (
        httpx.Client(base_url=app.base_url, timeout=30, verify=TLS) as client,
        ThreadPoolExecutor(max_workers=16) as pool,
    ):
        calls = [
            pool.submit(client.get, "/api/items", headers=bearer(forged[n % 3]))
            for n in range(FLOOD)
        ]
        statuses = [call.result().status_code for call in calls]
    elapsed = time.monotonic() - started
    assert set(statuses) == {401}
    fetches = issuer.jwks_requests - before
    assert fetches <= 1 + elapsed / REFRESH_INTERVAL, (fetches, elapsed)
    return fetches, elapsed


def test_tokens_on_the_served_app(variant, pg_admin_url: str, tmp_path: Path, figure) -> None:
    with (
        running_issuer({"tenant": "acme"}) as issuer,
        migrated_database(pg_admin_url, variant) as database,
    ):
        variant.run("alembic", "upgrade", "head", DATABASE_URL=database.app_url, TENANTS=TENANTS)
        settings = app_settings(issuer.url, AUTH_JWKS_REFRESH_INTERVAL=str(REFRESH_INTERVAL))
        with (
            variant.serve(
                tmp_path / "app.log",
                database.app_url,
                TENANTS=TENANTS,
                LOG_FORMAT="json",
                **settings,
            ) as app,
            httpx.Client(base_url=app.base_url, timeout=10, verify=TLS) as client,
        ):
            sent = [issuer.token(sub="alice")]
            created = client.post("/api/items", json={"name": "acme-1"}, headers=bearer(sent[0]))
            assert created.status_code == 201, created.text
            assert client.get("/api/items", headers=issuer.bearer(kid=issuer.ec_kid)).is_success
            answers = bad_tokens_are_refused(client, issuer, sent)
            tenant_comes_from_the_token(client, issuer)
            fetches, elapsed = flood_of_unknown_kids(app, issuer)
            time.sleep(REFRESH_INTERVAL)  # the rate limit lets the next unknown kid refetch
            before, rotated = issuer.jwks_requests, issuer.add_key("ES256")
            assert client.get("/api/items", headers=issuer.bearer(kid=rotated)).is_success
            assert issuer.jwks_requests == before + 1
            text = app.assert_clean_log()
    # Every signed token sent (the garbage ones, such as "a.b.c", are too short to tell).
    assert [token for token in sent if len(token) > 100 and token in text] == []
    access = [line for line in json_lines(text) if line.get("path", "").startswith("/api/items")]
    served = [line for line in access if line["status"] in (200, 201)]
    assert served
    assert all("sub" in line for line in served)
    assert next(line["sub"] for line in access if line["status"] == 201) == "alice"
    figure(f"bad tokens, each answered: {json.dumps(answers)}")
    figure(
        f"{FLOOD} requests with 3 unknown kids in {elapsed:.2f} s: {fetches} JWKS fetches"
        f" (interval {REFRESH_INTERVAL:g} s); a rotated-in key: accepted after 1 fetch, no restart"
    )


def startup_seconds(text: str) -> float:
    """From uvicorn's "Waiting for application startup" to "...startup complete"."""
    times = {
        line["message"]: datetime.fromisoformat(line["time"])
        for line in json_lines(text)
        if "application startup" in line.get("message", "").lower()
    }
    waiting, complete = (
        times["Waiting for application startup."],
        times["Application startup complete."],
    )
    return (complete - waiting).total_seconds()


def test_an_issuer_hung_at_startup_costs_the_deadline_and_says_so(
    variant, pg_admin_url: str, tmp_path: Path, figure
) -> None:
    hung = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    port = hung.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = app_settings(url, AUTH_JWKS_TIMEOUT="1", AUTH_JWKS_REFRESH_INTERVAL="1")
    with (
        migrated_database(pg_admin_url, variant) as database,
        variant.serve(
            tmp_path / "app.log", database.app_url, LOG_FORMAT="json", **settings
        ) as app,
        httpx.Client(base_url=app.base_url, timeout=10, verify=TLS) as client,
    ):
        started = time.monotonic()
        ready = client.get("/health/ready")
        ready_seconds = time.monotonic() - started
        assert ready.status_code == 503
        assert ready.json()["detail"] == "token issuer unavailable"
        unverifiable = jwt.encode(
            {"iss": url, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60},
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            algorithm="RS256",
            headers={"kid": "not-fetched-yet"},
        )
        api = client.get("/api/items", headers=bearer(unverifiable))
        assert (api.status_code, "Retry-After" in api.headers) == (503, True), api.text
        hung.close()
        with running_issuer({"tenant": "acme"}, port=port) as issuer:
            deadline = time.monotonic() + 10
            while client.get("/health/ready").status_code != 200:
                assert time.monotonic() < deadline, "not ready 10 s after the issuer answered"
                time.sleep(0.2)
            assert client.get("/api/items", headers=issuer.bearer()).status_code == 200
        text = app.assert_clean_log()
    assert "the issuer did not answer within 1 s" in text
    figure(
        f"issuer hung at start-up (deadline 1 s): start-up took {startup_seconds(text):.2f} s,"
        f" /health/ready 503 'token issuer unavailable' in {ready_seconds:.2f} s,"
        " /api 503 + Retry-After; ready and serving tokens once the issuer answered"
    )
