"""crm-gateway explain, run through the real CLI: the operations a request touches and each decision.

The config is the test stack's (every upstream, the ``svc-test`` identity) with policies that allow
only Contact and Email reads, plus a shadow policy; nothing is sent anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from tests.support.jwt_factory import claims as token_claims
from tests.support.jwt_factory import make_key, sign
from tests.support.stack import ENV, SECRETS, config_text

KEY = make_key("ES256")
POLICIES = {
    "only-reads.yaml": """
policy: only-reads
subjects: {principals: [svc-test]}
entities:
  Contact: {get: allow, read: allow}
  Email: {get: allow, read: allow}
""",
    "no-email-shadow.yaml": """
policy: no-email-shadow
mode: shadow
subjects: {principals: [svc-test]}
entities:
  Email: {default: deny}
""",
}
IDENTITY_LINE = (
    config_text("http://civi.invalid", "http://espo.invalid", KEY).splitlines().index("identities:") + 2
)
V3 = "/civi-jwt/civicrm/ajax/rest"
V4 = "/civi-jwt/civicrm/ajax/api4"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "policies").mkdir()
    for name, text in POLICIES.items():
        (tmp_path / "policies" / name).write_text(text)
    path = tmp_path / "gateway.yaml"
    path.write_text(config_text("http://civi.invalid", "http://espo.invalid", KEY))
    return path


def explain(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["explain", "--config", str(config), *argv])
    captured = capsys.readouterr()
    assert captured.err == ""
    for secret in SECRETS:
        assert secret not in captured.out
    return code, json.loads(captured.out)


def op(entity: str, action: str, via: str, decision: str, rule: str, fields: list[str] | None = None) -> Any:
    return {
        "entity": entity,
        "action": action,
        "via": via,
        "fields": fields or [],
        "decision": decision,
        "rule": rule,
    }


def test_v3_chain(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    data = 'entity=Contact&action=get&json={"api.Email.get":{},"api.Activity.create":{"subject":"x"}}'
    code, report = explain(capsys, config, "--sub", "svc-test", "--data", data, "POST", V3)
    assert code == 1
    assert report == {
        "principal": "svc-test",
        "upstream": "civi-jwt",
        "path": "/civicrm/ajax/rest",
        "operations": [
            op("Contact", "get", "route", "allow", "only-reads:entities.Contact.get"),
            op("Email", "get", "chain:api.Email.get", "allow", "only-reads:entities.Email.get"),
            op("Activity", "create", "chain:api.Activity.create", "deny", "default-deny", ["subject"]),
        ],
        "decision": "deny",
        "rule": "default-deny",
        # the shadow policy would have stopped the request at its first denial, Email.get
        "shadow": [{"rule": "no-email-shadow:entities.Email.default", "allowed": False}],
        "acting_as": {
            "rule": "identities[0]",
            "line": f"{config}:{IDENTITY_LINE}",
            "identity": "contact_id=42",
            "why": [f"rule identities[0] ({config}:{IDENTITY_LINE})"],
        },
    }


def test_v4_join(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    params = {
        "select": ["email", "c.display_name"],
        "join": [["Contact AS c", "LEFT", ["c.id", "=", "contact_id"]]],
    }
    code, report = explain(
        capsys,
        config,
        "--sub",
        "svc-test",
        "--data",
        f"params={json.dumps(params)}",
        "POST",
        f"{V4}/Email/get",
    )
    assert code == 0
    assert report["operations"] == [
        op("Email", "get", "route", "allow", "only-reads:entities.Email.get", ["contact_id", "email"]),
        op("Contact", "get", "join:c", "allow", "only-reads:entities.Contact.get", ["display_name", "id"]),
    ]
    assert (report["decision"], report["rule"]) == ("allow", "only-reads:entities.Email.get")
    assert report["shadow"] == [{"rule": "no-email-shadow:entities.Email.default", "allowed": False}]


def test_v4_join_to_a_denied_entity_and_a_dotted_read(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    params = {"join": [["Contribution AS t", "LEFT"]], "select": ["address_primary.city"]}
    url = f"{V4}/Contact/get?params={json.dumps(params)}"
    code, report = explain(capsys, config, "--sub", "svc-test", "GET", url)
    assert code == 1
    assert [(o["entity"], o["via"], o["decision"]) for o in report["operations"]] == [
        ("Contact", "route", "allow"),
        ("Contribution", "join:t", "deny"),
        ("Address", "join:address_primary", "deny"),
    ]
    assert (report["decision"], report["rule"]) == ("deny", "default-deny")


def test_espo_relationship(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, report = explain(capsys, config, "--sub", "svc-test", "GET", "/espo-key/api/v1/Account/a1/contacts")
    assert code == 1
    assert report["path"] == "/api/v1/Account/a1/contacts"
    assert report["operations"] == [
        op("Account", "read", "route", "deny", "default-deny"),
        op("Contact", "read", "link:Account.contacts", "allow", "only-reads:entities.Contact.read"),
    ]
    assert report["decision"] == "deny"


def test_a_token_is_verified_like_a_request(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    token = sign(KEY, token_claims(sub="svc-test"))
    code, report = explain(capsys, config, "--token", token, "GET", f"{V4}/Contact/get")
    assert code == 0
    assert report["principal"] == "svc-test"
    assert report["operations"] == [op("Contact", "get", "route", "allow", "only-reads:entities.Contact.get")]
    code, report = explain(capsys, config, "--token", token[:-4] + "AAAA", "GET", f"{V4}/Contact/get")
    assert code == 1
    assert (report["refused"], report["status"]) == ("bad-signature", 401)


@pytest.mark.parametrize(
    ("argv", "refused", "status"),
    [
        (["--sub", "svc-test", "GET", "/nowhere/x"], "no-route", 404),
        (["--sub", "svc-test", "GET", f"{V4}/Contact/get?amp;params={{}}"], "ambiguous-parameter", 400),
        (["--sub", "svc-test", "GET", f"{V4}/%2543ontact/get"], "ambiguous-path", 400),
        (["--sub", "svc-test", "GET", "/espo-key/api/v1/Contact/../User"], "ambiguous-path", 400),
        (["--sub", "svc-test", "GET", f"{V3}?entity=Contact&action=delete&id=2"], "destructive-get", 400),
    ],
)
def test_refusals_before_any_policy(
    capsys: pytest.CaptureFixture[str], config: Path, argv: list[str], refused: str, status: int
) -> None:
    code, report = explain(capsys, config, *argv)
    assert code == 1
    assert report == {"refused": refused, "status": status, "message": report["message"]}


def test_the_url_is_read_as_sent(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    """``%43ontact`` reaches the dialect encoded, and is canonicalised there to Contact, as in the gateway."""
    code, report = explain(capsys, config, "--sub", "svc-test", "GET", f"{V4}/%43ontact/get")
    assert code == 0
    assert report["path"] == "/civicrm/ajax/api4/Contact/get"


def test_a_form_body_on_get_is_not_read(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    """The gateway reads no body on a GET (PHP ignores it too): neither does explain."""
    data = "entity=Activity&action=create"
    code, report = explain(
        capsys, config, "--sub", "svc-test", "--data", data, "GET", f"{V3}?entity=Contact&action=get"
    )
    assert code == 0
    assert [o["entity"] for o in report["operations"]] == ["Contact"]
