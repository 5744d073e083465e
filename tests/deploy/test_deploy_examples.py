"""deploy/gateway.yaml and deploy/policies: loaded by the real loader, checked by the real CLI, and the
example policies decide what their comments say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.config.loader import load_config
from tests.deploy.deploy_support import (
    DEPLOY_CONFIG,
    DEPLOY_POLICIES,
    FILE_REF,
    REPO,
    load_yaml,
    materialize_deploy_config,
)


def test_deploy_config_loads_with_every_secret_from_a_file(tmp_path: Path) -> None:
    path, written = materialize_deploy_config(tmp_path)
    config = load_config(path, environ={})

    assert config.warnings == ()
    assert (config.listen.host, config.listen.port) == ("0.0.0.0", 8080)
    assert (config.observability.admin_host, config.observability.admin_port) == ("0.0.0.0", 9090)
    [issuer] = config.auth.issuers
    assert issuer.jwks_url is not None and issuer.jwks_url.startswith("https://")
    assert issuer.static_keys == () and issuer.hs256_secrets == ()
    assert {(u.name, u.dialect_name, u.scheme) for u in config.upstreams} == {
        ("civi", "civicrm", "authx-jwt"),
        ("espo", "espocrm", "espo-hmac"),
    }
    assert config.ratelimit.backend == "redis"
    assert config.ratelimit.on_error == "local"
    assert config.ratelimit.url is not None
    assert {p.name for p in config.policies.policies} == {"newsletter-sync", "reporting", "sales-sync"}
    assert config.secrets, "the example has secrets"
    assert all(s.source.startswith(f"file:{tmp_path}/secrets/") for s in config.secrets)
    redis_url = written.pop(str(tmp_path / "secrets" / "redis" / "url"))
    assert config.ratelimit.url.reveal() == redis_url
    assert {s.reveal() for s in config.secrets} == set(written.values())


def test_deploy_config_names_only_run_secrets_files() -> None:
    text = DEPLOY_CONFIG.read_text(encoding="utf-8")
    refs = FILE_REF.findall(text)
    assert refs, "secrets come from files"
    assert all(ref.startswith("/run/secrets/") for ref in refs)
    assert "${env:" not in text


def test_crm_gateway_check_accepts_the_deploy_config(tmp_path: Path) -> None:
    path, written = materialize_deploy_config(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "--strict", "--config", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ok: {path}: 2 upstream(s)")
    assert "3 identity rule(s)" in done.stdout
    for value in written.values():
        assert value not in done.stdout + done.stderr


def test_crm_gateway_check_names_a_missing_secret_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = materialize_deploy_config(tmp_path)
    (tmp_path / "secrets" / "civicrm" / "sign-keys").unlink()
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "upstreams.civi.auth.sign_keys" in err
    assert "cannot read secret file" in err


def _policy_documents() -> list[dict[str, Any]]:
    docs = [load_yaml(p) for p in sorted(DEPLOY_POLICIES.glob("*.yaml"))]
    assert all(isinstance(d, dict) for d in docs)
    return docs  # type: ignore[return-value]


def test_every_example_principal_has_an_identity_on_each_upstream_of_its_policy() -> None:
    loaded = load_yaml(DEPLOY_CONFIG)
    assert isinstance(loaded, dict)
    config: dict[str, Any] = loaded
    identities = {rule["match"]["sub"]: set(rule) - {"match"} for rule in config["identities"]}
    for doc in _policy_documents():
        principals = doc["subjects"]["principals"]
        upstreams = set(doc.get("upstreams", config["upstreams"]))
        for principal in principals:
            assert principal in identities, f"{doc['policy']}: no identity rule for {principal}"
            assert upstreams <= identities[principal], f"{doc['policy']}: {principal} lacks a CRM identity"


CIVI_V4 = "/civi/civicrm/ajax/api4"
DECISIONS = [
    ("svc-newsletter", "GET", f"{CIVI_V4}/Contact/get", None, "allow"),
    ("svc-newsletter", "POST", f"{CIVI_V4}/Contact/create", 'params={"values":{"first_name":"A"}}', "allow"),
    ("svc-newsletter", "POST", f"{CIVI_V4}/Contact/delete", 'params={"where":[["id","=",1]]}', "deny"),
    ("svc-newsletter", "POST", f"{CIVI_V4}/GroupContact/create", 'params={"values":{"group_id":1}}', "allow"),
    (
        "svc-newsletter",
        "GET",
        f"{CIVI_V4}/Contact/get?params=%7B%22select%22%3A%5B%22api_key%22%5D%7D",
        None,
        "deny",
    ),
    ("svc-newsletter", "GET", "/espo/api/v1/Lead", None, "deny"),
    ("svc-sales-sync", "GET", "/espo/api/v1/Lead", None, "allow"),
    ("svc-sales-sync", "POST", "/espo/api/v1/Lead", '{"name":"x"}', "allow"),
    ("svc-sales-sync", "DELETE", "/espo/api/v1/Lead/abc", None, "deny"),
    ("svc-sales-sync", "GET", "/espo/api/v1/Account/abc/contacts", None, "allow"),
    ("svc-sales-sync", "GET", f"{CIVI_V4}/Contact/get", None, "deny"),
    ("svc-reporting", "GET", f"{CIVI_V4}/Activity/get", None, "allow"),
    ("svc-reporting", "POST", f"{CIVI_V4}/Activity/create", 'params={"values":{}}', "deny"),
    ("svc-reporting", "GET", "/espo/api/v1/Opportunity", None, "allow"),
    ("svc-reporting", "PUT", "/espo/api/v1/Opportunity/abc", '{"name":"x"}', "deny"),
    ("svc-unknown", "GET", f"{CIVI_V4}/Contact/get", None, "deny"),
]


@pytest.mark.parametrize(("sub", "method", "url", "data", "decision"), DECISIONS)
def test_example_policies_decide_as_documented(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sub: str,
    method: str,
    url: str,
    data: str | None,
    decision: str,
) -> None:
    path, _ = materialize_deploy_config(tmp_path)
    argv = ["explain", "--config", str(path), "--sub", sub, method, url]
    if data is not None:
        argv[1:1] = ["--data", data]
        if data.startswith("{"):
            argv[1:1] = ["--content-type", "application/json"]
    code = main(argv)
    report = json.loads(capsys.readouterr().out)
    assert report["decision"] == decision, report
    assert code == (0 if decision == "allow" else 1)
