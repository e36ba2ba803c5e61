"""A token issuer for the tests, on loopback: discovery and a JWKS over real HTTP.

It makes its own RSA and EC keys, publishes their public halves, and signs
tokens with them, so the app verifies the tests' tokens exactly as it verifies
an identity provider's. ``add_key()`` rotates a new key in; ``jwks_requests``
counts the fetches of the key set; ``bad_tokens()`` lists the tokens an app
must refuse.
"""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "tests-api"
ALGORITHMS = ["RS256", "ES256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(algorithm: str = "RS256") -> PrivateKey:
    """A fresh private key for ``algorithm`` (RS256 or ES256)."""
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: PrivateKey, kid: str) -> dict[str, Any]:
    """The public half of ``key`` as a JWK with its ``kid``."""
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}


class Issuer:
    """Serves ``/.well-known/openid-configuration`` and ``/jwks``; signs tokens."""

    def __init__(self, default_claims: dict[str, Any] | None = None, port: int = 0) -> None:
        """Start serving on a loopback port (a free one by default), with an RSA and an EC key."""
        self.default_claims = default_claims or {}
        self.keys: dict[str, PrivateKey] = {}
        self.published: list[dict[str, Any]] = []
        self.jwks_requests = 0
        self.kid = self.add_key("RS256")
        self.ec_kid = self.add_key("ES256")
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def settings(self) -> dict[str, Any]:
        """The app's settings for this issuer."""
        return {"auth_issuer": self.url, "auth_audience": AUDIENCE, "auth_algorithms": ALGORITHMS}

    def add_key(self, algorithm: str = "RS256", *, publish: bool = True) -> str:
        """Make a key (published unless told otherwise); return its ``kid``."""
        kid = uuid.uuid4().hex
        self.keys[kid] = new_key(algorithm)
        if publish:
            self.published.append(public_jwk(self.keys[kid], kid))
        return kid

    def token(self, kid: str | None = None, **claims: Any) -> str:
        """A token signed with key ``kid`` (the first RSA key by default).

        Claims default to a valid token for ``tests-user``; a claim given as
        ``None`` is left out.
        """
        kid = kid or self.kid
        key = self.keys[kid]
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "tests-user",
            "iat": now,
            "exp": now + 300,
            **self.default_claims,
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})

    def bearer(self, **claims: Any) -> dict[str, str]:
        """An ``Authorization`` header with a valid token (``claims`` override)."""
        return {"Authorization": f"Bearer {self.token(**claims)}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body: dict[str, Any]
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_requests += 1
                    body = {"keys": issuer.published}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass  # quiet

        return Handler


def segment(data: dict[str, Any] | bytes) -> str:
    """One base64url segment of a compact JWS."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decoded(token: str, index: int) -> dict[str, Any]:
    """The header (0) or payload (1) of a token."""
    part = token.split(".")[index]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def public_pem(issuer: Issuer) -> bytes:
    """The PEM of the issuer's RSA public key, as an attacker could download it."""
    return (
        issuer.keys[issuer.kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def bad_tokens(issuer: Issuer) -> dict[str, str]:
    """Tokens that must each be refused, by what is wrong with them."""
    now = int(time.time())
    valid = issuer.token()
    claims = decoded(valid, 1)
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}
    signing_input = f"{segment(header)}.{segment(claims)}"
    hs256 = hmac.new(public_pem(issuer), signing_input.encode(), hashlib.sha256).digest()
    head, _, signature = valid.split(".")
    unpublished = issuer.add_key(publish=False)
    return {
        "expired": issuer.token(exp=now - 120),
        "not yet valid": issuer.token(nbf=now + 120),
        "without exp": issuer.token(exp=None),
        "without sub": issuer.token(sub=None),
        "wrong audience": issuer.token(aud="another-api"),
        "wrong issuer": issuer.token(iss="https://impostor.example.com"),
        "alg none": f"{segment({'alg': 'none', 'kid': issuer.kid})}.{segment(claims)}.",
        "HS256 keyed with the public key": f"{signing_input}.{segment(hs256)}",
        "tampered payload": f"{head}.{segment({**claims, 'sub': 'admin'})}.{signature}",
        "key not in the JWKS": issuer.token(kid=unpublished),
        "published kid, another key": jwt.encode(
            claims, issuer.keys[unpublished], algorithm="RS256", headers={"kid": issuer.kid}
        ),
        "garbage": "not-a-token",
        "three garbage segments": "a.b.c",
        "empty segments": "..",
    }


@contextmanager
def running_issuer(
    default_claims: dict[str, Any] | None = None, port: int = 0
) -> Iterator[Issuer]:
    """An issuer serving until the block ends."""
    issuer = Issuer(default_claims, port)
    try:
        yield issuer
    finally:
        issuer.close()
