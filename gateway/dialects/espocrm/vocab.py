"""EspoCRM's vocabulary: entity types, ACL action words, route names it folds into them."""

from __future__ import annotations

from gateway.dialects.vocabulary import DialectRules, words

VOCABULARY = DialectRules(
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
    custom_entity=lambda name: len(name) > 1 and name[0] == "C" and name[1].isupper(),
    # Espo entity types and the cross-entity route names (Action, MassAction, GlobalSearch, Stream...).
    metric_entities=words(
        """
        Account Action ActionHistoryRecord Activities Admin App AppLogRecord AppSecret Attachment AuthToken
        Calendar Call Campaign CampaignLogRecord CampaignTrackingUrl Case Contact Currency DashboardTemplate
        Document DocumentFolder Email EmailAccount EmailAddress EmailFilter EmailFolder EmailTemplate
        EmailTemplateCategory Export ExternalAccount GlobalSearch GlobalStream GroupEmailFolder Import
        InboundEmail Integration Job Kanban KnowledgeBaseArticle KnowledgeBaseCategory LastViewed Layout
        LayoutSet Lead LeadCapture MassAction MassEmail Meeting Metadata Note Notification OAuthAccount
        OAuthProvider Opportunity PhoneNumber Portal PortalRole Preferences Reminder Role ScheduledJob
        Settings Stream TargetList Task Team Template Timeline User Webhook WorkingTimeCalendar
        WorkingTimeRange
    """
    ),
    metric_actions=words(
        """
        list read link unlink massUpdate massDelete massRelate convert follow unfollow stream posts followers
        usersAccess search duplicate restoreDeleted getDuplicate file download upload meta
        """
    ),
)
