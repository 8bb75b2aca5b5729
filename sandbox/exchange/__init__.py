"""Exchange Online of the sandbox (outlook.office365.com): the admin endpoint the ExchangeOnlineManagement
module v3 uses, POST /adminapi/beta/{tenant}/InvokeCommand (service.py), with the cmdlets the collection
needs (recipients.py, principals.py, rbac.py, organization.py) and the state they keep (state.py, whose
`ExchangeState` is also the API other services read it through).

Store kinds, per tenant (JSON documents in the sandbox's SQLite store):
- `exchange.mailbox` (id = the user's object id): what Exchange adds to a mailbox. `cas` (SmtpClient-
  AuthenticationDisabled: null = follow the tenant, true/false = the mailbox's own switch; ImapEnabled,
  PopEnabled, EwsEnabled, MAPIEnabled, OWAEnabled, ActiveSyncEnabled), `permissions` (FullAccess and other
  mailbox rights: [{"trustee": {"kind": "user"|"servicePrincipal", "id"}, "rights", "deny", "inheritance",
  "autoMapping"}]), `sendAs` ([{"trustee"}]), `customAttributes` ({"1".."15": value}). Written on the first
  change; a mailbox without one has the defaults. Which users have a mailbox is the directory's
  `_mailbox` flag (seeded users with `mailbox: true`).
- `exchange.organization` (id "organization"): `transport` (SmtpClientAuthenticationDisabled, starting from
  the tenant's `smtpClientAuthenticationDisabled` in data/seed.yaml; AllowLegacyTLSClients) and
  `organization` (EwsEnabled, EwsApplicationAccessPolicy, EwsAllowList, EwsBlockList, EwsAllowedAppIDs, ...).
- `exchange.servicePrincipal` (id = the Entra service principal's object id): AppId, ObjectId, DisplayName,
  ExchangeObjectId, WhenCreated, WhenChanged.
- `exchange.managementScope` (id = a GUID): Name, RecipientRestrictionFilter (OPATH), WhenCreated, WhenChanged.
- `exchange.roleAssignment` (id = a GUID): Name, Role ("Application Mail.Send", ...), AppObjectId (the Exchange
  service principal), ScopeId (a management scope, or null for the whole organization), WhenCreated.
"""
from .service import ExchangeService
from .state import ExchangeState

__all__ = ["ExchangeService", "ExchangeState"]
