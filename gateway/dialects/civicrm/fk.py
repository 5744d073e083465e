"""Where CiviCRM's foreign keys point: they drive APIv4 implicit joins (``contact_id.display_name`` on
Email reads Contact)."""

from __future__ import annotations

from collections.abc import Mapping

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
