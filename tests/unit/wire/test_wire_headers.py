"""The one rule for client headers, as proxy mode applies it (drop) and decision mode (refuse)."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.decision.forwarded import refuse_reserved_headers
from gateway.dialects.credentials import outbound_headers
from gateway.errors import BadRequest
from tests.integration.test_gateway_header_folding import FOLDED, SPOOFING

PASSING = ["Accept", "X-Custom", "X-Requested-With", "Content-Type", "X-Api-Version", "Accept-Language"]


def proxy(names: list[str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict((name, "v") for name in names))


@pytest.mark.parametrize("name", FOLDED + SPOOFING)
def test_proxy_mode_drops_it(name: str) -> None:
    assert name not in outbound_headers(proxy([name]))


@pytest.mark.parametrize("name", PASSING)
def test_ordinary_headers_pass(name: str) -> None:
    assert name in outbound_headers(proxy([name]))


@pytest.mark.parametrize("name", FOLDED + SPOOFING)
def test_decision_mode_refuses_it(name: str) -> None:
    with pytest.raises(BadRequest) as caught:
        refuse_reserved_headers(proxy([name]))
    assert caught.value.reason == "credential-header"


def test_decision_mode_accepts_ordinary_headers() -> None:
    refuse_reserved_headers(proxy(PASSING))
