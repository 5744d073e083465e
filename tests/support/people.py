"""A stack where staff act as themselves: sandbox contacts and Espo users for several people.

Identity rules (after svc-test's own) for ``roles: [staff]`` principals on ``civi-jwt`` (contact id
from a claim), ``civi-jwt-header`` (contact id looked up by email), ``civi-jwt-param`` (by
external identifier, else by CMS name with ``unresolved: next``...) are given per test.
"""

from __future__ import annotations

from gateway.sandbox.civicrm_config import DEFAULT_FLOW_CREDS, CiviSandboxConfig, SandboxContact
from gateway.sandbox.espocrm import EspoSandboxConfig, EspoUser
from tests.support.stack import (
    CIVI_API_KEY,
    CIVI_PASSWORD,
    CIVI_SIGN_KEYS,
    CIVI_SITE_KEY,
    CIVI_USER,
    ESPO_API_KEY,
    ESPO_PASSWORD,
    ESPO_TOKEN,
    ESPO_USER,
)

LOOKUP_CONTACT = 5
"""The service contact the gateway looks people up as (it holds only 'view all contacts' on a real site)."""
ADA, GRACE, ALAN, TWIN_A, TWIN_B = 7, 8, 9, 11, 12
ESPO_ADMIN, ESPO_ADMIN_PASSWORD = "gw_admin", "gw-admin-password-1"

STAFF_POLICY = """
policy: staff
subjects: {roles: [staff]}
entities:
  Contact: {get: allow}
  Lead: {list: allow, read: allow}
  "*": {meta: allow}
limits:
  - {name: per-person, rate: 8/minute, burst: 8, per: person}
"""
SVC_POLICY = """
policy: test-allow-all
subjects: {principals: [svc-test]}
entities:
  "*": {default: allow}
"""


def people_civi_config() -> CiviSandboxConfig:
    def person(cid: int, name: str, email: str, **extra: object) -> SandboxContact:
        return SandboxContact(id=cid, api_key=None, display_name=name, email=email, **extra)  # type: ignore[arg-type]

    return CiviSandboxConfig(
        site_key=CIVI_SITE_KEY,
        sign_keys=CIVI_SIGN_KEYS,
        contacts=[
            SandboxContact(id=2, api_key="admin-contact-key", display_name="Admin", username="admin"),
            SandboxContact(
                id=42,
                api_key=CIVI_API_KEY,
                display_name="Integration",
                username=CIVI_USER,
                password=CIVI_PASSWORD,
            ),
            SandboxContact(
                id=LOOKUP_CONTACT, api_key=None, display_name="Gateway look-ups", username="gw_lookup"
            ),
            person(ADA, "Ada Lovelace", "ada@example.org", username="ada", external_identifier="EMP-7"),
            person(GRACE, "Grace Hopper", "grace@example.org", username="grace", external_identifier="EMP-8"),
            person(ALAN, "Alan Turing", "alan@example.org", has_cms_user=False),
            person(TWIN_A, "Pat Twin", "shared@example.org"),
            person(TWIN_B, "Sam Twin", "sam@example.org", extra_emails=("shared@example.org",)),
        ],
        authx_flow_creds=dict(DEFAULT_FLOW_CREDS),
    )


def people_espo_config(*, another_user_disabled: bool = False) -> EspoSandboxConfig:
    return EspoSandboxConfig(
        users=[
            EspoUser(id="u-api", user_name="api_user", auth_method="ApiKey", api_key=ESPO_API_KEY),
            EspoUser(
                id="u-basic",
                user_name=ESPO_USER,
                auth_method="Password",
                password=ESPO_PASSWORD,
                token=ESPO_TOKEN,
            ),
            EspoUser(
                id="u-admin",
                user_name=ESPO_ADMIN,
                auth_method="Password",
                password=ESPO_ADMIN_PASSWORD,
                is_admin=True,
            ),
            EspoUser(
                id="u-ada",
                user_name="ada",
                auth_method="Password",
                password="ada-pw-123",
                email="ada@example.org",
            ),
            EspoUser(
                id="u-grace",
                user_name="grace",
                auth_method="Password",
                password="grace-pw-123",
                email="grace@example.org",
            ),
            EspoUser(
                id="u-grace2",
                user_name="grace2",
                auth_method="Password",
                password="g2-pw-123",
                email="grace@example.org",
            ),
            EspoUser(
                id="u-boss",
                user_name="boss",
                auth_method="Password",
                password="boss-pw-123",
                is_admin=True,
                email="boss@example.org",
            ),
            EspoUser(
                id="u-portal",
                user_name="portal",
                auth_method="Password",
                password="portal-pw-1",
                is_portal=True,
            ),
        ],
        another_user_disabled=another_user_disabled,
    )
