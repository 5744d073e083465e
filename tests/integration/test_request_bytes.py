"""Request body bytes are recorded: ``bytes_in`` in the access line and ``crmgw_request_bytes_total``, for a
body the dialect read and for one streamed to the CRM unread."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import start_stack

V4 = "/civi-jwt/civicrm/ajax/api4"


def access_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "request_id" in line and "bytes_in" in line]


async def test_body_bytes_are_counted_per_upstream(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path)
    capsys.readouterr()
    form = "params=" + json.dumps({"select": ["id"], "limit": 1})
    lead = json.dumps({"firstName": "Ada", "lastName": "Lovelace"}).encode()
    read = await stack.client.post(
        f"{V4}/Contact/get",
        data=form,
        headers={**stack.bearer(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert read.status == 200, await read.text()
    streamed = await stack.client.post(
        "/espo-key/api/v1/Lead", data=lead, headers={**stack.bearer(), "Content-Type": "application/json"}
    )
    assert streamed.status == 200, await streamed.text()
    assert stack.espo_received[-1].body == lead
    no_body = await stack.client.get("/espo-key/api/v1/Lead", headers=stack.bearer())
    assert no_body.status == 200

    assert [line["bytes_in"] for line in access_lines(capsys)] == [len(form), len(lead), 0]
    assert stack.metric("crmgw_request_bytes_total", upstream="civi-jwt") == len(form)
    assert stack.metric("crmgw_request_bytes_total", upstream="espo-key") == len(lead)
