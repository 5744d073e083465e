"""An https upstream: the certificate and its host name are verified as aiohttp verified them by default
(the system's trust store), and a refused certificate is a 502, never a plain-text fallback."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from multidict import CIMultiDict

from gateway.errors import BadGateway
from gateway.proxy import pool as pool_module
from gateway.proxy.pool import Pool
from gateway.proxy.request_head import request_head
from gateway.proxy.sending import send
from tests.support.raw_upstream import config_for

pytestmark = pytest.mark.timeout(20)


def self_signed(tmp: Path, names: list[x509.GeneralName]) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp / "cert.pem").write_bytes(pem)
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return tmp / "cert.pem", tmp / "key.pem", pem.decode()


@asynccontextmanager
async def tls_upstream(cert: Path, key: Path) -> AsyncIterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def fetch(pool: Pool) -> bytes:
    head = request_head("GET", "/", pool.host_header, CIMultiDict(), None)
    conn = await send(pool, "GET", head, None)
    try:
        return await conn.read_all()
    finally:
        pool.release(conn)


SAN_IP: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


async def test_a_certificate_the_trust_store_does_not_know_is_refused(tmp_path: Path) -> None:
    cert, key, _ = self_signed(tmp_path, SAN_IP)
    async with tls_upstream(cert, key) as port:
        pool = Pool(config_for(f"https://127.0.0.1:{port}"))
        with pytest.raises(BadGateway, match="TLS could not be verified"):
            await fetch(pool)
        await pool.close()


@pytest.mark.parametrize(("names", "verified"), [(SAN_IP, True), ([x509.DNSName("other.example")], False)])
async def test_a_trusted_certificate_must_also_name_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: list[x509.GeneralName], verified: bool
) -> None:
    cert, key, pem = self_signed(tmp_path, names)

    def trusting() -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=pem)
        context.set_alpn_protocols(("http/1.1",))
        return context

    monkeypatch.setattr(pool_module, "tls_context", trusting)
    async with tls_upstream(cert, key) as port:
        pool = Pool(config_for(f"https://127.0.0.1:{port}"))
        if verified:
            assert await fetch(pool) == b"secure"
        else:
            with pytest.raises(BadGateway, match="TLS could not be verified"):
                await fetch(pool)
        await pool.close()


def test_the_default_context_verifies_as_aiohttp_does() -> None:
    context = pool_module.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
