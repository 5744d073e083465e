"""crm-gateway explain says which CRM identity a token would act as, and why (look-ups described only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from tests.support.jwt_factory import make_key
from tests.support.people import STAFF_POLICY
from tests.support.stack import ENV, config_text

RULES = """
  - match: {roles: staff}
    civi-jwt: {contact_id: {claim: civicrm_contact_id}}
    civi-jwt-header: {contact_id: {lookup: {by: email, claim: email}}}
"""
LOOKUPS = "lookups:\n  civi-jwt-header: {identity: {contact_id: 5}}\n"
GET = "/civicrm/ajax/api4/Contact/get"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "staff.yaml").write_text(STAFF_POLICY)
    path = tmp_path / "gateway.yaml"
    path.write_text(
        config_text(
            "http://civi.invalid",
            "http://espo.invalid",
            make_key("ES256"),
            identities_extra=RULES,
            extra=LOOKUPS,
        )
    )
    return path


def acting_as(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> Any:
    main(["explain", "--config", str(config), "--sub", "app", "--role", "staff", *argv])
    return json.loads(capsys.readouterr().out)["acting_as"]


def test_a_contact_from_a_claim(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    report = acting_as(capsys, config, "--claim", "civicrm_contact_id=7", "GET", f"/civi-jwt{GET}")
    assert report["identity"] == "contact_id=7"
    assert report["rule"] == "identities[1]"
    assert report["why"][1] == "contact_id from claim civicrm_contact_id"


def test_a_missing_claim_is_the_refusal_the_gateway_would_give(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    report = acting_as(capsys, config, "GET", f"/civi-jwt{GET}")
    assert report["refused"] == "no-identity"
    assert "civicrm_contact_id" in report["message"]


def test_a_look_up_is_described_not_performed(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    report = acting_as(capsys, config, "--claim", "email=ada@example.org", "GET", f"/civi-jwt-header{GET}")
    assert report["lookups"] == [
        {
            "field": "contact_id",
            "by": "email",
            "claim": "email",
            "value": "ada@example.org",
            "through": "lookups.civi-jwt-header.identity (not performed by explain)",
        }
    ]
