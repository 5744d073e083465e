"""What the policy engine knows about each dialect: how names compare, action groups, sensitive fields,
and the entity and action names a policy is expected to use (for typo warnings in ``crm-gateway check``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

WILDCARD = "*"
DEFAULT = "default"


def _exact(name: str) -> str:
    return name


def _civicrm_entity(name: str) -> str:
    # CiviCRM accepts any mix of case and underscores: GroupContact == group_contact == groupcontact.
    return name.lower().replace("_", "")


@dataclass(frozen=True, slots=True)
class DialectRules:
    name: str
    entity_folds_case: bool
    """True: entities compare lower-case with underscores removed (civicrm); False: exactly (espocrm)."""
    groups: Mapping[str, str] = field(default_factory=dict)
    """Lower-case action -> its generic group (``getfields`` -> ``meta``)."""
    sensitive_fields: frozenset[str] = frozenset()
    """Fields denied on every entity unless a policy lists them under ``fields.<Entity>.allow``."""
    entities: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    """Lower-case action names the dialect produces (for lint only)."""
    expanded_actions: Mapping[str, str] = field(default_factory=dict)
    """Lower-case actions the dialect never emits because it expands them (``save`` -> create/update)."""

    def entity_key(self, name: str) -> str:
        return _civicrm_entity(name) if self.entity_folds_case else _exact(name)

    def group_of(self, action_key: str) -> str | None:
        return self.groups.get(action_key)

    def knows_entity(self, name: str) -> bool:
        key = self.entity_key(name)
        return any(self.entity_key(known) == key for known in self.entities)

    def knows_action(self, name: str) -> bool:
        key = name.lower()
        return key == DEFAULT or key in self.actions or key in set(self.groups.values())

    def suggest_entity(self, name: str) -> str | None:
        return suggest(name, self.entities)

    def suggest_action(self, name: str) -> str | None:
        return suggest(name.lower(), self.actions | set(self.groups.values()) | {DEFAULT})


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known spelling of ``name`` (case-insensitive), or None."""
    by_folded: dict[str, str] = {}
    for candidate in sorted(candidates):
        by_folded.setdefault(candidate.lower().replace("_", ""), candidate)
    folded = name.lower().replace("_", "")
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.6)
    return by_folded[close[0]] if close else None


_CIVICRM_META = ("getfields", "getfield", "getspec", "getoptions", "getactions", "getlinks", "checkaccess")
_CIVICRM_GET = ("getsingle", "getcount", "getvalue", "getlist")

CIVICRM = DialectRules(
    name="civicrm",
    entity_folds_case=True,
    groups={**dict.fromkeys(_CIVICRM_META, "meta"), **dict.fromkeys(_CIVICRM_GET, "get")},
    sensitive_fields=frozenset({"api_key"}),
    entities=words(
        """
        Acl ACLEntityRole ActionSchedule Activity ActivityContact Address Afform Api3 Attachment Batch
        Campaign Case CaseActivity CaseContact CaseType Constant Contact ContactType Contribution
        ContributionPage
        ContributionProduct ContributionRecur ContributionSoft Country County Cxn CustomField CustomGroup
        CustomSearch CustomValue Dashboard DashboardContact DedupeException DedupeRule DedupeRuleGroup Domain
        Email Entity EntityBatch EntityFinancialAccount EntityFinancialTrxn EntityTag Event Extension File
        FinancialAccount FinancialItem FinancialTrxn FinancialType Grant Group GroupContact GroupNesting
        GroupOrganization Household Im Individual Job JobLog LineItem LocBlock LocationType Log Logging
        MailSettings Mailing MailingAB MailingComponent MailingContact MailingEventQueue MailingEventSubscribe
        MailingEventUnsubscribe MailingGroup MailingJob MailingRecipients Managed Mapping MappingField
        Membership MembershipBlock MembershipLog MembershipPayment MembershipStatus MembershipType
        MessageTemplate Navigation Note OpenID OptionGroup OptionValue Order Organization Participant
        ParticipantPayment ParticipantStatusType Payment PaymentProcessor PaymentProcessorType PaymentToken
        Pcp Phone Pledge PledgePayment Premium PriceField PriceFieldValue PriceSet PrintLabel Product Profile
        Queue QueueItem Relationship RelationshipCache RelationshipType ReportInstance ReportTemplate Route
        SavedSearch SearchDisplay SearchSegment Setting SmsProvider StateProvince StatusPreference
        SubscriptionHistory Survey SurveyRespondant System Tag Translation UFField UFGroup UFJoin UFMatch User
        UserJob Website WordReplacement IM PCP PCPBlock Permission RuleGroup SystemLog ActivityType EntityFile
        """
    ),
    actions=words(
        """
        get getsingle getcount getvalue getlist getquick getfields getfield getspec getoptions getactions
        getlinks checkaccess create update delete replace save setvalue autocomplete export validate
        getrefcount getunique revert submit send sendconfirmation completetransaction execute merge
        duplicatecheck getmergedto getmergedfrom proximity cancel process geocode check flush refresh
        getchecksum validatechecksum clone getentityrefs getduplicates
        """
    ),
    expanded_actions={"save": "create/update"},
)

ESPOCRM = DialectRules(
    name="espocrm",
    entity_folds_case=False,
    entities=words(
        """
        Account ActionHistoryRecord Activities Admin App Attachment AuthLogRecord AuthToken Call Campaign
        CampaignLogRecord CampaignTrackingUrl Case Contact Currency Document DocumentFolder Email EmailAccount
        EmailAddress EmailFilter EmailFolder EmailTemplate EmailTemplateCategory Export ExternalAccount
        GlobalSearch GlobalStream Import InboundEmail Integration Job KnowledgeBaseArticle
        KnowledgeBaseCategory Layout LayoutSet Lead MassAction MassEmail Meeting Metadata Note Notification
        Opportunity PhoneNumber Portal PortalRole Preferences Reminder Role ScheduledJob Settings Stream
        TargetList Task Team Template Timeline User Webhook WorkingTimeCalendar WorkingTimeRange
        """
    ),
    # What the espocrm dialect emits: CRUD in Espo's ACL words, stream, star, export; custom actions keep
    # their own names. Route names it folds into those never reach a policy.
    actions=words("read create edit delete stream star export merge"),
    expanded_actions={
        "list": "read",
        "index": "read",
        "listlinked": "read",
        "update": "edit",
        "createlink": "edit",
        "removelink": "edit",
        "follow": "stream",
        "unfollow": "stream",
        "convert": "edit on Lead plus create on Account, Contact and Opportunity",
    },
)

GENERIC = DialectRules(name="", entity_folds_case=False)

_RULES: dict[str, DialectRules] = {CIVICRM.name: CIVICRM, ESPOCRM.name: ESPOCRM}


def rules_for(dialect: str) -> DialectRules:
    """The rules for a dialect; an unknown dialect compares names exactly and knows no names."""
    return _RULES.get(dialect, GENERIC)


def is_custom_entity(dialect: str, name: str) -> bool:
    """Names the CRM generates for site-defined entities, which no fixed list can know."""
    if dialect == "civicrm":
        return name.lower().startswith("custom_")
    if dialect == "espocrm":
        return len(name) > 1 and name[0] == "C" and name[1].isupper()
    return True
