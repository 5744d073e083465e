"""CiviCRM schema facts the dialect needs: core entity names and where foreign keys point.

Entity names are canonicalised the way CiviCRM compares them, so a policy written for
``GroupContact`` also governs ``group_contact`` (APIv3) and ``groupcontact`` (APIv4 resolves
class names case-insensitively). Foreign keys drive APIv4 implicit joins
(``contact_id.display_name`` on Email reads Contact).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

CORE_ENTITIES: tuple[str, ...] = (
    "ACL",
    "ACLEntityRole",
    "ActionSchedule",
    "Activity",
    "ActivityContact",
    "ActivityType",
    "Address",
    "Afform",
    "Attachment",
    "Batch",
    "Campaign",
    "Case",
    "CaseActivity",
    "CaseContact",
    "CaseType",
    "Constant",
    "Contact",
    "ContactType",
    "Contribution",
    "ContributionPage",
    "ContributionProduct",
    "ContributionRecur",
    "ContributionSoft",
    "Country",
    "County",
    "CustomField",
    "CustomGroup",
    "CustomSearch",
    "CustomValue",
    "Dashboard",
    "DashboardContact",
    "DedupeException",
    "DedupeRule",
    "DedupeRuleGroup",
    "Domain",
    "Email",
    "Entity",
    "EntityBatch",
    "EntityFile",
    "EntityFinancialAccount",
    "EntityFinancialTrxn",
    "EntityTag",
    "Event",
    "Extension",
    "File",
    "FinancialAccount",
    "FinancialItem",
    "FinancialTrxn",
    "FinancialType",
    "Grant",
    "Group",
    "GroupContact",
    "GroupNesting",
    "GroupOrganization",
    "Household",
    "IM",
    "Individual",
    "Job",
    "JobLog",
    "LineItem",
    "LocBlock",
    "LocationType",
    "Logging",
    "MailSettings",
    "Mailing",
    "MailingAB",
    "MailingComponent",
    "MailingContact",
    "MailingEventQueue",
    "MailingGroup",
    "MailingJob",
    "MailingRecipients",
    "Managed",
    "Mapping",
    "MappingField",
    "Membership",
    "MembershipBlock",
    "MembershipLog",
    "MembershipPayment",
    "MembershipStatus",
    "MembershipType",
    "MessageTemplate",
    "Navigation",
    "Note",
    "OpenID",
    "OptionGroup",
    "OptionValue",
    "Order",
    "Organization",
    "PCP",
    "PCPBlock",
    "Participant",
    "ParticipantPayment",
    "ParticipantStatusType",
    "Payment",
    "PaymentProcessor",
    "PaymentProcessorType",
    "PaymentToken",
    "Permission",
    "Phone",
    "Pledge",
    "PledgePayment",
    "Premium",
    "PriceField",
    "PriceFieldValue",
    "PriceSet",
    "PrintLabel",
    "Product",
    "Profile",
    "Queue",
    "Relationship",
    "RelationshipCache",
    "RelationshipType",
    "ReportInstance",
    "ReportTemplate",
    "RuleGroup",
    "SavedSearch",
    "SearchDisplay",
    "Setting",
    "SmsProvider",
    "StateProvince",
    "StatusPreference",
    "Survey",
    "SurveyRespondant",
    "System",
    "SystemLog",
    "Tag",
    "Translation",
    "UFField",
    "UFGroup",
    "UFJoin",
    "UFMatch",
    "User",
    "Website",
    "WordReplacement",
)

_CONTACT_OWNED = {"contact_id": "Contact"}
_LOCATED = {"contact_id": "Contact", "location_type_id": "LocationType"}

GENERIC_FK: Mapping[str, str] = {"contact_id": "Contact", "created_id": "Contact", "modified_id": "Contact"}
"""Foreign keys that mean the same on every CiviCRM entity that has them."""

_CONTACT_FK = {
    "employer_id": "Contact",
    "primary_contact_id": "Contact",
    "email_primary": "Email",
    "email_billing": "Email",
    "phone_primary": "Phone",
    "phone_billing": "Phone",
    "address_primary": "Address",
    "address_billing": "Address",
    "im_primary": "IM",
    "im_billing": "IM",
}

BUILTIN_FK: Mapping[str, Mapping[str, str]] = {
    "Contact": _CONTACT_FK,
    "Individual": _CONTACT_FK,
    "Household": _CONTACT_FK,
    "Organization": _CONTACT_FK,
    "Email": _LOCATED,
    "Phone": _LOCATED,
    "IM": _LOCATED,
    "OpenID": _LOCATED,
    "Address": {
        **_LOCATED,
        "country_id": "Country",
        "state_province_id": "StateProvince",
        "county_id": "County",
        "master_id": "Address",
    },
    "Website": _CONTACT_OWNED,
    "Activity": {
        "source_contact_id": "Contact",
        "target_contact_id": "Contact",
        "assignee_contact_id": "Contact",
        "parent_id": "Activity",
        "original_id": "Activity",
        "campaign_id": "Campaign",
        "case_id": "Case",
        "relationship_id": "Relationship",
    },
    "ActivityContact": {"activity_id": "Activity", "contact_id": "Contact"},
    "Contribution": {
        "financial_type_id": "FinancialType",
        "contribution_page_id": "ContributionPage",
        "contribution_recur_id": "ContributionRecur",
        "campaign_id": "Campaign",
        "address_id": "Address",
    },
    "ContributionRecur": {
        "financial_type_id": "FinancialType",
        "campaign_id": "Campaign",
        "payment_processor_id": "PaymentProcessor",
        "payment_token_id": "PaymentToken",
    },
    "ContributionSoft": {"contribution_id": "Contribution", "pcp_id": "PCP"},
    "LineItem": {
        "contribution_id": "Contribution",
        "financial_type_id": "FinancialType",
        "price_field_id": "PriceField",
        "price_field_value_id": "PriceFieldValue",
    },
    "Participant": {
        "event_id": "Event",
        "registered_by_id": "Participant",
        "transferred_to_contact_id": "Contact",
        "campaign_id": "Campaign",
    },
    "ParticipantPayment": {"participant_id": "Participant", "contribution_id": "Contribution"},
    "Event": {"campaign_id": "Campaign", "loc_block_id": "LocBlock", "parent_event_id": "Event"},
    "Membership": {
        "membership_type_id": "MembershipType",
        "owner_membership_id": "Membership",
        "campaign_id": "Campaign",
        "status_id": "MembershipStatus",
    },
    "MembershipType": {"member_of_contact_id": "Contact", "financial_type_id": "FinancialType"},
    "MembershipPayment": {"membership_id": "Membership", "contribution_id": "Contribution"},
    "MembershipLog": {"membership_id": "Membership", "status_id": "MembershipStatus"},
    "GroupContact": {"group_id": "Group"},
    "Group": {"saved_search_id": "SavedSearch"},
    "GroupNesting": {"child_group_id": "Group", "parent_group_id": "Group"},
    "EntityTag": {"tag_id": "Tag"},
    "Tag": {"parent_id": "Tag"},
    "Relationship": {
        "contact_id_a": "Contact",
        "contact_id_b": "Contact",
        "relationship_type_id": "RelationshipType",
        "case_id": "Case",
    },
    "RelationshipCache": {
        "near_contact_id": "Contact",
        "far_contact_id": "Contact",
        "relationship_id": "Relationship",
        "relationship_type_id": "RelationshipType",
        "case_id": "Case",
    },
    "Case": {"case_type_id": "CaseType"},
    "CaseContact": {"case_id": "Case"},
    "CaseActivity": {"case_id": "Case", "activity_id": "Activity"},
    "Pledge": {
        "financial_type_id": "FinancialType",
        "campaign_id": "Campaign",
        "contribution_page_id": "ContributionPage",
    },
    "PledgePayment": {"pledge_id": "Pledge", "contribution_id": "Contribution"},
    "Grant": {"financial_type_id": "FinancialType"},
    "Campaign": {"last_modified_id": "Contact", "parent_id": "Campaign"},
    "Survey": {"campaign_id": "Campaign", "last_modified_id": "Contact"},
    "Mailing": {"scheduled_id": "Contact", "approver_id": "Contact", "campaign_id": "Campaign"},
    "MailingGroup": {"mailing_id": "Mailing"},
    "MailingJob": {"mailing_id": "Mailing"},
    "LocBlock": {
        "address_id": "Address",
        "email_id": "Email",
        "phone_id": "Phone",
        "im_id": "IM",
        "address_2_id": "Address",
        "email_2_id": "Email",
        "phone_2_id": "Phone",
        "im_2_id": "IM",
    },
    "StateProvince": {"country_id": "Country"},
    "County": {"state_province_id": "StateProvince"},
    "FinancialTrxn": {
        "from_financial_account_id": "FinancialAccount",
        "to_financial_account_id": "FinancialAccount",
        "payment_processor_id": "PaymentProcessor",
    },
    "EntityFinancialTrxn": {"financial_trxn_id": "FinancialTrxn"},
    "FinancialItem": {"financial_account_id": "FinancialAccount"},
    "EntityFile": {"file_id": "File"},
    "PCP": {"pcp_block_id": "PCPBlock"},
    "ContactType": {"parent_id": "ContactType"},
    "OptionValue": {"option_group_id": "OptionGroup"},
    "CustomField": {"custom_group_id": "CustomGroup", "option_group_id": "OptionGroup"},
    "Navigation": {"parent_id": "Navigation"},
    "SearchDisplay": {"saved_search_id": "SavedSearch"},
    "UFField": {"uf_group_id": "UFGroup"},
    "UFJoin": {"uf_group_id": "UFGroup"},
    "PriceField": {"price_set_id": "PriceSet"},
    "PriceFieldValue": {"price_field_id": "PriceField", "financial_type_id": "FinancialType"},
    "DashboardContact": {"dashboard_id": "Dashboard"},
}
"""Entity -> {FK field -> target entity}. Dynamic FKs (``entity_id`` + ``entity_table``) are left
out on purpose: they resolve to no single entity, so a dotted read through them stays opaque."""

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def v3_key(name: str) -> str:
    """How APIv3 compares entity names: punctuation and underscores dropped, case folded."""
    return _NOT_ALNUM.sub("", name).lower()


def v3_camel(name: str) -> str:
    """CiviCRM's camel-casing of an unknown v3 entity (``my_thing`` -> ``MyThing``): the name
    whose api/v3 file the server would load."""
    munged = _NOT_ALNUM.sub("_", name.strip())
    return "".join(part[:1].upper() + part[1:] for part in munged.split("_"))


class Schema:
    """Entity names and foreign keys: the built-in facts merged with an upstream's ``fk_map``."""

    def __init__(self, fk_map: Mapping[str, Mapping[str, str]] | None = None) -> None:
        merged: dict[str, dict[str, str]] = {entity: dict(fks) for entity, fks in BUILTIN_FK.items()}
        for entity, fks in (fk_map or {}).items():
            merged.setdefault(entity, {}).update(fks)
        self._fk = merged
        self._generic = dict(GENERIC_FK) | merged.pop("*", {})
        names = self._names(CORE_ENTITIES, merged)
        self._by_v3_key: dict[str, str] = {}
        self._by_lower: dict[str, str] = {}
        for name in names:
            self._by_v3_key.setdefault(v3_key(name), name)
            self._by_lower.setdefault(name.lower(), name)

    @staticmethod
    def _names(core: Iterable[str], fks: Mapping[str, Mapping[str, str]]) -> list[str]:
        names = list(core)
        for entity, targets in fks.items():
            names.append(entity)
            names.extend(targets.values())
        return names

    def v3_entity(self, raw: str) -> str:
        """The canonical name of an APIv3 entity as CiviCRM would resolve ``raw``."""
        known = self._by_v3_key.get(v3_key(raw))
        return known if known is not None else v3_camel(raw)

    def v4_entity(self, raw: str) -> str:
        """The canonical name of an APIv4 entity: known names match case-insensitively (PHP class
        names do); others are kept as given."""
        return self._by_lower.get(raw.lower(), raw)

    def fk_target(self, entity: str, field: str) -> str | None:
        """The entity ``field`` on ``entity`` points to, or None when it is not a known single FK."""
        specific = self._fk.get(entity, {}).get(field)
        return specific if specific is not None else self._generic.get(field)
