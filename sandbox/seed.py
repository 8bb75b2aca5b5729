"""Applies data/seed.yaml to an empty store: tenants, first-party resources, users, role
definitions and each tenant's automation identity (secret, certificate, federated credential).
`add_extra_tenants` adds more tenants made like the seed's first one (for benchmarks over many tenants)."""
import base64
import copy
import datetime
import json
import os
import uuid

from cryptography.hazmat.primitives import serialization

from . import directory as d
from . import pki as pki_mod


def _key_credential(cert, display_name):
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"customKeyIdentifier": base64.b64encode(cert.fingerprint(pki_mod.hashes.SHA1())).decode(),
            "displayName": display_name, "endDateTime": d.iso(cert.not_valid_after_utc),
            "key": base64.b64encode(der).decode(), "keyId": d.new_id(),
            "startDateTime": d.iso(cert.not_valid_before_utc), "type": "AsymmetricX509Cert", "usage": "Verify"}


def apply_seed(store, pki, seed=None, extra_tenants=0):
    seed = seed or d.load_data("seed.yaml")
    credentials = {}
    with store.transaction():
        store.kv_set("workload_issuer", seed["workload_issuer"])
        for spec in seed["tenants"]:
            credentials[spec["key"]] = _seed_tenant(store, pki, spec, seed["workload_issuer"])
        for spec in seed.get("first_party_clients", []):
            _seed_first_party_client(store, spec, seed["tenants"])
        store.kv_set("credentials", credentials)
    if extra_tenants:
        add_extra_tenants(store, pki, extra_tenants, seed)
    return store.kv_get("credentials")


EXTRA_TENANT_NAMESPACE = uuid.UUID("5b0c1f8e-6d1a-4c55-9a57-6d61696c6175")  # fixed: ids survive a reset


def extra_tenant_spec(template, number):
    """Tenant `tenantNNN`, a copy of the seed's first tenant (contoso) under its own name, id and domains:
    the same users and mailboxes, an automation identity with its own app id (certificate and secret, the
    same permissions and Exchange Administrator role), the transport switch as the template has it. The
    template's client applications stay out: their app ids are global, as in Entra."""
    key = "tenant%03d" % number
    old, new = template["key"], key
    spec = json.loads(json.dumps(template).replace(old + ".", new + "."))  # domains, UPNs
    spec.update(key=key, id=str(uuid.uuid5(EXTRA_TENANT_NAMESPACE, key)),
                displayName="Tenant %03d (sandbox, extra)" % number)
    spec.pop("clients", None)
    spec["automation"] = dict(copy.deepcopy(template["automation"]),
                              appId=str(uuid.uuid5(EXTRA_TENANT_NAMESPACE, key + "/automation")))
    return spec


def add_extra_tenants(store, pki, count, seed=None):
    """Make sure the extra tenants tenant001..tenant<count> exist (those missing are seeded, the others
    left as they are); returns the keys of the new ones. The count is kept so that a reset restores them."""
    seed = seed or d.load_data("seed.yaml")
    existing = {tenant["key"] for tenant in store.list("_", d.TENANT)}
    specs = [extra_tenant_spec(seed["tenants"][0], number) for number in range(1, count + 1)]
    specs = [spec for spec in specs if spec["key"] not in existing]
    with store.transaction():
        credentials = store.kv_get("credentials") or {}
        for spec in specs:
            credentials[spec["key"]] = _seed_tenant(store, pki, spec, seed["workload_issuer"])
        for client in seed.get("first_party_clients", []):
            _seed_first_party_client(store, client, specs, register=False)
        store.kv_set("credentials", credentials)
        store.kv_set("extra_tenants", max(count, store.kv_get("extra_tenants") or 0))
    return [spec["key"] for spec in specs]


def _seed_tenant(store, pki, spec, workload_issuer):
    tid = spec["id"]
    tenant = {"id": tid, "key": spec["key"], "displayName": spec["displayName"],
              "initialDomain": spec["initialDomain"], "defaultDomain": spec["defaultDomain"],
              "domains": spec["domains"], "createdDateTime": d.iso(d.now() - datetime.timedelta(days=400)),
              "smtpClientAuthenticationDisabled": spec.get("smtpClientAuthenticationDisabled", False)}
    store.put("_", d.TENANT, tenant)
    store.put(tid, d.ORGANIZATION, d.organization_doc(tenant))
    resources = {}
    for key in ("graph", "exchange"):
        app = d.resource_app(key)
        sp = d.service_principal_doc(tenant, app, d.MICROSOFT_TENANT_ID, d.RESOURCES[key]["servicePrincipalNames"])
        store.put(tid, d.SERVICE_PRINCIPAL, sp)
        resources[key] = sp
    roles = {}
    for role in d.RESOURCES["directory_roles"]:
        # In Entra the built-in role definition id equals the role template id.
        definition = {"id": role["templateId"], "displayName": role["displayName"], "templateId": role["templateId"],
                      "isBuiltIn": True, "isEnabled": True, "description": role["displayName"]}
        store.put(tid, d.ROLE_DEFINITION, definition)
        roles[role["displayName"]] = definition
    users = {}
    for user_spec in spec["users"]:
        user = d.user_doc(tenant, user_spec)
        store.put(tid, d.USER, user)
        users[user["userPrincipalName"]] = {"password": user_spec.get("password"), "id": user["id"],
                                            "mfa_required": bool(user_spec.get("mfaRequired")),
                                            "roles": user_spec.get("roles", [])}
        for role_name in user_spec.get("roles", []):
            _assign_directory_role(store, tid, user["id"], roles[role_name])

    auto = spec["automation"]
    app = d.application_doc(tenant, {"displayName": auto["displayName"], "appId": auto["appId"],
                                     "notes": "Seeded automation identity of the sandbox tenant."})
    end = d.now() + datetime.timedelta(days=365)
    cred, secret = d.password_credential("sandbox automation secret", end)
    app["passwordCredentials"] = [cred]
    app["_secretHashes"] = {cred["keyId"]: d.hash_secret(secret)}
    combined, key_path, cert_path = pki.client_certificate("automation-%s" % spec["key"])
    cert = pki_mod.load_cert(cert_path)
    app["keyCredentials"] = [_key_credential(cert, "CN=automation-%s" % spec["key"])]
    app["requiredResourceAccess"] = [
        {"resourceAppId": d.GRAPH_APP_ID, "resourceAccess": [
            {"id": role["id"], "type": "Role"} for role in resources["graph"]["appRoles"] if role["value"] in auto["graphRoles"]]},
        {"resourceAppId": d.EXCHANGE_APP_ID, "resourceAccess": [
            {"id": role["id"], "type": "Role"} for role in resources["exchange"]["appRoles"] if role["value"] in auto["exchangeRoles"]]},
    ]
    store.put(tid, d.APPLICATION, app)
    store.put(tid, d.FEDERATED_CREDENTIAL, {
        "id": d.new_id(), "_applicationId": app["id"], "name": "ci-main", "issuer": workload_issuer,
        "subject": auto["federatedSubject"], "audiences": ["api://AzureADTokenExchange"],
        "description": "CI pipeline of the main branch"})
    sp = d.service_principal_doc(tenant, app, tid)
    store.put(tid, d.SERVICE_PRINCIPAL, sp)
    for key, wanted in (("graph", auto["graphRoles"]), ("exchange", auto["exchangeRoles"])):
        for role in resources[key]["appRoles"]:
            if role["value"] in wanted:
                store.put(tid, d.APP_ROLE_ASSIGNMENT, {
                    "id": d.new_id(), "deletedDateTime": None, "appRoleId": role["id"], "createdDateTime": d.iso(d.now()),
                    "principalDisplayName": sp["displayName"], "principalId": sp["id"], "principalType": "ServicePrincipal",
                    "resourceDisplayName": resources[key]["displayName"], "resourceId": resources[key]["id"]})
    for role_name in auto["directoryRoles"]:
        _assign_directory_role(store, tid, sp["id"], roles[role_name])
    clients = {c["key"]: _seed_client(store, tenant, c, resources, users) for c in spec.get("clients", [])}
    return {"clients": clients, "client_id": app["appId"], "client_secret": secret, "certificate_path": os.path.abspath(combined),
            "certificate_key_path": os.path.abspath(key_path), "certificate_cert_path": os.path.abspath(cert_path),
            "certificate_thumbprint": pki_mod.thumbprint_sha1(cert), "federated_subject": auto["federatedSubject"],
            "application_object_id": app["id"], "service_principal_id": sp["id"], "users": users}


def _seed_client(store, tenant, spec, resources, users):
    """A client application for user sign-in flows, its service principal, consent and assignments."""
    tid = tenant["id"]
    app = d.application_doc(tenant, {
        "displayName": spec["displayName"], "appId": spec["appId"],
        "isFallbackPublicClient": spec.get("isFallbackPublicClient"),
        "publicClient": {"redirectUris": spec.get("publicClientRedirectUris", [])},
        "web": {"redirectUris": spec.get("webRedirectUris", [])}})
    app["requiredResourceAccess"] = [
        {"resourceAppId": resources[key]["appId"], "resourceAccess": [
            {"id": s["id"], "type": "Scope"} for s in resources[key]["oauth2PermissionScopes"] if s["value"] in scope.split()]}
        for key, scope in spec.get("consent", {}).items()]
    out = {"client_id": app["appId"], "display_name": app["displayName"],
           "redirect_uris": spec.get("publicClientRedirectUris", []) + spec.get("webRedirectUris", [])}
    app["_secretHashes"] = {}
    for kind in spec.get("secrets", []):
        if kind == "expired":
            cred, secret = d.password_credential("expired secret", d.now() - datetime.timedelta(days=30),
                                                 start=d.now() - datetime.timedelta(days=400))
        else:
            cred, secret = d.password_credential("sandbox client secret", d.now() + datetime.timedelta(days=365))
        app["passwordCredentials"].append(cred)
        app["_secretHashes"][cred["keyId"]] = d.hash_secret(secret)
        out["expired_client_secret" if kind == "expired" else "client_secret"] = secret
    store.put(tid, d.APPLICATION, app)
    sp = d.service_principal_doc(tenant, app, tid)
    sp["appRoleAssignmentRequired"] = bool(spec.get("appRoleAssignmentRequired"))
    store.put(tid, d.SERVICE_PRINCIPAL, sp)
    for key, scope in spec.get("consent", {}).items():
        store.put(tid, d.GRANT, {"id": d.new_id(), "clientId": sp["id"], "consentType": "AllPrincipals",
                                 "principalId": None, "resourceId": resources[key]["id"], "scope": scope})
    for upn in spec.get("assignedUsers", []):
        store.put(tid, d.APP_ROLE_ASSIGNMENT, {
            "id": d.new_id(), "deletedDateTime": None, "appRoleId": d.DEFAULT_ACCESS_ROLE_ID,
            "createdDateTime": d.iso(d.now()), "principalDisplayName": upn, "principalId": users[upn]["id"],
            "principalType": "User", "resourceDisplayName": sp["displayName"], "resourceId": sp["id"]})
    return out


def _seed_first_party_client(store, spec, tenants, register=True):
    """A Microsoft public client: its registration in Microsoft's tenant (multi-tenant, public client
    flows allowed; `register=False` when it is there already), and in every tenant its service
    principal and the AllPrincipals grants."""
    home = {"id": d.MICROSOFT_TENANT_ID, "initialDomain": "microsoft.onmicrosoft.com"}
    app = d.application_doc(home, {"displayName": spec["displayName"], "appId": spec["appId"],
                                   "signInAudience": "AzureADMultipleOrgs", "isFallbackPublicClient": True,
                                   "publicClient": {"redirectUris": spec.get("publicClientRedirectUris", [])}})
    if register:
        store.put(d.MICROSOFT_TENANT_ID, d.APPLICATION, app)
    for tenant_spec in tenants:
        tid = tenant_spec["id"]
        sp = d.service_principal_doc(store.get("_", d.TENANT, tid), app, d.MICROSOFT_TENANT_ID)
        store.put(tid, d.SERVICE_PRINCIPAL, sp)
        for key, scope in spec.get("consent", {}).items():
            resource = store.find_one(tid, d.SERVICE_PRINCIPAL, appId=d.RESOURCES[key]["appId"])
            store.put(tid, d.GRANT, {"id": d.new_id(), "clientId": sp["id"], "consentType": "AllPrincipals",
                                     "principalId": None, "resourceId": resource["id"], "scope": " ".join(scope.split())})


def _assign_directory_role(store, tid, principal_id, definition):
    store.put(tid, d.ROLE_ASSIGNMENT, {"id": d.new_id(), "principalId": principal_id,
                                       "roleDefinitionId": definition["id"], "directoryScopeId": "/",
                                       "appScopeId": None, "condition": None, "principalOrganizationId": tid})


def dump_json(path, data):
    """Write a file that holds secrets: owner-only from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
