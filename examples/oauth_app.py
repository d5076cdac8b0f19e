"""A minimal third-party app for trying the BFF's OAuth 2.0 server by hand (README, "Third-party
apps"): authlib's client with private_key_jwt (or a public client), PKCE S256, DPoP.

    python examples/oauth_app.py keys                      # app-key.json + app-jwks.json
    python examples/oauth_app.py connect --client-id ID [--key app-key.json]

`connect` pushes the authorization request, prints the consent page's URL, waits on the
loopback redirect URI for the browser to come back with the code, exchanges it, and asks
/graphql for the accounts the customer shared.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import secrets
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from threading import Thread
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey

ACCOUNTS = (
    "{ viewer { email accounts { edges { node { id name balance { amount currency } } } } } }"
)


def write_keys(directory: Path) -> None:
    key = ECKey.generate_key("P-256")
    (directory / "app-key.json").write_text(json.dumps(key.as_dict(private=True)))
    public = {**key.as_dict(private=False), "kid": key.thumbprint()}
    (directory / "app-jwks.json").write_text(json.dumps({"keys": [{**public, "alg": "ES256"}]}))
    print("wrote app-key.json (keep it) and app-jwks.json (register it: --jwks-file)")


class DPoP:
    """Proofs (RFC 9449) signed with a key of the app's own, with the server's latest nonce."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")
        self.nonce: str | None = None

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode()).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if self.nonce:
            claims["nonce"] = self.nonce
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jwt.encode(header, claims, self.key)


def wait_for_redirect(redirect_uri: str) -> dict[str, str]:
    """Serve the loopback redirect URI once; the query the browser came back with."""
    parts = urlsplit(redirect_uri)
    received: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            received.update({name: values[0] for name, values in query.items()})
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"Connected: you can close this tab.")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer((parts.hostname or "127.0.0.1", parts.port or 80), Handler)
    thread = Thread(target=server.handle_request)
    thread.start()
    thread.join()
    server.server_close()
    return received


async def connect(args: argparse.Namespace, key: ECKey | None) -> None:
    base = args.server.rstrip("/")
    client = AsyncOAuth2Client(
        client_id=args.client_id,
        client_secret=key,
        token_endpoint_auth_method="private_key_jwt" if key else "none",
    )
    if key is not None:
        client.register_client_auth_method(PrivateKeyJWT(alg="ES256"))
    auth = client.client_auth("private_key_jwt" if key else "none")
    dpop = DPoP()
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    pushed = await client.request(
        "POST",
        f"{base}/oauth/par",
        withhold_token=True,
        auth=auth,
        data={
            "response_type": "code",
            "client_id": args.client_id,
            "redirect_uri": args.redirect_uri,
            "scope": args.scope,
            "state": state,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        },
    )
    pushed.raise_for_status()
    query = urlencode({"client_id": args.client_id, "request_uri": pushed.json()["request_uri"]})
    print(f"open in a browser, sign in and approve:\n  {base}/oauth/authorize?{query}")
    answer = await asyncio.to_thread(wait_for_redirect, args.redirect_uri)
    if answer.get("state") != state or answer.get("iss") != base or "code" not in answer:
        raise SystemExit(f"refused or tampered with: {answer}")
    token_url = f"{base}/oauth/token"
    # The token endpoint wants a server nonce in the proof: the first answer carries one.
    first = await client.request(
        "POST",
        token_url,
        withhold_token=True,
        data={"grant_type": "authorization_code"},
        headers={"dpop": dpop.proof("POST", token_url)},
    )
    dpop.nonce = first.headers.get("dpop-nonce")
    token = await client.fetch_token(
        token_url,
        grant_type="authorization_code",
        code=answer["code"],
        redirect_uri=args.redirect_uri,
        code_verifier=verifier,
        headers={"dpop": dpop.proof("POST", token_url)},
    )
    graphql_url = f"{base}/graphql"
    access = token["access_token"]
    result = await client.request(
        "POST",
        graphql_url,
        withhold_token=True,
        json={"query": ACCOUNTS},
        headers={
            "authorization": f"DPoP {access}",
            "dpop": dpop.proof("POST", graphql_url, access),
        },
    )
    print(json.dumps(result.json(), indent=2))
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("keys", help="write app-key.json and app-jwks.json here")
    run = commands.add_parser("connect", help="connect to a customer's accounts")
    run.add_argument("--client-id", required=True)
    run.add_argument("--key", help="app-key.json (private_key_jwt); omit for a public client")
    run.add_argument("--server", default="http://127.0.0.1:8000")
    run.add_argument("--redirect-uri", default="http://127.0.0.1:8765/callback")
    run.add_argument("--scope", default="accounts:read transactions:read")
    args = parser.parse_args()
    if args.command == "keys":
        write_keys(Path.cwd())
    else:
        key = ECKey.import_key(json.loads(Path(args.key).read_text())) if args.key else None
        asyncio.run(connect(args, key))


if __name__ == "__main__":
    main()
