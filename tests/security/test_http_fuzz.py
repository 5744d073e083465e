"""Fuzzing the HTTP parser and the CRM parameter parsers through a real gateway: no input, with or
without a valid token, gets a 500 or a traceback (in the answer or in the log).

The gateway runs as ``serve`` runs it (``run_server``: the gateway's own protocol, real sockets) in a
thread with the sandbox CRMs; Hypothesis sends raw bytes over plain sockets. Bounded: a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config.loader import load_config_text
from gateway.sandbox.civicrm import build_civicrm_app
from gateway.sandbox.espocrm import build_espo_app
from gateway.serving import run_server
from tests.support.jwt_factory import claims, make_key, sign
from tests.support.ports import free_port
from tests.support.stack import ALLOW_ALL, ENV, civi_sandbox_config, config_text, espo_sandbox_config

EXAMPLES = 120
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Gateway:
    port: int
    token: str
    records: list[logging.LogRecord] = field(default_factory=list, repr=False)


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    (root / "policies").mkdir()
    (root / "policies" / "allow-all.yaml").write_text(ALLOW_ALL)
    key = make_key("ES256")
    civi_port, espo_port, port = free_port(), free_port(), free_port()
    text = config_text(f"http://127.0.0.1:{civi_port}", f"http://127.0.0.1:{espo_port}", key)
    config = load_config_text(text, str(root / "gateway.yaml"), ENV)
    gw = Gateway(port, sign(key, claims(sub="svc-test", exp=4_000_000_000, iat=None)))
    handler = _Collect(gw.records)
    logging.getLogger().addHandler(handler)
    ready, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        runners = []
        for app, app_port in (
            (build_civicrm_app(civi_sandbox_config()), civi_port),
            (build_espo_app(espo_sandbox_config()), espo_port),
        ):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", app_port).start()
            runners.append(runner)
        stopping, started = asyncio.Event(), asyncio.Event()
        server = asyncio.create_task(
            run_server(config, None, host="127.0.0.1", port=port, grace=1.0, stop=stopping, started=started)
        )
        await started.wait()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        stopping.set()
        await server
        for runner in runners:
            await runner.cleanup()

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the fixture
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    assert ready.wait(20) and not failure, failure
    try:
        yield gw
    finally:
        stop.set()
        thread.join(20)
        logging.getLogger().removeHandler(handler)
    assert not failure, failure


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def check(gw: Gateway, data: bytes) -> None:
    seen = len(gw.records)
    answer = exchange(gw.port, data)
    status_line = answer.split(b"\r\n", 1)[0]
    assert not status_line.startswith((b"HTTP/1.1 500", b"HTTP/1.0 500")), answer[:600]
    assert b"Traceback" not in answer and b'File "' not in answer, answer[:600]
    bad = [r for r in gw.records[seen:] if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


PREFIXES = [
    "/civi-keys/sites/all/modules/civicrm/extern/rest.php",
    "/civi-jwt/civicrm/ajax/api4/Contact/get",
    "/civi-jwt/civicrm/ajax/rest",
    "/civi-apikey/civicrm/ajax/api4/Contact/",
    "/civi-basic/index.php",
    "/espo-key/api/v1/Lead",
    "/espo-hmac/api/v1/",
    "/",
    "",
]
text = st.text(st.characters(codec="utf-8"), max_size=12)
raw_bytes = st.binary(max_size=24)
header_names = st.sampled_from(
    [
        "Content-Type",
        "X-Civi-Auth",
        "X.Civi.Auth",
        "X_Api_Key",
        "Authorization",
        "Content-Encoding",
        "Transfer-Encoding",
        "Content-Length",
        "Host",
        "Expect",
        "Connection",
        "X-HTTP-Method-Override",
        "X-Original-URL",
        "Cookie",
        "X-Requested-With",
    ]
) | st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", fullmatch=True)
header_values = st.one_of(
    st.sampled_from(
        ["application/json", "multipart/form-data; boundary=x", "gzip", "chunked", "100-continue"]
    ),
    st.from_regex(r"[ -~]{0,30}", fullmatch=True),
    raw_bytes.map(lambda b: b.decode("latin-1")),
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) | st.from_regex(
    r"[A-Z]{1,8}", fullmatch=True
)
separators = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r\n "])


@FUZZ
@given(
    method=methods,
    prefix=st.sampled_from(PREFIXES),
    tail=text | raw_bytes.map(lambda b: b.decode("latin-1")),
    headers=st.lists(st.tuples(header_names, header_values), max_size=6),
    body=raw_bytes,
    sep=separators,
    authenticated=st.booleans(),
)
def test_raw_http_requests(
    gateway: Gateway,
    method: str,
    prefix: str,
    tail: str,
    headers: list[tuple[str, str]],
    body: bytes,
    sep: bytes,
    authenticated: bool,
) -> None:
    lines = [f"{method} {prefix}{tail} HTTP/1.1".encode("utf-8", "surrogateescape"), b"Host: 127.0.0.1"]
    if authenticated:
        lines.append(f"Authorization: Bearer {gateway.token}".encode())
    lines += [f"{name}: {value}".encode("latin-1", "replace") for name, value in headers]
    lines.append(b"Connection: close")
    if body and not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers):
        lines.append(f"Content-Length: {len(body)}".encode())
    data = sep.join(lines) + b"\r\n\r\n" + body
    check(gateway, data)


names = st.from_regex(r"[a-z_. ]{1,6}(\[[^\]&=]{0,8}\]){0,3}\[?", fullmatch=True) | st.sampled_from(
    [
        "entity",
        "action",
        "json",
        "params",
        "api_key",
        "key",
        "_authx",
        "chain",
        "a[²]",
        "a[" + "9" * 5000 + "]",
    ]
)
values = st.text(max_size=20) | st.sampled_from(
    ['{"select":["*"]}', "Contact", "get", "1", '{"chain":{"x":["Email","get",{}]}}', "[]", "{", "null"]
)


@FUZZ
@given(
    path=st.sampled_from(PREFIXES[:6]),
    query=st.lists(st.tuples(names, values), max_size=6),
    form=st.lists(st.tuples(names, values), max_size=6),
    authenticated=st.booleans(),
    multipart=st.booleans(),
)
def test_crm_parameters(
    gateway: Gateway,
    path: str,
    query: list[tuple[str, str]],
    form: list[tuple[str, str]],
    authenticated: bool,
    multipart: bool,
) -> None:
    qs = "&".join(f"{quote(n, safe='[]')}={quote(v)}" for n, v in query)
    if multipart:
        parts = [
            f'--b\r\nContent-Disposition: form-data; name="{n.replace(chr(34), "")}"\r\n\r\n{v}\r\n'
            for n, v in form
        ]
        body = ("".join(parts) + "--b--\r\n").encode()
        content_type = "multipart/form-data; boundary=b"
    else:
        body = "&".join(f"{quote(n, safe='[]')}={quote(v)}" for n, v in form).encode()
        content_type = "application/x-www-form-urlencoded"
    head = [
        f"POST {path}{'?' + qs if qs else ''} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if authenticated:
        head.append(f"X-Civi-Auth: Bearer {gateway.token}")
    check(gateway, ("\r\n".join(head) + "\r\n\r\n").encode() + body)
