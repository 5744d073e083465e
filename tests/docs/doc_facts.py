"""What the code says the docs must name: refusal reasons, config keys, scheme options; and the small
Markdown readers (tables, links, anchors) the docs tests check them with."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.errors import ConfigError
from gateway.signers import registry as signers
from tests.docs.doc_blocks import ROOT

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def code_reasons() -> set[str]:
    """Every refusal reason the gateway can emit, read off its source (the sandboxes excluded)."""
    reasons: set[str] = set()
    constants: dict[str, str] = {}
    named: set[str] = set()
    for path in (ROOT / "gateway").rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        reasons |= set(re.findall(r'\breason(?::\s*str)?\s*=\s*"([a-z0-9-]+)"', source))
        reasons |= set(re.findall(r'(?:\b_fail|\bself\._refuse)\(\s*"([a-z0-9-]+)"', source))
        named |= set(re.findall(r"\breason=([A-Z_]+)\b", source))
        constants.update(re.findall(r'^([A-Z_]+)(?::[^=]+)?\s*=\s*"([a-z0-9-]+)"\s*$', source, re.M))
    return reasons | {constants[name] for name in named if name in constants}


def table_reasons(text: str) -> set[str]:
    """Codes in the first column of every Markdown table whose first header cell is ``reason``."""
    codes: set[str] = set()
    in_table = False
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            in_table = False
        elif cells[0].lower() == "reason":
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            codes |= set(re.findall(r"`([a-z0-9-]+)`", cells[0]))
    return codes


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (fenced blocks skipped: a YAML comment is no heading)."""
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#+\s+(.*)", line)):
            found.add(slug(m.group(1)))
    return found


def source_keys(*paths: str) -> set[str]:
    """Keys a config reader asks its sections for (``s.get("rate", ...)``, ``_names(s, "opaque")``...)."""
    keys: set[str] = set()
    for path in paths:
        source = (ROOT / path).read_text(encoding="utf-8")
        keys |= set(re.findall(r'\.(?:get|section|str_list|choice|raw|has)\(\s*"(\w+)"', source))
        keys |= set(re.findall(r'_names\(\w+,\s*"(\w+)"\)', source))
    return keys


def scheme_options(scheme: str) -> set[str]:
    """The options a credential scheme accepts, as its own refusal of an unknown option lists them."""
    spec = signers.spec_for(scheme)
    assert spec is not None
    try:
        spec.factory({"docs_probe": 1}, "auth")
    except ConfigError as refused:
        allowed = re.search(r"allowed: ([^)]*)\)", refused.reason)
        assert allowed is not None, f"{scheme}: cannot read its options from {refused.reason!r}"
        return {name.strip() for name in allowed.group(1).split(",")} - {"none"}
    raise AssertionError(f"{scheme} accepted an unknown option")


def documented(text: str, name: str) -> bool:
    """``name`` appears inside a backtick span of ``text``."""
    return re.search(rf"`[^`\n]*\b{re.escape(name)}\b[^`\n]*`", text) is not None
