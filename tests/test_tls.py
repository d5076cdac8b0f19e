"""TLS terminated by `bff serve` itself (BFF_TLS_CERT_FILE, BFF_TLS_KEY_FILE): a real server with
a self-signed certificate made here, TLS 1.3 as the minimum. The attack: a client (or a
man-in-the-middle forcing a downgrade) that would settle for TLS 1.2 or older."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websockets.asyncio.client import connect
from websockets.typing import Origin, Subprotocol

from tests.commands import one_line_failure, run_bff
from tests.conftest import ServerStarter, World
from tests.servers import HOST, Server

PROTOCOL = Subprotocol("graphql-transport-ws")


@dataclass(frozen=True)
class KeyPair:
    certificate: Path
    key: Path


def self_signed(directory: Path, name: str = "server") -> KeyPair:
    """A certificate for 127.0.0.1, valid for a day, and its private key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    pair.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pair


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
async def server(one_server: ServerStarter, key_pair: KeyPair) -> AsyncIterator[Server]:
    env = {"BFF_TLS_CERT_FILE": str(key_pair.certificate), "BFF_TLS_KEY_FILE": str(key_pair.key)}
    async with one_server("tls", env) as started:
        yield started


async def negotiated_version(server: Server, context: ssl.SSLContext) -> str | None:
    """The TLS version a handshake with this client context ends in; ssl.SSLError if none."""
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(HOST, server.port, ssl=context), timeout=10
    )
    try:
        return writer.get_extra_info("ssl_object").version()  # type: ignore[no-any-return]
    finally:
        writer.close()
        await writer.wait_closed()


# --- the handshake --------------------------------------------------------------------------


async def test_a_tls_13_client_is_served_over_https_with_hsts(server: Server) -> None:
    # given a client that trusts the server's certificate and speaks TLS 1.3
    # when it asks for /healthz over https
    async with httpx.AsyncClient(verify=server.client_tls(), timeout=10) as http:
        response = await http.get(f"{server.http_url}/healthz")
        tls = response.extensions["network_stream"].get_extra_info("ssl_object")
    # then it is served over TLS 1.3, and told to keep to https
    assert response.status_code == 200
    assert tls.version() == "TLSv1.3"
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_a_client_limited_to_tls_12_is_refused(server: Server) -> None:
    # given a client that offers nothing newer than TLS 1.2
    context = server.client_tls()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    # when it connects
    # then the handshake fails (the server's alert, or the connection cut before it is read)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await negotiated_version(server, context)
    # and the same client, allowed TLS 1.3, gets it: the server was there all along
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    assert await negotiated_version(server, context) == "TLSv1.3"


async def test_a_websocket_over_wss_is_served(server: Server, world: World) -> None:
    # given a customer's app
    person = await world.person()
    # when it opens a WebSocket over TLS and initialises it
    async with connect(
        server.ws_url, subprotocols=[PROTOCOL], ssl=server.client_tls(), open_timeout=10
    ) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {person.token}"}}
        await ws.send(json.dumps(init))
        acknowledged = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        tls = ws.transport.get_extra_info("ssl_object")
    # then it is served, over TLS 1.3
    assert ws.subprotocol == PROTOCOL
    assert acknowledged == {"type": "connection_ack"}
    assert tls.version() == "TLSv1.3"


@pytest.mark.parametrize(
    ("scheme", "status"), [("https", 101), ("http", 403)], ids=["own-origin", "own-host-over-http"]
)
async def test_the_own_origin_over_tls_is_https(server: Server, scheme: str, status: int) -> None:
    # given a page of https://<the server> (its own), or of http://<the server> (not its own)
    origin = Origin(f"{scheme}://{HOST}:{server.port}")
    # when it opens a WebSocket
    try:
        async with connect(
            server.ws_url,
            subprotocols=[PROTOCOL],
            origin=origin,
            ssl=server.client_tls(),
            open_timeout=10,
        ):
            answered = 101
    except websockets.InvalidStatus as refused:
        answered = refused.response.status_code
    # then
    assert answered == status


# --- settings that cannot work --------------------------------------------------------------


def test_a_certificate_without_its_key_is_one_line(tmp_path: Path, key_pair: KeyPair) -> None:
    # given a certificate file but no key file
    # when any command reads the settings
    result = run_bff(["migrate"], cwd=tmp_path, BFF_TLS_CERT_FILE=str(key_pair.certificate))
    # then
    line = one_line_failure(result)
    assert "TLS needs both BFF_TLS_CERT_FILE and BFF_TLS_KEY_FILE" in line, line


@pytest.mark.parametrize("problem", ["missing-file", "key-of-another-certificate"])
def test_unusable_tls_files_are_one_line_before_serving(
    tmp_path: Path, database_url: str, key_pair: KeyPair, problem: str
) -> None:
    # given a key file that does not exist, or that belongs to another certificate
    other = self_signed(tmp_path, "other")
    key = tmp_path / "missing.key" if problem == "missing-file" else other.key
    # when the server is started with it
    result = run_bff(
        ["serve"],
        cwd=tmp_path,
        DATABASE_URL=database_url,
        BFF_DATA_DIR=str(tmp_path),
        BFF_TLS_CERT_FILE=str(key_pair.certificate),
        BFF_TLS_KEY_FILE=str(key),
    )
    # then it refuses in one line, and serves nothing
    line = one_line_failure(result)
    assert line.startswith("bff: cannot use BFF_TLS_CERT_FILE and BFF_TLS_KEY_FILE: "), line
