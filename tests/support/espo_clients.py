"""Two small EspoCRM API clients that behave as common real ones do (used to prove drop-in connectivity).

``RootJoinClient`` builds every URL as ``urljoin(urljoin(base, "/api/v1/"), action)``, which drops any
base path; ``ShortKeyClient`` keeps the base path but refuses API keys longer than 255 characters or
outside ``[A-Za-z0-9._-]``. Both send the key in ``X-Api-Key`` and report a failure as
``EspoClientError(status, reason)`` with the reason from ``X-Status-Reason`` ("Unknown" without one).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode, urljoin

import aiohttp

_KEY = re.compile(r"[A-Za-z0-9._-]{1,255}")


class EspoClientError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class RootJoinClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, api_key: str) -> None:
        self.http = http
        self.base_url = base_url
        self.api_key = api_key

    def url(self, action: str) -> str:
        return urljoin(urljoin(self.base_url, "/api/v1/"), action)

    async def request(self, method: str, action: str, data: Any = None) -> Any:
        url = self.url(action)
        body: str | None = None
        if method == "GET" and data:
            url += "?" + urlencode(data)
        elif data is not None:
            body = json.dumps(data)
        headers = {"X-Api-Key": self.api_key, "Content-Type": "application/json"}
        async with self.http.request(method, url, data=body, headers=headers) as resp:
            if resp.status >= 400:
                raise EspoClientError(resp.status, resp.headers.get("X-Status-Reason", "Unknown"))
            return await resp.json(content_type=None)


class ShortKeyClient(RootJoinClient):
    def __init__(self, http: aiohttp.ClientSession, base_url: str, api_key: str) -> None:
        if not _KEY.fullmatch(api_key):
            raise ValueError("API key must be 1-255 characters of [A-Za-z0-9._-]")
        super().__init__(http, base_url, api_key)

    def url(self, action: str) -> str:
        return self.base_url.rstrip("/") + "/api/v1/" + action
