"""Bearer tokens: the real app verifies the tokens of a real issuer on loopback.

Every way a token can be wrong gets the same 401, never a 500; a key the
issuer rotates in is accepted without a restart; made-up key ids cannot make
the app hammer the issuer; an issuer that is down at start-up costs a bounded
wait and a clear readiness answer.
"""

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError

from {{ cookiecutter.package_name }} import (
    api,
)
from {{ cookiecutter.package_name }}.auth import (
    CurrentIdentity,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
    SettingsError,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)
from {{ cookiecutter.package_name }}.responses import (
    include_api_router,
)

from tests.issuer import Issuer, bad_tokens, decoded

AppClient = Callable[..., AbstractAsyncContextManager[AsyncClient]]
REFUSED = 'Bearer error="invalid_token"'


def identity_router() -> APIRouter:
    """A route that answers with its caller."""
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(identity: CurrentIdentity) -> dict[str, Any]:
        logging.getLogger("tests.whoami").info("served")
        return {"sub": identity.subject, "scopes": sorted(identity.scopes)}

    return router


@pytest.fixture
def app_client(settings: Settings) -> AppClient:
    """A client of the real app with ``/api/whoami``, on these settings (with overrides)."""

    @asynccontextmanager
    async def open_client(**overrides: Any) -> AsyncIterator[AsyncClient]:
        app = create_app(settings.model_copy(update=overrides))
        include_api_router(
            app.router,
            identity_router(),
            prefix=api.PREFIX,
            dependencies=api.DEPENDENCIES,
            responses=api.RESPONSES,
        )
        async with (
            LifespanManager(app, startup_timeout=30) as manager,
            AsyncClient(
                transport=ASGITransport(app=manager.app), base_url="http://test"
            ) as client,
        ):
            yield client

    return open_client


async def test_a_valid_token_is_served_rsa_or_ec(app_client: AppClient, issuer: Issuer) -> None:
    async with app_client() as client:
        for kid in (issuer.kid, issuer.ec_kid):
            response = await client.get("/api/whoami", headers=issuer.bearer(kid=kid))
            assert response.status_code == 200, response.text
            assert response.json()["sub"] == "tests-user"


async def test_every_bad_token_gets_the_same_401(app_client: AppClient, issuer: Issuer) -> None:
    async with app_client() as client:
        missing = await client.get("/api/whoami")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        for reason, token in bad_tokens(issuer).items():
            response = await client.get(
                "/api/whoami", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 401, f"{reason}: {response.status_code}"
            assert response.headers["WWW-Authenticate"] == REFUSED, reason
            assert response.json() == {"detail": "Invalid bearer token"}, reason


async def test_a_missing_scope_is_a_403(app_client: AppClient, issuer: Issuer) -> None:
    async with app_client(auth_required_scopes=["items:read"]) as client:
        refused = await client.get("/api/whoami", headers=issuer.bearer(scope="items:write"))
        assert refused.status_code == 403
        assert refused.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", scope="items:read"'
        )
        granted = await client.get("/api/whoami", headers=issuer.bearer(scp=["items:read"]))
        assert granted.json()["scopes"] == ["items:read"]


async def test_a_rotated_key_is_accepted_without_a_restart(
    app_client: AppClient, issuer: Issuer
) -> None:
    async with app_client(auth_jwks_refresh_interval=0) as client:
        assert (await client.get("/api/whoami", headers=issuer.bearer())).status_code == 200
        fetched = issuer.jwks_requests
        rotated = issuer.add_key("ES256")
        response = await client.get("/api/whoami", headers=issuer.bearer(kid=rotated))
        assert response.status_code == 200, response.text
        assert issuer.jwks_requests == fetched + 1


async def test_unknown_kids_fetch_the_key_set_at_most_once_per_interval(
    app_client: AppClient, issuer: Issuer
) -> None:
    async with app_client(auth_jwks_refresh_interval=3600) as client:
        fetched = issuer.jwks_requests
        forged = [issuer.token(kid=issuer.add_key(publish=False)) for _ in range(3)]
        answers = await asyncio.gather(
            *(
                client.get("/api/whoami", headers={"Authorization": f"Bearer {forged[n % 3]}"})
                for n in range(60)
            )
        )
        assert {response.status_code for response in answers} == {401}
        assert issuer.jwks_requests == fetched  # the start-up fetch was within the interval


@pytest.fixture
def silent_issuer() -> Iterator[str]:
    """An issuer URL whose server accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


async def test_an_issuer_down_at_startup_gives_a_bounded_wait_and_a_clear_readiness_answer(
    app_client: AppClient, issuer: Issuer, silent_issuer: str
) -> None:
    started = time.monotonic()
    async with app_client(auth_issuer=silent_issuer, auth_jwks_timeout=0.5) as client:
        assert time.monotonic() - started < 5, "start-up waited past the deadline"
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["detail"] == "token issuer unavailable"
        refused = await client.get("/api/whoami", headers=issuer.bearer(iss=silent_issuer))
        assert refused.status_code == 503
        assert "Retry-After" in refused.headers
        assert (await client.get("/health/live")).status_code == 200


async def test_tokens_never_reach_the_log_and_every_line_carries_sub(
    app_client: AppClient, issuer: Issuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    tokens = [issuer.token(sub=f"user-{uuid.uuid4().hex}"), *bad_tokens(issuer).values()]
    async with app_client() as client:
        for token in tokens:
            await client.get("/api/whoami", headers={"Authorization": f"Bearer {token}"})
    text = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert not [token for token in tokens if token in text]
    served = [r for r in caplog.records if r.name == "tests.whoami"]
    assert [getattr(r, "sub", None) for r in served] == [decoded(tokens[0], 1)["sub"]]
    refusals = [r for r in caplog.records if "bearer token refused" in r.getMessage()]
    assert len(refusals) == len(tokens) - 1


async def test_the_openapi_document_declares_the_bearer_scheme(app_client: AppClient) -> None:
    async with app_client() as client:
        spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"]: s["scheme"] for s in schemes.values()} == {"http": "bearer"}
    operation = spec["paths"]["/api/whoami"]["get"]
    assert operation["security"] == [{name: []} for name in schemes]
    assert {"401", "403"} <= set(operation["responses"])


def test_settings_refuse_symmetric_algorithms_and_plain_http_keys(settings: Settings) -> None:
    for refused in (
        {"auth_algorithms": "RS256,HS256"},
        {"auth_algorithms": "none"},
        {"auth_issuer": "http://id.example.com"},
        {"auth_jwks_url": "ftp://id.example.com/keys"},
    ):
        with pytest.raises(ValidationError):
            Settings.model_validate({**settings.model_dump(), **refused})


async def test_the_app_does_not_start_without_issuer_and_audience(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"auth_issuer": "", "auth_audience": ""}))
    with pytest.raises(SettingsError, match="AUTH_ISSUER and AUTH_AUDIENCE must be set"):
        async with LifespanManager(app):
            pass
