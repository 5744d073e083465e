"""EspoCRM's built-in links: which entity type each ``/<Entity>/<id>/<link>`` route reaches.

Read from the ``links`` of the core and Crm-module ``entityDefs`` (EspoCRM 10; links with a fixed
``entity``). ``parent``-style links (``belongsToParent``) have no fixed entity and are left out, so a
request through one is opaque unless configured. Link names are case-sensitive, as in EspoCRM.
"""

from __future__ import annotations

from collections.abc import Mapping

LinkMap = Mapping[str, Mapping[str, str]]

BUILTIN_LINKS: dict[str, dict[str, str]] = {
    "Account": {
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "contacts": "Contact", "contactsPrimary": "Contact", "opportunities": "Opportunity",
        "cases": "Case", "documents": "Document", "meetingsPrimary": "Meeting", "emailsPrimary": "Email",
        "callsPrimary": "Call", "tasksPrimary": "Task", "meetings": "Meeting", "calls": "Call",
        "tasks": "Task", "emails": "Email", "campaign": "Campaign",
        "campaignLogRecords": "CampaignLogRecord", "targetLists": "TargetList", "portalUsers": "User",
        "originalLead": "Lead",
    },
    "Contact": {
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "account": "Account", "accounts": "Account", "opportunities": "Opportunity",
        "opportunitiesPrimary": "Opportunity", "casesPrimary": "Case", "cases": "Case",
        "meetings": "Meeting", "calls": "Call", "meetingsChildren": "Meeting", "callsChildren": "Call",
        "tasks": "Task", "emails": "Email", "campaign": "Campaign",
        "campaignLogRecords": "CampaignLogRecord", "targetLists": "TargetList", "portalUser": "User",
        "originalLead": "Lead", "documents": "Document", "tasksPrimary": "Task",
    },
    "Lead": {
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "meetings": "Meeting", "calls": "Call", "meetingsChildren": "Meeting", "callsChildren": "Call",
        "tasks": "Task", "cases": "Case", "emails": "Email", "createdAccount": "Account",
        "createdContact": "Contact", "createdOpportunity": "Opportunity", "campaign": "Campaign",
        "campaignLogRecords": "CampaignLogRecord", "targetLists": "TargetList", "documents": "Document",
    },
    "Opportunity": {
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "account": "Account", "contacts": "Contact", "contact": "Contact", "meetings": "Meeting",
        "calls": "Call", "tasks": "Task", "emails": "Email", "documents": "Document",
        "campaign": "Campaign", "originalLead": "Lead",
    },
    "Case": {
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "collaborators": "User", "inboundEmail": "InboundEmail", "account": "Account", "lead": "Lead",
        "contact": "Contact", "contacts": "Contact", "meetings": "Meeting", "calls": "Call",
        "tasks": "Task", "emails": "Email", "articles": "KnowledgeBaseArticle",
    },
    "Meeting": {
        "account": "Account", "createdBy": "User", "modifiedBy": "User", "assignedUser": "User",
        "teams": "Team", "users": "User", "contacts": "Contact", "leads": "Lead",
    },
    "Call": {
        "account": "Account", "createdBy": "User", "modifiedBy": "User", "assignedUser": "User",
        "teams": "Team", "users": "User", "contacts": "Contact", "leads": "Lead",
    },
    "Task": {
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "collaborators": "User", "account": "Account", "contact": "Contact", "email": "Email",
    },
    "Document": {
        "accounts": "Account", "opportunities": "Opportunity", "leads": "Lead", "contacts": "Contact",
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "folder": "DocumentFolder",
    },
    "Email": {
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "assignedUsers": "User", "users": "User", "sentBy": "User", "attachments": "Attachment",
        "replied": "Email", "replies": "Email", "fromEmailAddress": "EmailAddress",
        "toEmailAddresses": "EmailAddress", "ccEmailAddresses": "EmailAddress",
        "bccEmailAddresses": "EmailAddress", "replyToEmailAddresses": "EmailAddress",
        "inboundEmails": "InboundEmail", "emailAccounts": "EmailAccount",
        "groupFolder": "GroupEmailFolder", "account": "Account", "tasks": "Task",
    },
    "Campaign": {
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "targetLists": "TargetList", "excludingTargetLists": "TargetList", "accounts": "Account",
        "contacts": "Contact", "leads": "Lead", "opportunities": "Opportunity",
        "campaignLogRecords": "CampaignLogRecord", "trackingUrls": "CampaignTrackingUrl",
        "massEmails": "MassEmail", "contactsTemplate": "Template", "leadsTemplate": "Template",
        "accountsTemplate": "Template", "usersTemplate": "Template",
    },
    "TargetList": {
        "createdBy": "User", "modifiedBy": "User", "assignedUser": "User", "teams": "Team",
        "category": "TargetListCategory", "campaigns": "Campaign", "massEmails": "MassEmail",
        "campaignsExcluding": "Campaign", "massEmailsExcluding": "MassEmail", "accounts": "Account",
        "contacts": "Contact", "leads": "Lead", "users": "User",
    },
    "KnowledgeBaseArticle": {
        "cases": "Case", "portals": "Portal", "createdBy": "User", "modifiedBy": "User",
        "assignedUser": "User", "teams": "Team", "categories": "KnowledgeBaseCategory",
    },
    "KnowledgeBaseCategory": {
        "createdBy": "User", "modifiedBy": "User", "teams": "Team", "parent": "KnowledgeBaseCategory",
        "children": "KnowledgeBaseCategory", "articles": "KnowledgeBaseArticle",
    },
    "DocumentFolder": {
        "createdBy": "User", "modifiedBy": "User", "teams": "Team", "parent": "DocumentFolder",
        "children": "DocumentFolder", "documents": "Document",
    },
    "EmailTemplate": {
        "attachments": "Attachment", "category": "EmailTemplateCategory", "teams": "Team",
        "assignedUser": "User", "createdBy": "User", "modifiedBy": "User",
    },
    "Team": {
        "users": "User", "roles": "Role", "notes": "Note", "inboundEmails": "InboundEmail",
        "layoutSet": "LayoutSet", "workingTimeCalendar": "WorkingTimeCalendar",
        "groupEmailFolders": "GroupEmailFolder",
    },
    "User": {
        "defaultTeam": "Team", "teams": "Team", "createdBy": "User", "roles": "Role", "portals": "Portal",
        "portalRoles": "PortalRole", "dashboardTemplate": "DashboardTemplate",
        "workingTimeCalendar": "WorkingTimeCalendar", "workingTimeRanges": "WorkingTimeRange",
        "layoutSet": "LayoutSet", "userData": "UserData", "meetings": "Meeting", "calls": "Call",
        "emails": "Email", "notes": "Note", "contact": "Contact", "accounts": "Account", "tasks": "Task",
        "targetLists": "TargetList",
    },
    "Note": {
        "createdBy": "User", "modifiedBy": "User", "attachments": "Attachment", "teams": "Team",
        "portals": "Portal", "users": "User",
    },
}


def merge_links(base: LinkMap, overrides: LinkMap) -> dict[str, dict[str, str]]:
    """``overrides`` merged over ``base`` link by link (an entity in both keeps the links of each)."""
    merged = {entity: dict(links) for entity, links in base.items()}
    for entity, links in overrides.items():
        merged.setdefault(entity, {}).update(links)
    return merged


def linked_entity(links: LinkMap, entity: str, link: str) -> str | None:
    """The entity type ``entity.link`` points at, or ``None`` when the link is not known."""
    return links.get(entity, {}).get(link)
