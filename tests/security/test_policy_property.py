"""Property, through the real gateway and sandbox: random nestings never smuggle a denied entity through.

Hypothesis builds random APIv3 (chains, ``entity=api3`` batches) and APIv4 (chains, joins, dotted names,
AND/OR/NOT clauses, batches; parameter names in any case PHP accepts) requests and records every
(entity, action) it places in them. The principal may only ``get`` Contact and Email. For each request:

- forwarded to the sandbox  =>  every placed operation is a get-family action on Contact or Email;
- refused by the gateway    =>  the sandbox received nothing;
- every placed operation allowed  =>  forwarded (the generator only builds requests the gateway reads).

Hypothesis runs in a worker thread and sends each request on the test's event loop, where the gateway and
the sandbox serve it over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests.support.stack import Stack, start_stack

ONLY_READS = """
policy: only-reads
subjects: {principals: [svc-test]}
entities:
  Contact: {get: allow}
  Email: {get: allow}
"""

V4 = "/civi-jwt/civicrm/ajax/api4"
AJAX = "/civi-jwt/civicrm/ajax/rest"
FORM = "application/x-www-form-urlencoded"
ALLOWED_ENTITIES = frozenset({"Contact", "Email"})
GET_FAMILY = frozenset({"get", "getsingle", "getcount", "getvalue", "getlist"})
REFUSED = frozenset({400, 403, 405})

DENIED_ENTITIES = ["Activity", "Phone", "Address", "Note", "Contribution"]
SPELLINGS = {"Contact": ["Contact", "contact", "CONTACT"], "Email": ["Email", "email"]}
"""How clients may spell an entity name (v3 also ignores underscores: ``con_tact``)."""
V3_SPELLINGS = {"Contact": ["Contact", "contact", "con_tact"], "Email": ["Email", "EMAIL", "e_mail"]}
V3_GETS = ["get", "getsingle", "getcount"]
V3_DENIED_ACTIONS = ["create", "delete"]
V4_DENIED_ACTIONS = ["create", "update", "delete", "save", "replace"]
FOREIGN_KEYS: dict[str, dict[str, str]] = {
    "Contact": {"email_primary": "Email", "address_primary": "Address", "employer_id": "Contact"},
    "Email": {"contact_id": "Contact", "location_type_id": "LocationType"},
    "Activity": {"source_contact_id": "Contact", "campaign_id": "Campaign"},
    "Phone": {"contact_id": "Contact"},
    "Address": {"contact_id": "Contact", "country_id": "Country"},
    "Note": {"contact_id": "Contact"},
    "Contribution": {"contact_id": "Contact", "financial_type_id": "FinancialType"},
}
OPAQUE = ("<opaque>", "dotted")
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "60"))
"""A long local run: PROPERTY_EXAMPLES=5000 pytest --timeout 0 tests/security/test_policy_property.py"""
V4_KEYS = {"chain": ["chain", "Chain"], "join": ["join", "JOIN", "Join"], "select": ["select", "Select"]}


@dataclass(frozen=True)
class Shape:
    method: str
    target: str
    body: bytes | None
    placed: frozenset[tuple[str, str]]

    @property
    def permitted(self) -> bool:
        return all(e in ALLOWED_ENTITIES and a.lower() in GET_FAMILY for e, a in self.placed)


class Picker:
    """Draws the parts of one request: allowed ones, except at most one denied part (half the time),
    hidden at a random place among them, which is where a bypass would show."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.hide = draw(st.booleans())
        self.placed: set[tuple[str, str]] = set()

    def _deny_here(self) -> bool:
        if self.hide and self.draw(st.integers(0, 3)) == 0:
            self.hide = False
            return True
        return False

    def entity(self) -> str:
        pool = DENIED_ENTITIES if self._deny_here() else sorted(ALLOWED_ENTITIES)
        return self.draw(st.sampled_from(pool))

    def action(self, gets: list[str], denied: list[str]) -> str:
        return self.draw(st.sampled_from(denied if self._deny_here() else gets))

    def spelled(self, entity: str, table: dict[str, list[str]]) -> str:
        return self.draw(st.sampled_from(table.get(entity, [entity])))

    def key(self, name: str) -> str:
        return self.draw(st.sampled_from(V4_KEYS[name]))

    def count(self, most: int) -> int:
        return self.draw(st.integers(0, most))

    def dotted(self, entity: str) -> str:
        """A field of ``entity`` through 0 to 2 foreign keys, or an unknown prefix (read as opaque)."""
        path: list[str] = []
        for _ in range(self.count(2)):
            links = sorted(FOREIGN_KEYS.get(entity, {}).items())
            if self._deny_here():
                denied = [link for link in links if link[1] not in ALLOWED_ENTITIES]
                if not denied:
                    path.append("custom_group")
                    self.placed.add(OPAQUE)
                    break
                links = denied
            else:
                links = [link for link in links if link[1] in ALLOWED_ENTITIES]
            if not links:
                break
            field, entity = self.draw(st.sampled_from(links))
            path.append(field)
            self.placed.add((entity, "get"))
        return ".".join([*path, "id"])

    def clause(self, entity: str, depth: int = 0) -> list[Any]:
        kind = self.draw(st.sampled_from(["leaf", "leaf", "OR", "AND", "NOT"] if depth < 2 else ["leaf"]))
        if kind == "leaf":
            return [self.dotted(entity), "IS NOT NULL"]
        if kind == "NOT" and self.draw(st.booleans()):  # NOT of one clause: draw only the clause kept
            return [kind, self.clause(entity, depth + 1)]
        return [kind, [self.clause(entity, depth + 1) for _ in range(1 + self.count(1))]]

    def v4_call(self, depth: int) -> list[Any]:
        entity, action = self.entity(), self.action(["get"], V4_DENIED_ACTIONS)
        self.placed.add((entity, action))
        params: dict[str, Any] = {}
        if select := [self.dotted(entity) for _ in range(self.count(2))]:
            params[self.key("select")] = select
        if where := [self.clause(entity) for _ in range(self.count(2))]:
            params["where"] = where
        joins = []
        for index in range(self.count(2)):
            joined = self.entity()
            self.placed.add((joined, "get"))
            alias = f"{self.spelled(joined, SPELLINGS)} AS j{index}"
            joins.append([alias, "LEFT", [f"j{index}.id", "=", "id"]])
        if joins:
            params[self.key("join")] = joins
        chain = {f"c{i}": self.v4_call(depth + 1) for i in range(self.count(2) if depth < 2 else 0)}
        if chain:
            params[self.key("chain")] = list(chain.values()) if self.draw(st.booleans()) else chain
        return [self.spelled(entity, SPELLINGS), action, params]

    def v3_params(self, parent_action: str, depth: int) -> dict[str, Any]:
        params: dict[str, Any] = {"sequential": 1}
        for index in range(self.count(2) if depth < 2 else 0):
            entity = self.entity()
            action = self.action([*V3_GETS, ""], V3_DENIED_ACTIONS)
            self.placed.add((entity, action or parent_action))
            child = self.v3_params(action or parent_action, depth + 1)
            sep = self.draw(st.sampled_from([".", "_"]))
            # With "_" as the separator an underscore in the name would split it (as on the server).
            name = self.spelled(entity, V3_SPELLINGS if sep == "." else SPELLINGS)
            params[sep.join(["api", name, action, str(index)])] = self.draw(st.sampled_from([child, [child]]))
        return params

    def v3_call(self, depth: int) -> list[Any]:
        entity, action = self.entity(), self.action(V3_GETS, V3_DENIED_ACTIONS)
        self.placed.add((entity, action))
        return [self.spelled(entity, V3_SPELLINGS), action, self.v3_params(action, depth)]


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    pick = Picker(draw)
    kind = draw(st.sampled_from(["v4", "v4", "v4", "v4-batch", "v3", "v3-batch"]))
    if kind == "v4":
        entity, action, params = pick.v4_call(0)
        encoded = urlencode({"params": json.dumps(params)})
        if action == "get" and draw(st.booleans()):
            return Shape("GET", f"{V4}/{entity}/{action}?{encoded}", None, frozenset(pick.placed))
        return Shape("POST", f"{V4}/{entity}/{action}", encoded.encode(), frozenset(pick.placed))
    if kind == "v4-batch":
        calls: dict[str, Any] = {}
        for index in range(1 + pick.count(2)):
            call = pick.v4_call(1)
            named = dict(zip(("entity", "action", "params"), call, strict=True))
            calls[f"k{index}"] = named if draw(st.booleans()) else call
        return Shape("POST", V4, urlencode({"calls": json.dumps(calls)}).encode(), frozenset(pick.placed))
    if kind == "v3":
        entity, action, params = pick.v3_call(0)
        form = {"entity": entity, "action": action, "json": json.dumps(params)}
        return Shape("POST", AJAX, urlencode(form).encode(), frozenset(pick.placed))
    batch = [pick.v3_call(1) for _ in range(1 + pick.count(2))]
    form = {"entity": "api3", "action": "call", "json": json.dumps(batch)}
    return Shape("POST", AJAX, urlencode(form).encode(), frozenset(pick.placed))


async def exchange(stack: Stack, shape: Shape) -> tuple[int, str, int]:
    before = len(stack.civi_received)
    headers = stack.bearer()
    if shape.body is not None:
        headers["Content-Type"] = FORM
    url = URL(str(stack.client.make_url("")).rstrip("/") + shape.target, encoded=True)
    async with stack.client.session.request(shape.method, url, data=shape.body, headers=headers) as resp:
        return resp.status, await resp.text(), len(stack.civi_received) - before


async def test_random_nestings_never_let_a_denied_entity_through(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path, policies={"only-reads": ONLY_READS})
    loop = asyncio.get_running_loop()
    outcomes = {"forwarded": 0, "refused": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(shape=shapes())
    def check(shape: Shape) -> None:
        status, body, received = asyncio.run_coroutine_threadsafe(exchange(stack, shape), loop).result(10)
        assert received in (0, 1)
        if received:
            outcomes["forwarded"] += 1
            assert shape.permitted, f"forwarded although it places {sorted(shape.placed)}"
        else:
            outcomes["refused"] += 1
            assert status in REFUSED, body
            assert not shape.permitted, f"refused ({body}) although it only reads Contact and Email"

    await loop.run_in_executor(None, check)
    assert outcomes["forwarded"] > 0 and outcomes["refused"] > 0, outcomes


def test_quote_keeps_json_intact() -> None:
    """The GET shapes carry JSON in the query: it must survive the trip (guards the generator itself)."""
    params = {"where": [["contact_id.id", "IS NOT NULL"]]}
    assert json.loads(URL(f"/x?params={quote(json.dumps(params))}", encoded=True).query["params"]) == params
