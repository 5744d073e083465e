"""No import cycles: between modules none at all; between sub-packages none beyond the one known knot,
which may only shrink. A small walk over the ``import`` statements of gateway/ (typing-only imports
included: a cycle that only type checking sees is still a cycle in the design)."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "gateway"
KNOWN_PACKAGE_KNOT = frozenset(
    {
        # config.model holds built objects (PolicySet, signers, dialects) and policy/identity/ratelimit/
        # proxy read config values; dialects and identity need each other for CRM look-ups. Issue 11,
        # "config is plain data", unties it: remove a name here as soon as it leaves the knot.
        # gateway.answers joined it through proxy.forward -> answers.relay and answers.headers ->
        # proxy.headers (the header tables could live in one of the two).
        "gateway.answers",
        # gateway.auth and gateway.revocation: auth.authenticator -> revocation.checker ->
        # auth.principal, and revocation.redis_store -> ratelimit.redis (a shared redis URL parser).
        "gateway.auth",
        "gateway.revocation",
        "gateway.config",
        "gateway.dialects",
        "gateway.identity",
        "gateway.observability",
        "gateway.policy",
        "gateway.proxy",
        "gateway.ratelimit",
    }
)


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    """The gateway modules ``path`` imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("gateway"):
                yield name


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {t for t in imported(path, known) if t != name} for name, path in known.items()}


def cycles(edges: Mapping[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (ROOT / parts[-1]).is_dir() else None


def test_no_module_imports_itself_back() -> None:
    assert cycles(graph()) == []


def test_no_new_package_cycle_and_the_known_knot_only_shrinks() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in graph().items():
        source = package_of(module)
        if source is None:
            continue
        packages.setdefault(source, set()).update(
            t for t in map(package_of, targets) if t is not None and t != source
        )
    knots = cycles(packages)
    assert all(knot <= KNOWN_PACKAGE_KNOT for knot in knots), knots
    untied = KNOWN_PACKAGE_KNOT - set().union(*knots)
    assert not untied, f"no longer in a cycle: remove {sorted(untied)} from KNOWN_PACKAGE_KNOT"


def test_the_walk_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []
