"""The directory model shared by the identity platform and Graph: tenants, applications, service
principals, credentials, users, grants and role assignments, stored as Graph-shaped JSON documents.

Keys starting with "_" are sandbox-private (password hashes, secret hashes) and never leave the
sandbox: Graph's serializer drops them. Everything else has the name and shape Graph v1.0 uses."""
import datetime
import hashlib
import os
import secrets
import string
import uuid

import yaml

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"
MICROSOFT_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"  # owner of first-party apps

# Object kinds in the store
TENANT, APPLICATION, SERVICE_PRINCIPAL, USER = "tenant", "application", "servicePrincipal", "user"
GRANT, APP_ROLE_ASSIGNMENT, ROLE_ASSIGNMENT = "oauth2PermissionGrant", "appRoleAssignment", "roleAssignment"
ROLE_DEFINITION, FEDERATED_CREDENTIAL, ORGANIZATION = "roleDefinition", "federatedIdentityCredential", "organization"


def load_data(name):
    with open(os.path.join(DATA_DIR, name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


RESOURCES = load_data("resources.yaml")


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    """Graph's DateTimeOffset format: UTC with a Z."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    if text is None:
        return None
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def new_id():
    return str(uuid.uuid4())


def hash_secret(value):
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret_text():
    """40 characters shaped like Entra's: 3 characters, the '8Q~' version marker, then 34 more."""
    alphabet = string.ascii_letters + string.digits + "_-.~"
    head = "".join(secrets.choice(string.ascii_letters + string.digits) for position in range(3))
    return head + "8Q~" + "".join(secrets.choice(alphabet) for position in range(34))


# --- entity factories (defaults match what Graph v1.0 returns for a new object) ----------------
def application_doc(tenant, body, created_by_app_id=None):
    doc = {
        "id": new_id(), "deletedDateTime": None, "appId": new_id(), "applicationTemplateId": None,
        "disabledByMicrosoftStatus": None, "createdDateTime": iso(now()), "displayName": None,
        "description": None, "groupMembershipClaims": None, "identifierUris": [], "isDeviceOnlyAuthSupported": None,
        "isFallbackPublicClient": None, "nativeAuthenticationApisEnabled": None, "notes": None,
        "publisherDomain": tenant["initialDomain"], "serviceManagementReference": None,
        "signInAudience": "AzureADMyOrg", "tags": [], "tokenEncryptionKeyId": None, "uniqueName": None,
        "samlMetadataUrl": None, "defaultRedirectUri": None, "certification": None,
        "optionalClaims": None, "servicePrincipalLockConfiguration": None, "requestSignatureVerification": None,
        "addIns": [], "createdByAppId": created_by_app_id,
        "api": {"acceptMappedClaims": None, "knownClientApplications": [], "requestedAccessTokenVersion": None,
                "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
        "appRoles": [],
        "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None,
                 "termsOfServiceUrl": None},
        "keyCredentials": [],
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [],
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [],
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "web": {"homePageUrl": None, "logoutUrl": None, "redirectUris": [],
                "implicitGrantSettings": {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": False},
                "redirectUriSettings": []},
        "spa": {"redirectUris": []},
    }
    merge_patch(doc, body)
    return doc


def service_principal_doc(tenant, app, owner_tenant_id, sp_names=None, sp_type="Application"):
    """An enterprise application for `app` (an application document or a first-party resource)."""
    return {
        "id": new_id(), "deletedDateTime": None, "accountEnabled": True, "alternativeNames": [],
        "appDisplayName": app.get("displayName"), "appDescription": app.get("description"),
        "appId": app["appId"], "applicationTemplateId": None, "appOwnerOrganizationId": owner_tenant_id,
        "appRoleAssignmentRequired": False, "createdByAppId": None, "description": None,
        "disabledByMicrosoftStatus": None, "displayName": app.get("displayName"), "homepage": None,
        "loginUrl": None, "logoutUrl": None, "notes": None, "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": None, "preferredTokenSigningKeyThumbprint": None,
        "replyUrls": sorted(set(app.get("web", {}).get("redirectUris", []) + app.get("publicClient", {}).get("redirectUris", []))),
        "servicePrincipalNames": sp_names if sp_names is not None else [app["appId"]],
        "servicePrincipalType": sp_type, "signInAudience": app.get("signInAudience", "AzureADMyOrg"),
        "tags": [], "tokenEncryptionKeyId": None, "samlSingleSignOnSettings": None, "addIns": [],
        "appRoles": [dict(role) for role in app.get("appRoles", [])],
        "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None,
                 "termsOfServiceUrl": None},
        "keyCredentials": [],
        "oauth2PermissionScopes": [dict(scope) for scope in app.get("api", {}).get("oauth2PermissionScopes", [])],
        "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
    }


def resource_app(key):
    """A first-party resource (graph/exchange) as an application-shaped dict with its permissions."""
    spec = RESOURCES[key]
    scopes = [{"adminConsentDescription": s["name"], "adminConsentDisplayName": s["name"], "id": s["id"],
               "isEnabled": True, "type": s["type"], "userConsentDescription": s["name"],
               "userConsentDisplayName": s["name"], "value": s["value"]} for s in spec["scopes"]]
    roles = [{"allowedMemberTypes": ["Application"], "description": r["name"], "displayName": r["name"],
              "id": r["id"], "isEnabled": True, "origin": "Application", "value": r["value"]} for r in spec["roles"]]
    return {"appId": spec["appId"], "displayName": spec["displayName"], "appRoles": roles,
            "api": {"oauth2PermissionScopes": scopes}, "signInAudience": "AzureADMultipleOrgs"}


def password_credential(display_name, end, start=None):
    """Returns (credential document, secret text)."""
    secret = new_secret_text()
    start = start or now()
    cred = {"customKeyIdentifier": None, "displayName": display_name, "endDateTime": iso(end), "hint": secret[:3],
            "keyId": new_id(), "secretText": None, "startDateTime": iso(start)}
    return cred, secret


def user_doc(tenant, spec):
    upn = spec["userPrincipalName"]
    doc = {
        "id": spec.get("id") or new_id(), "deletedDateTime": None, "accountEnabled": spec.get("accountEnabled", True),
        "businessPhones": [], "displayName": spec.get("displayName"), "givenName": spec.get("givenName"),
        "jobTitle": spec.get("jobTitle"), "mail": upn if spec.get("mailbox") else None, "mobilePhone": None,
        "officeLocation": None, "preferredLanguage": "en-US", "surname": spec.get("surname"),
        "userPrincipalName": upn, "userType": "Member",
        "_password": hash_secret(spec["password"]) if spec.get("password") else None,
        "_mfaRequired": bool(spec.get("mfaRequired")),
        "_mailbox": bool(spec.get("mailbox")),
    }
    return doc


def organization_doc(tenant):
    domains = [{"capabilities": "Email, OfficeCommunicationsOnlineService" if name != tenant["initialDomain"] else "Email",
                "isDefault": name == tenant["defaultDomain"], "isInitial": name == tenant["initialDomain"],
                "name": name, "type": "Managed"} for name in tenant["domains"]]
    return {
        "id": tenant["id"], "deletedDateTime": None, "businessPhones": [], "city": None, "country": None,
        "countryLetterCode": "US", "createdDateTime": tenant["createdDateTime"], "defaultUsageLocation": None,
        "displayName": tenant["displayName"], "marketingNotificationEmails": [], "onPremisesLastSyncDateTime": None,
        "onPremisesSyncEnabled": None, "partnerTenantType": None, "postalCode": None, "preferredLanguage": "en",
        "securityComplianceNotificationMails": [], "securityComplianceNotificationPhones": [], "state": None,
        "street": None, "technicalNotificationMails": [], "tenantType": "AAD",
        "assignedPlans": [{"assignedDateTime": tenant["createdDateTime"], "capabilityStatus": "Enabled",
                           "service": "exchange", "servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0"}],
        "provisionedPlans": [{"capabilityStatus": "Enabled", "provisioningStatus": "Success", "service": "exchange"}],
        "privacyProfile": None, "verifiedDomains": domains,
    }


def merge_patch(target, patch):
    """Graph PATCH semantics: top-level properties are replaced; complex values merge one level,
    collections are replaced whole."""
    for key, value in (patch or {}).items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merged = dict(target[key])
            merged.update(value)
            target[key] = merged
        else:
            target[key] = value
    return target


# --- lookups shared by identity and graph ------------------------------------------------------
class Directory:
    def __init__(self, store):
        self.store = store

    def tenants(self):
        return self.store.list("_", TENANT)

    def resolve_tenant(self, name):
        """A tenant by id or by any of its verified domains (case-insensitive); None if unknown."""
        if not name:
            return None
        lowered = name.lower()
        for tenant in self.tenants():
            if tenant["id"] == lowered or lowered in [d.lower() for d in tenant["domains"]]:
                return tenant
        return None

    def application_by_app_id(self, tid, app_id, include_invisible=False):
        return self.store.find_one(tid, APPLICATION, include_invisible, appId=app_id)

    def service_principal_by_app_id(self, tid, app_id, include_invisible=False):
        return self.store.find_one(tid, SERVICE_PRINCIPAL, include_invisible, appId=app_id)

    def service_principal_by_name(self, tid, name):
        """The resource a scope like https://outlook.office.com/SMTP.Send refers to."""
        lowered = name.lower().rstrip("/")
        for sp in self.store.list(tid, SERVICE_PRINCIPAL):
            names = [n.lower().rstrip("/") for n in sp.get("servicePrincipalNames", [])]
            if lowered in names or lowered == sp["appId"]:
                return sp
        return None

    def user_by_upn(self, tid, upn):
        lowered = (upn or "").lower()
        for user in self.store.list(tid, USER):
            if user["userPrincipalName"].lower() == lowered:
                return user
        return None

    def app_roles_granted(self, tid, client_sp_id, resource_sp):
        """Values of the app roles assigned to the client SP on the resource SP (what `roles` carries)."""
        by_id = {role["id"]: role["value"] for role in resource_sp.get("appRoles", [])}
        assignments = self.store.find(tid, APP_ROLE_ASSIGNMENT, principalId=client_sp_id, resourceId=resource_sp["id"])
        return sorted({by_id[a["appRoleId"]] for a in assignments if a["appRoleId"] in by_id})

    def delegated_scopes_granted(self, tid, client_sp_id, resource_sp_id, user_id):
        """Scopes consented for this client on this resource: tenant-wide (AllPrincipals) or for the user."""
        granted = set()
        for grant in self.store.find(tid, GRANT, clientId=client_sp_id, resourceId=resource_sp_id):
            if grant["consentType"] == "AllPrincipals" or grant.get("principalId") == user_id:
                granted.update((grant.get("scope") or "").split())
        return granted

    def directory_roles_of(self, tid, principal_id):
        """Display names of the directory roles assigned to a user or service principal."""
        definitions = {d["id"]: d["displayName"] for d in self.store.list(tid, ROLE_DEFINITION)}
        return sorted({definitions.get(a["roleDefinitionId"], a["roleDefinitionId"])
                       for a in self.store.find(tid, ROLE_ASSIGNMENT, principalId=principal_id)})
