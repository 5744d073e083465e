"""The indexed Espo route matcher gives exactly what a linear FastRoute-order scan of the table gives."""

from __future__ import annotations

import random

import pytest

from gateway.dialects.espocrm.routes import ROUTES, RouteMatch, _bind, match_route


def _scan(method: str, segments: list[str]) -> RouteMatch | None:
    candidates = [route for route in ROUTES if route.method == method]
    for static_pass in (True, False):
        for route in candidates:
            if route.static is not static_pass:
                continue
            params = _bind(route, segments)
            if params is not None:
                return RouteMatch(route, params)
    return None


def linear_match(method: str, path: str) -> RouteMatch | None:
    segments = [] if path == "/" else path[1:].split("/")
    found = _scan(method, segments)
    if found is None and method == "HEAD":
        found = _scan("GET", segments)
    return found


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
WORDS = sorted({seg.lstrip(":") for route in ROUTES for seg in route.segments} | {"", "Lead", "abc"})


def _paths() -> list[str]:
    rng = random.Random(6)
    paths = ["/", "//", "/Lead/", "/Lead//abc", "/Note/x/pin/"]
    for route in ROUTES:
        for _ in range(3):
            filled = (rng.choice(WORDS) if seg.startswith(":") else seg for seg in route.segments)
            paths.append("/" + "/".join(filled))
    for _ in range(3000):
        paths.append("/" + "/".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6))))
    return paths


@pytest.mark.parametrize("method", METHODS)
def test_index_matches_linear_scan(method: str) -> None:
    for path in _paths():
        assert match_route(method, path) == linear_match(method, path), path


@pytest.mark.parametrize(
    ("method", "path", "pattern", "params"),
    [
        ("GET", "/Activities", "/Activities", {}),
        ("GET", "/Activities/upcoming", "/Activities/upcoming", {}),
        (
            "GET",
            "/Lead/action/merge",
            "/:controller/action/:action",
            {"controller": "Lead", "action": "merge"},
        ),
        (
            "GET",
            "/Lead/abc/action",
            "/:controller/:id/:link",
            {"controller": "Lead", "id": "abc", "link": "action"},
        ),
        ("POST", "/Note/n1/pin", "/Note/:id/pin", {"id": "n1"}),
        ("POST", "/Lead/n1/pin", "/:controller/:id/:link", {"controller": "Lead", "id": "n1", "link": "pin"}),
        ("HEAD", "/Lead/abc", "/:controller/:id", {"controller": "Lead", "id": "abc"}),
    ],
)
def test_static_first_then_registration_order(
    method: str, path: str, pattern: str, params: dict[str, str]
) -> None:
    found = match_route(method, path)
    assert found is not None
    assert (found.route.pattern, found.params) == (pattern, params)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/Lead//x"), ("TRACE", "/Lead"), ("GET", "/a/b/c/d/e/f/g")]
)
def test_no_route(method: str, path: str) -> None:
    assert match_route(method, path) is None
