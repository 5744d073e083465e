"""``crm-gateway frontend nginx --decision-cache-seconds N``: the config text, the TTL bounds, the warnings,
and ``nginx -t``. End to end with a real nginx: tests/integration/test_decision_cache.py."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config.loader import load_config_text
from gateway.errors import ConfigError
from gateway.frontends import nginx
from gateway.frontends.cache import KEY, MAX_SECONDS, DecisionCache, checked_seconds, rate_limit_warning
from gateway.frontends.plan import make_plan
from tests.integration.test_decision_support import require

BASE = """\
listen: {{host: 127.0.0.1, port: 8080}}
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
    match: {{path_prefix: /civi}}
    auth: {{scheme: authx-jwt, sign_keys: 'jwt-hs256:hkdf-sha256:sign-secret'{jwt}}}
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9002
    match: {{host: espo.example.test}}
    auth: {{scheme: espo-hmac}}
{extra}decision:
  trusted_proxies: [127.0.0.1]
  upstreams: [{decided}]
"""
LIMITED = "ratelimit:\n  limits:\n    - {name: all, rate: 100/s}\n"


def config_text(*, jwt: str = "", decided: str = "civi, espo", extra: str = "") -> str:
    return BASE.format(jwt=jwt, decided=decided, extra=extra)


def with_sections(text: str) -> str:
    """A config file must name its identities and policies (``[]`` for none)."""
    missing = [name for name in ("identities", "policies") if f"\n{name}:" not in f"\n{text}"]
    return text + "".join(f"{name}: []\n" for name in missing)


def run_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str, text: str | None = None
) -> tuple[int, str, str]:
    path = tmp_path / "gateway.yaml"
    path.write_text(with_sections(text if text is not None else config_text()))
    code = main(["frontend", *args, "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


# (authx-jwt options, decided upstreams, largest TTL accepted)
BOUNDS = [
    ("", "civi, espo", 29),  # ttl 300, reuse: 30 s margin
    (", ttl_seconds: 10", "civi, espo", 8),  # a fresh token lives more than ttl - 1 s
    (", reuse: false", "civi, espo", MAX_SECONDS),
    (", ttl_seconds: 20, reuse: false", "civi", 18),
    ("", "espo", MAX_SECONDS),  # the authx-jwt upstream stays in proxy mode
]


@pytest.mark.parametrize(("jwt", "decided", "largest"), BOUNDS)
def test_the_ttl_stays_below_what_the_answer_carries(jwt: str, decided: str, largest: int) -> None:
    config = load_config_text(config_text(jwt=jwt, decided=decided), "gateway.yaml", {})
    assert checked_seconds(config, largest) == largest
    with pytest.raises(ConfigError) as refused:
        checked_seconds(config, largest + 1)
    assert "--decision-cache-seconds" in str(refused.value)
    if largest < MAX_SECONDS:
        assert "authx-jwt" in str(refused.value) and f"at most {largest}" in str(refused.value)
    with pytest.raises(ConfigError):
        checked_seconds(config, -1)


def test_the_cli_refuses_a_ttl_longer_than_a_gateway_minted_jwt_lives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(tmp_path, capsys, "nginx", "--decision-cache-seconds", "30")
    assert (code, out) == (2, "")
    assert "civi" in err and "authx-jwt" in err and "at most 29" in err


def test_the_config_text_caches_only_allow_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(tmp_path, capsys, "nginx", "--decision-cache-seconds", "10")
    assert (code, err) == (0, "")
    assert "proxy_cache_path decision_cache " in out and "keys_zone=crm_decisions:" in out
    assert re.findall(r"proxy_cache_valid [^;]*;", out) == ["proxy_cache_valid 200 10s;"]
    assert f'proxy_cache_key "{KEY}";' in out
    for part in ("$request_method", "$host", "$request_uri", "$http_authorization", "$http_x_civi_auth"):
        assert part in KEY
    assert "$http_x_api_key" in KEY
    assert "proxy_cache_lock on;" in out
    assert re.search(r"proxy_ignore_headers [^;]*Cache-Control[^;]*;", out)
    # The cache sits in the internal decision location, nowhere else.
    decision = out.split("location = /_crm_gateway/authz {", 1)[1].split("}", 1)[0]
    assert "proxy_cache crm_decisions;" in decision
    assert out.count("proxy_cache crm_decisions;") == 1
    # A hit never replays the kept answer's request id or rate-limit state.
    assert "proxy_set_header X-Request-ID $crm_fresh_x_request_id;" in out
    assert "add_header RateLimit $crm_fresh_ratelimit always;" in out
    assert "auth_request_set $crm_decision_cache $upstream_cache_status;" in out


@pytest.mark.parametrize(
    ("args", "directory"),
    [
        ((), "decision_cache"),
        (("--snippet",), "/var/cache/nginx/crm-gateway-decisions"),
        (("--decision-cache-dir", "/run/crm-cache"), "/run/crm-cache"),
    ],
)
def test_the_cache_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], directory: str
) -> None:
    code, out, _ = run_cli(tmp_path, capsys, "nginx", "--decision-cache-seconds", "5", *args)
    assert code == 0
    assert f"proxy_cache_path {directory} " in out


def test_off_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in ((), ("--decision-cache-seconds", "0")):
        code, out, _ = run_cli(tmp_path, capsys, "nginx", *args)
        assert code == 0
        assert "proxy_cache" not in out and "crm_fresh_" not in out


def test_caddy_has_no_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(tmp_path, capsys, "caddy", "--decision-cache-seconds", "5")
    assert (code, out) == (2, "")
    assert "Caddy has no decision cache" in err


@pytest.mark.parametrize(
    ("extra", "policy_limits", "warned"),
    [("", False, False), (LIMITED, False, True), ("", True, True)],
)
def test_a_warning_when_rate_limits_meet_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, policy_limits: bool, warned: bool
) -> None:
    text = config_text(extra=extra)
    if policy_limits:
        policy = tmp_path / "policy.yaml"
        policy.write_text(
            "policy: p\nsubjects: {principals: [svc]}\nentities:\n  Lead: {read: allow}\n"
            "limits:\n  - {name: leads, entity: Lead, rate: 5/s}\n"
        )
        text += f"policies: [{policy}]\n"
    code, out, err = run_cli(tmp_path, capsys, "nginx", "--decision-cache-seconds", "5", text=text)
    assert code == 0
    assert ("only see cache misses" in err) is warned
    assert ("# warning: rate limits apply" in out) is warned
    config = load_config_text(text, str(tmp_path / "gateway.yaml"), {})
    assert rate_limit_warning(config, 0) is None
    assert (rate_limit_warning(config, 5) is not None) is warned


def test_nginx_accepts_it() -> None:
    binary = require("nginx")
    config = load_config_text(config_text(), "gateway.yaml", {})
    with tempfile.TemporaryDirectory(prefix="crmgw-nginx-t-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        plan = make_plan(
            config, listen="127.0.0.1:18081", gateway=None, cache=DecisionCache(20, "decision_cache")
        )
        (workdir / "nginx.conf").write_text(nginx.standalone(plan, workers="1"))
        tested = subprocess.run(
            [binary, "-t", "-p", str(workdir), "-c", "nginx.conf", "-e", "stderr"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    assert tested.returncode == 0, tested.stderr.decode()
