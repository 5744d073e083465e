"""The fenced blocks of the Markdown docs, what kind of example each is, and the values their
``${env:...}`` / ``${file:...}`` references need to load. Used by test_docs_examples.py, which documents
the block conventions."""

from __future__ import annotations

import functools
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.auth.keys import ASYMMETRIC_ALGORITHMS
from gateway.auth.token_mint import generate_dev_key

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LOADER = ROOT / "gateway" / "config" / "loader.py"

YAML_KINDS = ("gateway", "gateway-fragment", "gateway-invalid", "policy", "policy-invalid", "other")
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>.*)$")
_REF = re.compile(r"\$\{(env|file):([^}]+)\}")
_ABSOLUTE_FILE_REF = re.compile(r"\$\{file:\s*/")


def top_level_keys() -> frozenset[str]:
    """The top-level keys of gateway.yaml, read off the loader (``root.section("listen", ...)``...)."""
    return frozenset(re.findall(r'\broot\.\w+\(\s*"(\w+)"', LOADER.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    """1-based line (in ``doc``) of the block's first content line."""
    lang: str
    kind: str
    """The marker after the language (``gateway``, ``policy``, ``run``...), or ``""`` when unmarked."""
    attrs: dict[str, str]
    text: str

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    def at(self, block_line: int | None) -> str:
        """``doc:line`` of a 1-based line inside the block (the block's start when unknown)."""
        offset = block_line - 1 if block_line is not None and block_line >= 1 else 0
        return f"{self.doc.relative_to(ROOT)}:{self.line + offset}"

    def data(self) -> Any:
        return yaml.safe_load(self.text)

    def shape(self) -> str:
        """What the YAML looks like: policy, gateway, gateway-fragment or other."""
        try:
            data = self.data()
        except yaml.YAMLError:
            return "other"
        items = data if isinstance(data, list) else [data]
        if items and all(isinstance(item, dict) and "policy" in item for item in items):
            return "policy"
        if isinstance(data, dict) and data and set(data) <= top_level_keys():
            return "gateway" if {"identity", "upstreams"} <= set(data) else "gateway-fragment"
        return "other"

    def yaml_kind(self) -> str:
        """The marker, or the shape of an unmarked YAML block."""
        return self.kind if self.kind in YAML_KINDS else self.shape()


def blocks(doc: Path) -> list[Block]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        words = opening["info"].split()
        body: list[str] = []
        while index < len(lines) and not lines[index].strip().startswith(fence):
            line = lines[index]
            body.append(line[indent:] if not indent or line[:indent].isspace() else line.lstrip())
            index += 1
        start = index - len(body) + 1
        index += 1
        lang = words[0].lower() if words else ""
        kind = words[1] if len(words) > 1 and "=" not in words[1] else ""
        attrs = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        out.append(Block(doc, start, lang, kind, attrs, "\n".join(body) + "\n"))
    return out


def all_docs() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


# -- secret references ---------------------------------------------------------------------------


@functools.cache
def _dev_key(algorithm: str) -> tuple[str, str]:
    """(public PEM, public JWK JSON) for ``algorithm``; cached: RSA generation is slow."""
    from cryptography.hazmat.primitives import serialization

    private_pem, jwk = generate_dev_key(algorithm)
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode(), json.dumps({k: v for k, v in jwk.items() if k != "kid"})


@dataclass
class Secrets:
    """Provides every reference of the blocks it prepares: environment values and files under ``root``
    (an absolute ``${file:/x}`` is moved to ``<root>/abs/x``), each value fit for where it is used."""

    root: Path
    environ: dict[str, str] = field(default_factory=dict)

    def prepare(self, text: str) -> str:
        text = _ABSOLUTE_FILE_REF.sub(lambda _: "${file:" + str(self.root / "abs") + "/", text)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            return text
        self._walk(data, data, ())
        return text

    def _walk(self, root: Any, node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                self._walk(root, value, (*path, str(key)))
        elif isinstance(node, list):
            for position, value in enumerate(node):
                self._walk(root, value, (*path, position))
        elif isinstance(node, str):
            for ref in _REF.finditer(node):
                whole = ref.group(0) == node.strip()
                value = self._value(root, path) if whole else secrets.token_hex(8)
                self._provide(ref.group(1), ref.group(2).strip(), value)

    def _value(self, root: Any, path: tuple[Any, ...]) -> str:
        last = path[-1] if path else ""
        if last in ("pem", "jwk") and "keys" in path:
            issuer = root["identity"]["issuers"][path[2]]
            wanted = issuer.get("algorithms", ["RS256", "ES256"])
            wanted = [wanted] if isinstance(wanted, str) else wanted
            algorithm = next((a for a in wanted if a in ASYMMETRIC_ALGORITHMS), "RS256")
            pem, jwk = _dev_key(algorithm)
            return pem if last == "pem" else jwk
        if last == "private_key" and "introspection" in path:
            algorithm = root["identity"]["issuers"][path[2]]["introspection"].get(
                "assertion_algorithm", "RS256"
            )
            return generate_dev_key(algorithm)[0]
        if last == "sign_keys":
            return "jwt-hs256:hkdf-sha256:" + secrets.token_hex(16)
        if last == "jwks_url":
            return "https://idp.example.org/realms/crm/protocol/openid-connect/certs"
        if last == "url":
            return "redis://127.0.0.1:6379/0" if path[0] == "ratelimit" else "https://crm.example.org"
        if "hs256_secrets" in path:
            return secrets.token_hex(32)
        return secrets.token_hex(16)

    def _provide(self, kind: str, name: str, value: str) -> None:
        if kind == "env":
            self.environ.setdefault(name, value)
            return
        path = Path(name) if Path(name).is_absolute() else self.root / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(value + "\n", encoding="utf-8")


PLACEHOLDER_POLICY = """\
policy: docs-placeholder-{number}
subjects: {roles: [docs-placeholder]}
entities:
  "*": {meta: allow}
"""


_PLACEHOLDERS = itertools.count(1)


def provide_policies(config_text: str, config_dir: Path) -> str:
    """Create a placeholder policy wherever the config's ``policies:`` entries name nothing yet; an
    absolute entry is moved under ``<config_dir>/abs``. Returns the config text to load."""
    try:
        data = yaml.safe_load(config_text)
    except yaml.YAMLError:
        return config_text
    entries = data.get("policies") if isinstance(data, dict) else None
    for entry in [entries] if isinstance(entries, str) else entries or []:
        if not isinstance(entry, str):
            continue
        if Path(entry).is_absolute():
            moved = str(config_dir / "abs") + entry
            config_text = config_text.replace(entry, moved)
            entry = moved
        path = Path(entry) if Path(entry).is_absolute() else config_dir / entry
        if any(ch in entry for ch in "*?["):
            path = path.parent / path.name.replace("*", "docs-placeholder").replace("?", "x")
        elif entry.endswith("/") or not path.suffix:
            path.mkdir(parents=True, exist_ok=True)
            if any(path.glob("*.y*ml")):
                continue
            path = path / "docs-placeholder.yaml"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            policy = PLACEHOLDER_POLICY.replace("{number}", str(next(_PLACEHOLDERS)))
            path.write_text(policy, encoding="utf-8")
    return config_text


class Workspace:
    """One directory per doc: its ``file=`` blocks, their secrets, and a directory per other block."""

    def __init__(self, doc: Path, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.secrets = Secrets(self.files)
        for block in blocks(doc):
            if "file" in block.attrs and block.lang in ("yaml", "yml"):
                target = self.files / block.attrs["file"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(self.secrets.prepare(block.text), encoding="utf-8")

    def block_dir(self, block: Block) -> tuple[Path, Secrets]:
        if "file" in block.attrs:
            return self.files, self.secrets
        where = self.root / f"line-{block.line}"
        where.mkdir(parents=True, exist_ok=True)
        return where, Secrets(where)
