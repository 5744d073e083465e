"""The framework-less decision service (``--kind raw``) over real sockets: the captured answer with a fresh
request id, 401 on an unknown key, pipelined requests of one write answered in order, a close after a
request that asks for it and after a parse error, and nginx's auth_request in front of it, deciding with the
answer captured from a running gateway."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httptools
import pytest

from bench import scenarios
from bench.decision_bench import check, decision_config, decision_nginx_conf
from bench.decision_floor import capture_answer, start_minimal
from bench.gateway import make_credentials, probe, start_gateway
from bench.minimal_decision import ENDPOINT
from bench.nginx import nginx_binary, start_nginx, start_upstream
from bench.procs import Service, free_port
from tests.bench.test_decision_floor import ANSWER, URI, ask

Answer = tuple[int, dict[str, str]]


def request(authorization: str, extra: str = "") -> bytes:
    return (
        f"GET {ENDPOINT} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\n"
        f"X-Original-Method: GET\r\nX-Original-URI: {URI}\r\n{extra}\r\n"
    ).encode()


class Answers:
    """httptools' response parser collecting every answer of one connection."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done: list[Answer] = []
        self.headers: dict[str, str] = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode()] = value.decode()

    def on_message_complete(self) -> None:
        self.done.append((self.parser.get_status_code(), self.headers))
        self.headers = {}


def exchange(service: Service, data: bytes, expected: int) -> tuple[list[Answer], bool]:
    """Send ``data`` in one write, read ``expected`` answers; whether the server closed after them."""
    answers = Answers()
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
        sock.sendall(data)
        while len(answers.done) < expected:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {len(answers.done)} answers"
            answers.parser.feed_data(chunk)
        sock.settimeout(0.5)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
    return answers.done, closed


@pytest.fixture
def raw(tmp_path: Path) -> Iterator[Service]:
    service = start_minimal(tmp_path, [ANSWER], "raw")
    yield service
    service.stop()


@pytest.mark.timeout(30)
def test_raw_answers_the_captured_decision_with_a_fresh_id_and_401_otherwise(raw: Service) -> None:
    first_status, first = ask(raw.url, "Bearer tok")
    second_status, second = ask(raw.url, "Bearer tok")
    unknown_status, unknown = ask(raw.url, "Bearer other")
    other_uri_status, _ = ask(raw.url, "Bearer tok", "/espo/api/v1/Account")
    assert (first_status, second_status, unknown_status, other_uri_status) == (200, 200, 401, 401)
    for name, value in ANSWER["headers"]:
        if "Request-ID" not in name:
            assert first[name] == value
    ids = {first["X-Crm-Set-X-Request-ID"], second["X-Crm-Set-X-Request-ID"]}
    assert len(ids) == 2 and "captured-id" not in ids and all(len(i) == 32 for i in ids)
    assert first["X-Crm-Reply-X-Request-ID"] == first["X-Crm-Set-X-Request-ID"]
    assert first["Content-Length"] == "0" and unknown["Cache-Control"] == "no-store"


@pytest.mark.timeout(30)
def test_raw_answers_pipelined_requests_in_order_and_keeps_the_connection(raw: Service) -> None:
    answers, closed = exchange(
        raw, request("Bearer tok") + request("Bearer other") + request("Bearer tok"), 3
    )
    assert [status for status, _ in answers] == [200, 401, 200]
    assert answers[0][1]["X-Crm-Set-X-Request-ID"] != answers[2][1]["X-Crm-Set-X-Request-ID"]
    assert not closed


@pytest.mark.timeout(30)
def test_raw_closes_when_asked_and_after_a_parse_error(raw: Service) -> None:
    answers, closed = exchange(raw, request("Bearer tok", "Connection: close\r\n"), 1)
    assert answers[0][0] == 200 and answers[0][1]["Connection"] == "close" and closed
    answers, closed = exchange(raw, request("Bearer tok") + b"NOT HTTP AT ALL\r\n\r\n", 2)
    assert [status for status, _ in answers] == [200, 400] and closed


@pytest.mark.timeout(60)
@pytest.mark.skipif(nginx_binary() is None, reason="nginx not installed")
def test_nginx_auth_request_decides_with_the_raw_service(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    services: list[Service] = []
    try:
        front_port = free_port()
        upstream = start_upstream(tmp_path)
        services.append(upstream)
        credentials = make_credentials(upstream.url)
        config = decision_config(tmp_path)
        gateway = start_gateway(tmp_path, credentials, config=config, name="gateway-decision")
        services.append(gateway)
        load = scenarios.ESPO.load(credentials.token, via_gateway=True)
        answer = capture_answer(gateway.url, load)
        services.append(minimal := start_minimal(tmp_path, [answer], "raw"))
        conf = decision_nginx_conf(tmp_path, config, credentials, front_port, minimal, name="front")
        services.append(front := start_nginx(tmp_path, "front", conf, front_port))
        check(front, minimal, credentials.token)
        refused, _ = probe(front.url + load.path, "GET", {**load.headers, "Authorization": "Bearer nope"})
        assert refused == 401
    finally:
        for service in reversed(services):
            service.stop()
