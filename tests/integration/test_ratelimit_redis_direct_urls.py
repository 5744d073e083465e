"""The Redis limiter's direct connection reads its URL as redis-py did: AUTH (password, ACL user), db,
client name, unix sockets, TLS with its certificate options; other options go to redis-py's client."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gateway.ratelimit.base import LimiterUnavailable, LimitResult
from gateway.ratelimit.redis import RedisLimiter
from tests.integration.test_ratelimit_redis_direct import admin, hits, limit
from tests.support.loops import Run, run
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer, redis_server, redis_server_binary

__all__ = ["redis_server", "run"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")


class SecuredRedis(RedisServer):
    """A password for the default user and an ACL user alice; its readiness PING authenticates."""

    def __init__(self) -> None:
        super().__init__(
            extra_args=["--requirepass", "s3cret-pw", "--user", "alice", "on", ">alice-pw", "~*"]
        )
        self.extra_args += ["&*", "+@all"]

    def ping(self) -> bool:
        try:
            return bool(admin(self.port, password="s3cret-pw").ping())
        except redis.RedisError:
            return False


@pytest.fixture
def secured() -> Iterator[RedisServer]:
    with SecuredRedis() as server:
        yield server


@pytest.mark.parametrize(
    ("userinfo", "db", "refusal"),
    [
        (":s3cret-pw@", 3, None),
        ("default:s3cret-pw@", 0, None),
        ("alice:alice-pw@", 2, None),
        (":wrong-pw@", 0, "redis refused the connection setup (WRONGPASS)"),
        ("", 0, "redis failed: ResponseError"),  # NOAUTH: the server answers the script with an error
    ],
)
def test_auth_and_db(run: Run, secured: RedisServer, userinfo: str, db: int, refusal: str | None) -> None:
    async def scenario() -> LimitResult | BaseException:
        limiter = RedisLimiter(f"redis://{userinfo}127.0.0.1:{secured.port}/{db}", timeout_ms=2000)
        try:
            return (await hits(limiter, 1))[0]
        finally:
            await limiter.close()

    outcome = run(scenario)
    if refusal is None:
        assert isinstance(outcome, LimitResult) and outcome.allowed
        stored = admin(secured.port, db=db, password="s3cret-pw").keys("*")
        assert stored == ["crmgw:rl:" + limit().key]
    else:
        assert isinstance(outcome, LimiterUnavailable) and str(outcome) == refusal
        assert "pw" not in str(outcome)


def test_unix_socket_with_db(run: Run, tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    with RedisServer(extra_args=["--unixsocket", str(socket_path), "--unixsocketperm", "700"]) as server:

        async def scenario() -> list[LimitResult | BaseException]:
            limiter = RedisLimiter(f"unix://{socket_path}?db=1", timeout_ms=2000)
            try:
                return await hits(limiter, 3, limit(burst=2))
            finally:
                await limiter.close()

        assert [getattr(o, "allowed", o) for o in run(scenario)] == [True, True, False]
        assert admin(server.port, db=1).keys("*") == ["crmgw:rl:" + limit().key]


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ),
            *("-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ("?ssl_ca_certs={cert}&ssl_certfile={cert}&ssl_keyfile={key}", None),  # server and client verified
        ("?ssl_cert_reqs=none&ssl_certfile={cert}&ssl_keyfile={key}", None),
        ("?ssl_certfile={cert}&ssl_keyfile={key}", "redis failed: SSLCertVerificationError"),  # unknown CA
    ],
)
def test_tls(run: Run, tls_files: tuple[Path, Path], options: str, refusal: str | None) -> None:
    cert, key = tls_files
    tls_port = free_port()
    tls = ["--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    tls += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "yes"]
    with RedisServer(extra_args=tls) as server:
        assert server.port != tls_port

        async def scenario() -> LimitResult | BaseException:
            url = f"rediss://127.0.0.1:{tls_port}" + options.format(cert=cert, key=key)
            limiter = RedisLimiter(url, timeout_ms=3000)
            try:
                return (await hits(limiter, 1))[0]
            finally:
                await limiter.close()

        outcome = run(scenario)
        if refusal is None:
            assert isinstance(outcome, LimitResult) and outcome.allowed
            assert admin(server.port).exists("crmgw:rl:" + limit().key) == 1
        else:
            assert str(outcome) == refusal


def test_other_url_options_keep_redis_py(run: Run, redis_server: RedisServer) -> None:
    async def scenario() -> list[LimitResult | BaseException]:
        limiter = RedisLimiter(redis_server.url + "/0?socket_keepalive=true", timeout_ms=2000)
        try:
            return await hits(limiter, 3, limit(burst=2))
        finally:
            await limiter.close()

    assert [getattr(o, "allowed", o) for o in run(scenario)] == [True, True, False]
