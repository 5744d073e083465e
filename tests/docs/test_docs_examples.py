"""The docs cannot rot: every config and policy example in docs/*.md loads, every shown command gives the
output shown, every metric, reason code, config key and cited test the docs name exists, and the links
of README.md and docs/ resolve.

How a doc marks its examples: the info string of a fenced block is ``<language> <kind> [key=value...]``.

- ``yaml gateway``: a complete gateway.yaml; it must load (``load_config_text``).
- ``yaml gateway-fragment``: some top-level sections of a gateway.yaml; the sections it lacks come from
  ``BASE`` (upstreams ``civi``, ``civi-legacy``: civicrm; ``espo``: espocrm), then it must load.
- ``yaml gateway-invalid``: a gateway.yaml that must be refused (a ``run`` block shows the error).
- ``yaml policy``: a policy file (one policy or a list); ``policies_from_documents`` for the upstreams
  ``civi``, ``civi-legacy`` (civicrm) and ``espo`` (espocrm) must compile it.
- ``yaml policy-invalid``: a policy file that must be refused.
- ``yaml other``: any other YAML (Kubernetes, Prometheus...); it only has to parse.
- ``console run``: ``$ crm-gateway ...`` (one command; a trailing ``\\`` continues it) then its exact
  output, stderr before stdout; it runs in the doc's workspace.

Attributes: ``file=PATH`` also writes the block to PATH in the doc's workspace, where ``run`` blocks run
(the workspace stands in for ``/etc/crm-gateway`` in commands and output); ``warnings=N``: the example gets
exactly N ``crm-gateway check`` warnings (default 0); ``exit=N``: the command's exit status (default 0).
Every ``${env:...}``/``${file:...}`` gets a value fit for where it is used (a PEM for the issuer's
algorithm, a CIVICRM_SIGN_KEYS string, a URL...); policies a config names but the doc does not provide
get a placeholder. A ```` ```yaml ```` block without a kind (allowed outside OWN_DOCS) is tested by its
shape: a ``policy:`` mapping as a policy, a mapping of gateway.yaml sections as a config or fragment.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.config.loader import load_config_text
from gateway.config.model import GatewayConfig
from gateway.configfile.source import load_yaml_text
from gateway.dialects.civicrm import dialect as civicrm
from gateway.dialects.espocrm import dialect as espocrm
from gateway.errors import ConfigError
from gateway.observability.metrics import GatewayMetrics
from gateway.policy.policies import policies_from_documents
from gateway.signers import registry as signers
from tests.docs.doc_blocks import (
    DOCS,
    ROOT,
    YAML_KINDS,
    Block,
    Workspace,
    all_docs,
    blocks,
    provide_policies,
    top_level_keys,
)
from tests.docs.doc_facts import (
    LINK,
    anchors,
    code_reasons,
    documented,
    scheme_options,
    source_keys,
    table_reasons,
)

OWN_DOCS = ("configuration.md", "schemes.md", "policies.md", "migration.md", "operations.md", "security.md")
PENDING_DOCS = frozenset({"performance.md", "decision-mode.md"})
"""Written in parallel with these docs: a link to them may resolve only once they land."""
UPSTREAMS = {"civi": "civicrm", "civi-legacy": "civicrm", "espo": "espocrm"}
BASE = {
    "identity": """\
identity:
  issuers:
    - issuer: https://idp.example.org/realms/crm
      audiences: [crm-gateway]
      jwks_url: https://idp.example.org/realms/crm/protocol/openid-connect/certs
""",
    "upstreams": """\
upstreams:
  civi:
    dialect: civicrm
    url: https://crm.example.org
    match: {path_prefix: /civi}
    auth: {scheme: authx-jwt, sign_keys: "${env:DOCS_BASE_SIGN_KEYS}"}
  civi-legacy:
    dialect: civicrm
    url: https://crm.example.org
    match: {path_prefix: /civi-legacy}
    auth: {scheme: civicrm-keys, site_key: "${env:DOCS_BASE_SITE_KEY}"}
  espo:
    dialect: espocrm
    url: https://espo.example.org
    match: {path_prefix: /espo}
    auth: {scheme: espo-hmac}
""",
}
WORKSPACE_ALIAS = "/etc/crm-gateway"

ALL_BLOCKS = [b for doc in all_docs() for b in blocks(doc)]
YAML_BLOCKS = [b for b in ALL_BLOCKS if b.lang in ("yaml", "yml")]
RUN_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "console" and b.kind == "run"]


# -- the doc workspaces ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Workspace]:
    return {doc: Workspace(doc, tmp_path_factory.mktemp(doc.stem)) for doc in all_docs()}


def _fail_at(block: Block, exc: ConfigError, file: str) -> None:
    lines = block.text.count("\n")
    inside = exc.file == file and exc.line is not None and exc.line <= lines
    where = block.at(exc.line) if inside else f"{block.name} (reported at {exc.file}:{exc.line})"
    pytest.fail(f"{where}: {exc.key}: {exc.reason}" if exc.key else f"{where}: {exc.reason}", pytrace=False)


def _count_warnings(block: Block, found: list[str]) -> None:
    wanted = int(block.attrs.get("warnings", "0"))
    if len(found) != wanted:
        listed = "\n  ".join(found) or "(none)"
        pytest.fail(f"{block.name}: expected {wanted} warning(s), got:\n  {listed}", pytrace=False)


def _gateway_text(block: Block, kind: str) -> str:
    if kind != "gateway-fragment":
        return block.text
    present = set(block.data())
    return block.text + "".join(text for key, text in BASE.items() if key not in present)


def _load_gateway(block: Block, kind: str, ws: Workspace) -> GatewayConfig:
    where, secrets = ws.block_dir(block)
    config = where / block.attrs.get("file", "gateway.yaml")
    text = provide_policies(secrets.prepare(_gateway_text(block, kind)), config.parent)
    try:
        return load_config_text(text, str(config), secrets.environ)
    except ConfigError as exc:
        _fail_at(block, exc, str(config))
        raise


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.name for b in YAML_BLOCKS])
def test_yaml_example_loads(block: Block, workspaces: dict[Path, Workspace]) -> None:
    try:
        block.data()
    except yaml.YAMLError as exc:
        pytest.fail(f"{block.name}: not YAML: {exc}", pytrace=False)
    kind = block.yaml_kind()
    if block.kind in ("gateway", "gateway-fragment", "policy"):
        assert block.shape() == block.kind, f"{block.name}: marked {block.kind}, shaped like {block.shape()}"
    ws = workspaces[block.doc]
    if kind in ("gateway", "gateway-fragment"):
        config = _load_gateway(block, kind, ws)
        _count_warnings(block, [*config.warnings, *(str(i) for i in config.policies.lint())])
    elif kind == "gateway-invalid":
        where, secrets = ws.block_dir(block)
        config_file = str(where / block.attrs.get("file", "gateway.yaml"))
        text = provide_policies(secrets.prepare(block.text), where)
        with pytest.raises(ConfigError):
            load_config_text(text, config_file, secrets.environ)
    elif kind == "policy-invalid":
        with pytest.raises(ConfigError):
            policies_from_documents([("<block>", load_yaml_text(block.text, "<block>"))], UPSTREAMS)
    elif kind == "policy":
        try:
            document = load_yaml_text(block.text, "<block>")
            policies = policies_from_documents([("<block>", document)], UPSTREAMS)
        except ConfigError as exc:
            _fail_at(block, exc, "<block>")
            raise
        _count_warnings(block, [str(issue) for issue in policies.lint()])


@pytest.mark.parametrize("doc", [DOCS / name for name in OWN_DOCS], ids=list(OWN_DOCS))
def test_every_yaml_block_of_these_docs_says_what_it_is(doc: Path) -> None:
    unmarked = [b.name for b in blocks(doc) if b.lang in ("yaml", "yml") and b.kind not in YAML_KINDS]
    assert not unmarked, f"mark these blocks with one of {', '.join(YAML_KINDS)}: {unmarked}"


# -- commands and their output -----------------------------------------------------------------------


def _command(block: Block) -> tuple[list[str], str]:
    lines = block.text.splitlines()
    assert lines and lines[0].startswith("$ crm-gateway "), f"{block.name}: start with '$ crm-gateway ...'"
    command = lines[0][2:]
    rest = lines[1:]
    while command.endswith("\\") and rest:
        command = command[:-1] + " " + rest.pop(0).strip()
    return shlex.split(command)[1:], "\n".join(rest)


def _tidy(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.name for b in RUN_BLOCKS])
def test_command_gives_the_output_shown(
    block: Block,
    workspaces: dict[Path, Workspace],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = workspaces[block.doc]
    argv, expected = _command(block)
    argv = [arg.replace(WORKSPACE_ALIAS, str(ws.files)) for arg in argv]
    for name, value in ws.secrets.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ws.files)
    status = main(argv)
    captured = capsys.readouterr()
    actual = (captured.err + captured.out).replace(str(ws.files), WORKSPACE_ALIAS)
    assert _tidy(actual) == _tidy(expected), f"{block.name}: the output differs"
    assert status == int(block.attrs.get("exit", "0")), f"{block.name}: exit status {status}"


# -- names the docs use exist ------------------------------------------------------------------------


def _docs_text(names: tuple[str, ...] | None = None) -> dict[Path, str]:
    docs = all_docs() if names is None else [DOCS / n for n in names]
    return {doc: doc.read_text(encoding="utf-8") for doc in docs if doc.exists()}


def test_every_metric_the_docs_name_exists() -> None:
    samples = GatewayMetrics().sample_names()
    known = samples | {s.removesuffix(suffix) for s in samples for suffix in ("_total", "_bucket")}
    texts = {**_docs_text(), ROOT / "README.md": (ROOT / "README.md").read_text(encoding="utf-8")}
    unknown = {
        f"{doc.relative_to(ROOT)}: {name}"
        for doc, text in texts.items()
        for name in re.findall(r"\bcrmgw_[a-z0-9_]*[a-z0-9]", text)
        if name not in known
    }
    assert not unknown, f"metrics the code does not define: {sorted(unknown)}"


def test_reason_codes_in_the_docs_exist_and_every_one_is_documented() -> None:
    emitted = code_reasons()
    assert {"policy-denied", "missing-token", "rate-limited", "no-route"} <= emitted, "reason scan is broken"
    for doc, text in _docs_text().items():
        unknown = table_reasons(text) - emitted
        where = doc.relative_to(ROOT)
        assert not unknown, f"{where} documents reasons the code never gives: {sorted(unknown)}"
    missing = emitted - table_reasons((DOCS / "operations.md").read_text(encoding="utf-8"))
    assert not missing, f"docs/operations.md lacks a row for: {sorted(missing)}"


@pytest.mark.parametrize("doc", [ROOT / "README.md", *all_docs()], ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.exists():
            if path.parent == DOCS and path.name in PENDING_DOCS:
                continue
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)}: broken links {broken}"


def test_readme_lists_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"\(docs/([\w.-]+\.md)\)", section))
    assert set(OWN_DOCS) <= listed, f"README's Documentation list lacks {sorted(set(OWN_DOCS) - listed)}"


def test_cited_tests_exist() -> None:
    missing = []
    for doc, text in _docs_text().items():
        for path, name in re.findall(r"(tests/[\w/.-]+\.py)(?:::(\w+))?", text):
            file = ROOT / path
            if not file.exists() or (name and not re.search(rf"def {name}\b", file.read_text("utf-8"))):
                missing.append(f"{doc.name}: {path}{'::' + name if name else ''}")
    assert not missing, f"cited tests that do not exist: {missing}"


# -- every key and option is documented --------------------------------------------------------------


def _undocumented(doc: str, names: set[str]) -> list[str]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return sorted(name for name in names if not documented(text, name))


def test_configuration_documents_every_key() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("#")]
    no_heading = [k for k in top_level_keys() if not any(f"`{k}" in h for h in headings)]
    assert not no_heading, f"configuration.md has no section for: {sorted(no_heading)}"
    sections = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "gateway" / "decision").glob("config.py"))
    keys = source_keys("gateway/config/loader.py", "gateway/policy/limits.py", *sections)
    dialect_options: set[str] = {*civicrm._OPTIONS, *espocrm._KNOWN_OPTIONS}
    auth: set[str] = set()
    for scheme in signers.schemes():
        spec = signers.spec_for(scheme)
        assert spec is not None
        auth |= scheme_options(scheme) | set(spec.identity_fields) | {scheme}
    missing = _undocumented("configuration.md", keys | dialect_options | auth)
    assert not missing, f"configuration.md never names: {missing}"


def test_schemes_documents_every_scheme_its_options_and_identity_fields() -> None:
    for scheme in signers.schemes():
        spec = signers.spec_for(scheme)
        assert spec is not None
        text = (DOCS / "schemes.md").read_text(encoding="utf-8")
        assert re.search(rf"^#+ .*`{re.escape(scheme)}`", text, re.M), f"schemes.md: no section for {scheme}"
        missing = _undocumented("schemes.md", scheme_options(scheme) | set(spec.identity_fields))
        assert not missing, f"schemes.md: {scheme}: never names {missing}"


def test_policies_documents_every_policy_key() -> None:
    policy_sources = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "gateway" / "policy").glob("*.py"))]
    missing = _undocumented("policies.md", source_keys(*policy_sources))
    assert not missing, f"policies.md never names: {missing}"
