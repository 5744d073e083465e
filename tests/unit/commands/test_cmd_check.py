"""crm-gateway check, run through the real CLI: one fixture per configuration mistake.

Each fixture under fixtures/ is ``ok.yaml`` with one thing wrong, on the line marked ``<- here`` (in the
policy file it names, for policy mistakes). The CLI must exit 2 with one line ``config error:
<file>:<line>: <key>: <reason>`` and never print a secret value, resolved or inline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ENV = {
    "CRMGW_FIXTURE_SIGN_KEYS": "jwt-hs256:hkdf-sha256:fixture-sign-secret-5c2a",
    "CRMGW_FIXTURE_ESPO_KEY": "fixture-espo-key-91b4",
}
SECRETS = (
    *ENV.values(),
    "fixture-sign-secret-5c2a",
    (FIXTURES / "secrets" / "espo_secret").read_text(),
    "fixture-short-hs-secret",
    "fixture-inline-not-a-key-4f4f",
    "fixture-secret-in-url-33aa",
    "fixture-inline-espo-key-0c0c",
)
MARK = "<- here"

# fixture -> (file the error names, relative to fixtures/; None: the fixture itself), key, reason
FAILURES: dict[str, tuple[str | None, str, str]] = {
    "unknown_key": (None, "upstreams.civi.timeout", "unknown key"),
    "bad_type": (None, "listen.port", "expected an integer, got a string"),
    "port_out_of_range": (None, "listen.port", "must be between 0 and 65535"),
    "unknown_dialect": (
        None,
        "upstreams.espo.dialect",
        "unknown dialect 'sugarcrm'; known: civicrm, espocrm",
    ),
    "unknown_scheme": (None, "upstreams.espo.auth.scheme", "unknown scheme 'oauth2'"),
    "scheme_of_wrong_dialect": (
        None,
        "upstreams.espo.auth.scheme",
        "scheme authx-apikey does not speak the espocrm dialect",
    ),
    "missing_identity_field": (None, "identities[0].espo", "scheme espo-hmac needs secret_key"),
    "env_not_set": (
        None,
        "identities[0].espo.api_key",
        "environment variable CRMGW_FIXTURE_NEVER_SET is not set",
    ),
    "file_missing": (None, "identities[0].espo.secret_key", "cannot read secret file"),
    "bad_url": (None, "upstreams.espo.url", "must be an absolute http:// or https:// URL"),
    "url_with_query": (None, "upstreams.espo.url", "must not carry a query or fragment"),
    "missing_url": (None, "upstreams.espo.url", "required key is missing"),
    "no_match_rule": (
        None,
        "upstreams.espo.match",
        "give match.path_prefix, match.host, match.port or a combination",
    ),
    "unknown_upstream_in_identities": (
        None,
        "identities[0].sugar",
        "unknown upstream 'sugar'; known: civi, espo",
    ),
    "identity_without_match": (None, "identities[0].match", "must name at least one claim"),
    "unknown_token_slot": (None, "identity.token_slots", "unknown slot 'cookie'"),
    "hs256_without_secret": (
        None,
        "identity.issuers[0].algorithms",
        "HS256 listed but the issuer has no hs256_secrets",
    ),
    "hs256_secret_too_short": (None, "identity.issuers[0].hs256_secrets[0]", "shorter than 32 bytes"),
    "none_algorithm": (None, "identity.issuers[0].algorithms", "algorithm 'none' is never accepted"),
    "bad_sign_keys": (None, "upstreams.civi.auth.sign_keys", "unusable CIVICRM_SIGN_KEYS"),
    "bad_dialect_option": (None, "upstreams.civi.options.cms", "must be one of auto, drupal"),
    "bad_espo_option": (None, "upstreams.espo.options.api_path", "must be a plain absolute path"),
    "redis_without_url": (None, "ratelimit.url", "the redis backend needs a url"),
    "duplicate_yaml_key": (None, "dialect", "duplicate key"),
    "invalid_yaml": (None, "", "invalid YAML"),
    "policy_bad_verdict": ("policies/bad_verdict.yaml", "entities.Contact.create", "must be allow or deny"),
    "policy_unknown_upstream": ("policies/unknown_upstream.yaml", "upstreams", "unknown upstream 'sugar'"),
    "policy_bad_rate": ("policies/bad_rate.yaml", "limits[0].rate", "invalid rate '600/fortnight'"),
    "policy_missing_file": (
        "policies/no_such_policy.yaml",
        "",
        "cannot read file (No such file or directory)",
    ),
}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CRMGW_FIXTURE_NEVER_SET", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def marked_line(path: Path) -> int | None:
    if not path.exists():
        return None
    lines = [n for n, text in enumerate(path.read_text().splitlines(), 1) if MARK in text]
    assert len(lines) <= 1, f"{path} marks more than one line"
    return lines[0] if lines else None


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, "a secret value was printed"


def test_every_failure_fixture_has_a_case_and_the_reverse() -> None:
    fixtures = {p.stem for p in FIXTURES.glob("*.yaml")} - {"ok", "lint_warnings"}
    assert fixtures == set(FAILURES)


@pytest.mark.parametrize(("fixture", "expected"), FAILURES.items(), ids=list(FAILURES))
def test_each_mistake_exits_2_naming_file_line_key_and_reason(
    capsys: pytest.CaptureFixture[str], fixture: str, expected: tuple[str | None, str, str]
) -> None:
    named, key, reason = expected
    config = FIXTURES / f"{fixture}.yaml"
    code, out, err = run(capsys, "check", "--config", str(config))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("config error: "), err
    file = FIXTURES / named if named else config
    line = marked_line(file)
    where = f"{file}:{line}" if line is not None else str(file)
    assert err.startswith(f"config error: {where}: {key + ': ' if key else ''}"), err
    if named is None:
        assert line is not None, f"{fixture}.yaml marks no line"
    assert reason in err
    assert_no_secret(out, err)


def test_a_good_config_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    config = FIXTURES / "ok.yaml"
    code, out, err = run(capsys, "check", "--config", str(config))
    assert (code, err) == (0, "")
    summary = "2 upstream(s): civi (civicrm, authx-jwt), espo (espocrm, espo-hmac); 1 identity rule(s)"
    assert out == f"ok: {config}: {summary}\n"
    code, out, err = run(capsys, "check", "--strict", "--config", str(config))
    assert (code, err) == (0, "")
    assert_no_secret(out)


def test_lint_warnings_pass_but_fail_with_strict(capsys: pytest.CaptureFixture[str]) -> None:
    config = FIXTURES / "lint_warnings.yaml"
    policy = FIXTURES / "policies" / "typos.yaml"
    expected = [
        f"warning: {config}:23: identities[0].espo.api_key: inline secret; "
        "use ${env:NAME} or ${file:/path} instead",
        f"warning: {policy}:4: entities.Contcat: "
        "unknown civicrm/espocrm entity Contcat; did you mean Contact?",
        f"warning: {policy}:5: entities.Email.gett: unknown action gett; did you mean get?",
    ]
    code, out, err = run(capsys, "check", "--config", str(config))
    assert code == 0
    assert err.splitlines() == expected
    assert out.startswith(f"ok: {config}: ")
    assert_no_secret(out, err)

    code, out, err = run(capsys, "check", "--strict", "--config", str(config))
    assert code == 1
    assert out.startswith(f"ok: {config}: "), "it loads: the exit code alone says the warnings fail it"
    assert err.splitlines() == expected
    assert_no_secret(out, err)


def test_a_missing_config_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run(capsys, "check", "--config", str(missing))
    assert (code, out) == (2, "")
    assert err == f"config error: {missing}: cannot read file (No such file or directory)\n"
