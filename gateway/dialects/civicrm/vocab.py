"""CiviCRM's vocabulary: entity and action names, action groups, the sensitive api_key field."""

from __future__ import annotations

from gateway.dialects.vocabulary import DialectRules, words

_CIVICRM_META = ("getfields", "getfield", "getspec", "getoptions", "getactions", "getlinks", "checkaccess")
_CIVICRM_GET = ("getsingle", "getcount", "getvalue", "getlist")

VOCABULARY = DialectRules(
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
    custom_entity=lambda name: name.lower().startswith("custom_"),
    metric_entities=words(
        """
        ACL ACLEntityRole Activity ActivityContact Address Afform Api3 Batch Campaign Case CaseActivity
        CaseContact CaseType Contact ContactType Contribution ContributionPage ContributionProduct
        ContributionRecur ContributionSoft Country County Currency CustomField CustomGroup CustomValue
        Dashboard DashboardContact Domain Email Entity EntityBatch EntityFinancialAccount EntityFinancialTrxn
        EntityTag Event Extension FinancialAccount FinancialItem FinancialTrxn FinancialType Grant Group
        GroupContact GroupNesting GroupOrganization Household IM Individual Job JobLog LineItem LocBlock
        LocationType Log MailSettings Mailing MailingAB MailingEventQueue MailingGroup MailingJob
        MailingRecipients Managed Mapping MappingField Membership MembershipBlock MembershipLog
        MembershipPayment MembershipStatus MembershipType MessageTemplate Navigation Note OpenID
        OptionGroup OptionValue Organization PCP Participant ParticipantPayment ParticipantStatusType
        Payment PaymentProcessor PaymentProcessorType PaymentToken Phone Pledge PledgePayment Premium
        PriceField PriceFieldValue PriceSet PrintLabel Product Profile Queue QueueItem Relationship
        RelationshipCache RelationshipType Route SavedSearch SearchDisplay Setting SiteEmailAddress
        StateProvince Survey System Tag Translation UFField UFGroup UFJoin UFMatch User WordReplacement
        Website
    """
    ),
    metric_actions=words(
        """
        get getsingle getcount getvalue getfields getoptions getlist getactions getrefcount getunique
        getquick getstatistics getcontactrefcount create delete replace setvalue check validate submit send
        transact merge duplicatecheck cancel
        update save getFields getActions autocomplete export checkAccess getLinks revert getDuplicates
        mergeDuplicates run process refresh
        """
    ),
)
