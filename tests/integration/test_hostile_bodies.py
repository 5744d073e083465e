"""Request bodies the gateway must read to decide, sent broken: a 4xx in the client's dialect, never a
500 (these are read before the token is checked, so anyone can send them)."""

from __future__ import annotations

import gzip
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Stack, start_stack

V4 = "/civi-jwt/civicrm/ajax/api4/Contact/get"
FIELD = b'Content-Disposition: form-data; name="params"\r\n\r\n{}\r\n'
MULTIPART = "multipart/form-data; boundary=b0undary"
END = b"--b0undary--\r\n"

BODIES = [
    ("garbage", MULTIPART, b"\x00\xff not multipart at all"),
    ("unterminated", MULTIPART, b"--b0undary\r\n" + FIELD),
    ("no-boundary", "multipart/form-data", b"--b0undary\r\n" + FIELD + b"--b0undary--\r\n"),
    ("empty-boundary", "multipart/form-data; boundary=", b"--\r\n" + FIELD + b"----\r\n"),
    (
        "many-part-headers",
        MULTIPART,
        b"--b0undary\r\n" + b"X-H: v\r\n" * 5000 + FIELD + b"--b0undary--\r\n",
    ),
    (
        "unknown-transfer-encoding",
        MULTIPART,
        b"--b0undary\r\nContent-Transfer-Encoding: x-rot13\r\n" + FIELD + b"--b0undary--\r\n",
    ),
    (
        "bad-base64",
        MULTIPART,
        b"--b0undary\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: form-data; name="params"\r\n\r\n!!!\r\n--b0undary--\r\n',
    ),
    (
        "unknown-charset",
        MULTIPART,
        b'--b0undary\r\nContent-Type: text/plain; charset=x-nope\r\n' + FIELD + b"--b0undary--\r\n",
    ),
    ("nested", MULTIPART, b"--b0undary\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i--\r\n" + END),
    ("no-disposition", MULTIPART, b"--b0undary\r\n\r\nvalue\r\n--b0undary--\r\n"),
    ("thousands-of-parts", MULTIPART, b"--b0undary\r\n" + (FIELD + b"--b0undary\r\n") * 3000 + END),
]  # fmt: skip


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path)


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "with-token"])
@pytest.mark.parametrize(("name", "content_type", "body"), BODIES, ids=[b[0] for b in BODIES])
async def test_a_broken_multipart_body_is_a_4xx(
    stack: Stack, name: str, content_type: str, body: bytes, authenticated: bool
) -> None:
    headers = {"Content-Type": content_type, **(stack.bearer() if authenticated else {})}
    resp = await stack.client.post(V4, data=body, headers=headers)
    text = await resp.text()
    assert resp.status < 500, (resp.status, text)
    if name not in ("no-disposition", "unknown-charset") or not authenticated:
        assert 400 <= resp.status < 500, (resp.status, text)
    assert "Traceback" not in text and 'File "' not in text


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "x-custom", "gzip, identity"])
@pytest.mark.parametrize("path", ["/espo-key/api/v1/Lead", V4], ids=["pass-through-body", "inspected-body"])
async def test_a_compressed_request_body_is_refused_not_forwarded_relabelled(
    stack: Stack, encoding: str, path: str
) -> None:
    """aiohttp decompresses it for the gateway; forwarded, it kept its Content-Encoding: the CRM got a
    plain body labelled gzip. The gateway refuses compressed request bodies instead."""
    body = (
        gzip.compress(b'{"name": "x"}')
        if encoding.startswith("gzip")
        else b"\x78\x9c\x03\x00\x00\x00\x00\x01"
    )
    before = len(stack.received())
    headers = {**stack.bearer(), "Content-Encoding": encoding, "Content-Type": "application/json"}
    resp = await stack.client.post(path, data=body, headers=headers)
    assert resp.status == 415, await resp.text()
    assert len(stack.received()) == before


async def test_identity_content_encoding_is_accepted(stack: Stack) -> None:
    headers = {**stack.bearer(), "Content-Encoding": "identity", "Content-Type": "application/json"}
    resp = await stack.client.post("/espo-key/api/v1/Lead", data=b'{"name": "x"}', headers=headers)
    assert resp.status < 400, await resp.text()


@pytest.mark.parametrize(
    ("path", "in_dialect"),
    [(V4, '"error_code":"internal-error"'), ("/espo-key/api/v1/Lead", '"reason":"internal-error"')],
)
async def test_the_last_resort_answers_500_in_dialect_with_one_log_line_and_an_access_line(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
    in_dialect: str,
) -> None:
    """No input reaches it (the fuzz tests say so); a bug still must not leak a traceback."""
    runtime = stack.runtime
    dialect = runtime.upstreams[path.split("/")[1]].dialect

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"bug while reading Authorization: Bearer {stack.token()}")

    monkeypatch.setattr(type(dialect), "identify", boom)
    access = io.StringIO()
    runtime.access_log._stream = access
    with caplog.at_level(logging.ERROR):
        resp = await stack.client.get(path, headers=stack.bearer())
    body = await resp.text()
    assert resp.status == 500
    assert in_dialect in body.replace(" ", "")
    assert "Traceback" not in body and "RuntimeError" not in body and "Bearer" not in body
    faults = [r for r in caplog.records if r.name == "gateway.faults"]
    assert len(faults) == 1 and "unexpected RuntimeError" in faults[0].getMessage()
    line = json.loads(access.getvalue().splitlines()[-1])
    assert (line["status"], line["reason"]) == (500, "internal-error")
