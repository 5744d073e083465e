"""crm-gateway frontend nginx|caddy: the printed configs route like the gateway, and the real nginx and
Caddy accept them (``nginx -t``, ``caddy adapt``). End-to-end behaviour: tests/integration/test_decision_*."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config.loader import load_config_text
from gateway.errors import ConfigError
from gateway.frontends.plan import make_plan
from tests.unit.frontends.test_frontend_cache_config import with_sections

CONFIG = """\
listen: {host: 0.0.0.0, port: 8080}
identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      algorithms: [HS256]
      hs256_secrets: [a-test-secret-that-is-long-enough-0123456789]
upstreams:
  civi:
    dialect: civicrm
    url: https://localhost/base
    match: {path_prefix: /civi}
    auth: {scheme: authx-jwt, sign_keys: 'jwt-hs256:hkdf-sha256:sign-secret'}
  civi-legacy:
    dialect: civicrm
    url: http://127.0.0.1:9001
    match: {path_prefix: /civi/legacy}
    auth: {scheme: civicrm-keys, site_key: 'site-key-0123456789'}
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9002
    match: {host: espo.example.test}
    auth: {scheme: espo-hmac}
decision:
  trusted_proxies: [127.0.0.1]
  upstreams: [civi, espo]
"""


def binary(kind: str) -> str | None:
    found = shutil.which(kind)
    if found:
        return found
    path = f"/usr/sbin/{kind}" if kind == "nginx" else f"/usr/bin/{kind}"
    return path if os.access(path, os.X_OK) else None


def require(kind: str) -> str:
    path = binary(kind)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{kind} is not installed")
        pytest.skip(f"{kind} is not installed")
    return path


def run_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str, config: str = CONFIG
) -> tuple[int, str, str]:
    path = tmp_path / "gateway.yaml"
    path.write_text(with_sections(config))
    code = main(["frontend", *args, "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_plan_follows_the_gateways_routing_order() -> None:
    plan = make_plan(load_config_text(CONFIG, "gateway.yaml"), listen="127.0.0.1:8081", gateway=None)
    assert plan.gateway == "127.0.0.1:8080"  # 0.0.0.0 is not an address to connect to
    assert [(r.upstream, r.decide) for r in plan.routes] == [
        ("espo", True),
        ("civi-legacy", False),
        ("civi", True),
    ]
    assert [(t.upstream, t.scheme, t.server, t.hostname) for t in plan.targets] == [
        ("civi", "https", "localhost:443", "localhost"),
        ("espo", "http", "127.0.0.1:9002", "127.0.0.1"),
    ]


def test_upstreams_on_their_own_gateway_port_stay_out_of_the_front_proxy() -> None:
    with_port = CONFIG.replace(
        "decision:\n",
        "  espo-root:\n    dialect: espocrm\n    url: http://127.0.0.1:9002\n"
        "    match: {port: 18081}\n    auth: {scheme: espo-hmac}\ndecision:\n",
    )
    config = load_config_text(with_port, "gateway.yaml")
    assert config.upstream("espo-root").port == 18081
    plan = make_plan(config, listen="127.0.0.1:8081", gateway=None)
    assert [r.upstream for r in plan.routes] == ["espo", "civi-legacy", "civi"]
    assert "espo-root" not in [t.upstream for t in plan.targets]


def test_nginx_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(tmp_path, capsys, "nginx", "--listen", "127.0.0.1:8081")
    assert code == 0
    modes = [line.strip() for line in out.splitlines() if line.strip().startswith('"~^')]
    assert modes == [
        '"~^1 (espo[.]example[.]test) " decide;',
        '"~^[01] [^ ]* /civi/legacy(/|$)" proxy;',
        '"~^1 [^ ]* /civi(/|$)" decide;',
    ]
    assert '"civi" https://crm_up_0;' in out and "server localhost:443;" in out
    assert "auth_request /_crm_gateway/authz;" in out
    assert "proxy_set_header X-Api-Key $crm_set_x_api_key;" in out
    assert 'proxy_set_header Cookie "";' in out
    assert "events {" in out
    _, snippet, _ = run_cli(tmp_path, capsys, "nginx", "--snippet", "--listen", "127.0.0.1:8081")
    assert "events {" not in snippet and "upstream crm_gateway {" in snippet


def test_nginx_accepts_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nginx = require("nginx")
    _, out, _ = run_cli(tmp_path, capsys, "nginx", "--listen", "127.0.0.1:8081", "--workers", "1")
    prefix = Path(tempfile.mkdtemp(prefix="crmgw-nginx-t-"))
    try:
        (prefix / "nginx.conf").write_text(out)
        done = subprocess.run(
            [nginx, "-t", "-p", str(prefix), "-c", "nginx.conf", "-e", "stderr"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
    assert done.returncode == 0, done.stderr


def test_caddy_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        tmp_path, capsys, "caddy", "--listen", "127.0.0.1:8081", "--gateway", "10.0.0.5:8080"
    )
    assert code == 0
    assert "http://:8081 {" in out and "\tbind 127.0.0.1" in out and "admin off" in out
    assert "forward_auth 10.0.0.5:8080 {" in out
    # the later lines win: the gateway's first route comes last
    order = re.findall(r"vars @crm_route_\d+ crm_mode (\w+)", out)
    assert order == ["decide", "proxy", "decide"]
    assert "reverse_proxy @crm_to_0 https://localhost:443 {" in out
    assert "header_up Host localhost\n" in out


def test_caddy_accepts_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    caddy = require("caddy")
    _, out, _ = run_cli(tmp_path, capsys, "caddy", "--listen", "127.0.0.1:8081", "--admin", "127.0.0.1:2999")
    (tmp_path / "Caddyfile").write_text(out)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [caddy, "adapt", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert '"listen":["127.0.0.1:8081"]' in done.stdout and '"uri_substring"' in done.stdout


def test_without_decision_mode_there_is_nothing_to_print(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = CONFIG[: CONFIG.index("decision:")]
    code, out, err = run_cli(tmp_path, capsys, "nginx", config=config)
    assert (code, out) == (2, "")
    assert "decision mode is off" in err


@pytest.mark.parametrize("listen", ["8081", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "a b:80"])
def test_bad_listen_address(tmp_path: Path, capsys: pytest.CaptureFixture[str], listen: str) -> None:
    code, _, err = run_cli(tmp_path, capsys, "caddy", "--listen", listen)
    assert code == 2 and "--listen must be HOST:PORT" in err


def test_a_prefix_no_front_proxy_can_match_is_refused() -> None:
    config = load_config_text(
        CONFIG.replace("path_prefix: /civi/legacy", "path_prefix: '/civi/le gacy'"), "g.yaml"
    )
    with pytest.raises(ConfigError, match="cannot match"):
        make_plan(config, listen="127.0.0.1:8081", gateway=None)
