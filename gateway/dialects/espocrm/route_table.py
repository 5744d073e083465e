"""EspoCRM 10's ``routes.json`` (Crm module first, then core: the server's registration order), one
``METHOD /pattern [kind]`` a line, and the first path segments that never name an entity.

Every route is opaque except the kinds the dialect classifies; custom or extension routes are not in
the table, so a request for one is read as the generic route it would otherwise look like.
"""

from __future__ import annotations

import re

CRM_ROUTES = """
GET /Activities/:parentType/:id/composeEmailAddressList
GET /Activities/:parentType/:id/:type
GET /Activities/:parentType/:id/:type/list/:targetType
GET /Activities/upcoming
GET /Activities
GET /Timeline
GET /Timeline/busyRanges
GET /Meeting/:id/attendees
GET /Call/:id/attendees
POST /Campaign/:id/generateMailMerge
GET /TargetList/:id/optedOut
POST /Campaign/unsubscribe/:id
DELETE /Campaign/unsubscribe/:id
POST /Campaign/unsubscribe/:emailAddress/:hash
DELETE /Campaign/unsubscribe/:emailAddress/:hash
"""

CORE_ROUTES = """
GET /
GET /App/user
POST /App/destroyAuthToken
GET /App/about
GET /App/appParams
GET /Metadata
GET /I18n
GET /Settings
PATCH /Settings
PUT /Settings
GET /Stream
GET /GlobalStream
GET /GlobalSearch
POST /LeadCapture/form/:id
POST /LeadCapture/:apiKey
OPTIONS /LeadCapture/:apiKey
POST /:controller/action/:action entity-action
PUT /:controller/action/:action entity-action
GET /:controller/action/:action entity-action
GET /:controller/layout/:name
PUT /:controller/layout/:name
PUT /:controller/layout/:name/:setId
POST /Admin/rebuild
POST /Admin/clearCache
GET /Admin/jobs
GET /Admin/fieldManager/:scope/:name
POST /Admin/fieldManager/:scope
PUT /Admin/fieldManager/:scope/:name
PATCH /Admin/fieldManager/:scope/:name
DELETE /Admin/fieldManager/:scope/:name
GET /CurrencyRate
PUT /CurrencyRate
POST /Action action
POST /MassAction mass-action
GET /MassAction/:id/status
POST /MassAction/:id/subscribe
POST /Export export
GET /Export/:id/status
POST /Export/:id/subscribe
POST /Import
POST /Import/file
POST /Import/:id/revert
POST /Import/:id/removeDuplicates
POST /Import/:id/unmarkDuplicates
POST /Import/:id/exportErrors
PUT /Kanban/order
GET /Kanban/:entityType kanban
GET /Attachment/file/:id
POST /Attachment/chunk/:id
POST /Attachment/fromImageUrl
POST /Attachment/copy/:id
POST /Note/:id/myReactions/:type
DELETE /Note/:id/myReactions/:type
GET /Note/:id/reactors/:type
GET /Notification/:id/group
GET /Notification/group
DELETE /Notification/group/:id
POST /Notification/group/:id/markRead
POST /EmailTemplate/:id/prepare
POST /Email/:id/attachments/copy
POST /Email/importEml
POST /Email/sendTest
POST /Email/inbox/read
DELETE /Email/inbox/read
POST /Email/inbox/important
DELETE /Email/inbox/important
POST /Email/inbox/inTrash
DELETE /Email/inbox/inTrash
POST /Email/inbox/folders/:folderId
GET /Email/inbox/notReadCounts
GET /Email/insertFieldData
POST /Email/:id/users
GET /EmailAddress/search
GET /User/:id/stream/own
GET /User/:id/acl
POST /UserSecurity/apiKey/generate
PUT /UserSecurity/password
POST /UserSecurity/password/recovery
POST /UserSecurity/password/generate
POST /User/passwordChangeRequest
POST /User/changePasswordByRequest
PUT /Team/:id/userPosition
POST /EmailAccount/:id/resetFetchData
POST /InboundEmail/:id/resetFetchData
GET /Oidc/authorizationData
POST /Oidc/backchannelLogout
POST /OAuth/:id/connection
DELETE /OAuth/:id/connection
GET /OpenApi
GET /:controller/:id read
GET /:controller list
POST /:controller create
PUT /:controller/:id update
PATCH /:controller/:id update
DELETE /:controller/:id delete
GET /:entityType/:id/followers followers-read
POST /:entityType/:id/followers followers-write
DELETE /:entityType/:id/followers followers-write
GET /:controller/:id/stream stream-read
GET /:controller/:id/posts stream-read
GET /:controller/:id/updateStream stream-read
PUT /:controller/:id/subscription subscription
DELETE /:controller/:id/subscription subscription
GET /:entityType/:id/streamAttachments stream-read
POST /Note/:id/pin
DELETE /Note/:id/pin
PUT /:entityType/:id/starSubscription star
DELETE /:entityType/:id/starSubscription star
GET /:entityType/:id/usersAccess users-access
GET /:controller/:id/:link link-read
POST /:controller/:id/:link link-relate
DELETE /:controller/:id/:link link-unrelate
POST /Pipeline/:id/move/:type
POST /PipelineStage/:id/move/:type
"""

NON_ENTITY_CONTROLLERS = frozenset(
    {
        # Controllers and action routes that are not record types (no entityDefs scope).
        "Action", "Activities", "Admin", "ApiIndex", "App", "Calendar", "CurrencyRate", "Dashboard",
        "DataPrivacy", "EntityManager", "Export", "FieldManager", "Formula", "GlobalSearch",
        "GlobalStream", "I18n", "Kanban", "LabelManager", "LastViewed", "Layout", "Ldap", "MassAction",
        "Metadata", "OAuth", "Oidc", "OpenApi", "Pdf", "PopupNotification", "Settings", "Stream",
        "TemplateManager", "Timeline", "TwoFactorEmail", "TwoFactorSms", "UserSecurity",
        # A record type whose actions install code on the server: never a plain entity.
        "Extension",
    }
)  # fmt: skip
"""First path segments that never name an entity: every request to them is opaque."""

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def is_entity_name(name: str) -> bool:
    """True when ``name`` can be read as an entity type (a plain identifier, not a system controller)."""
    return _IDENTIFIER.fullmatch(name) is not None and name not in NON_ENTITY_CONTROLLERS
