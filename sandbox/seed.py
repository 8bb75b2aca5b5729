"""Applies data/seed.yaml to an empty store: tenants, first-party resources, users, role
definitions and each tenant's automation identity (secret, certificate, federated credential)."""
import base64
import datetime
import json
import os

from cryptography.hazmat.primitives import serialization

from . import directory as d
from . import pki as pki_mod


def _key_credential(cert, display_name):
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"customKeyIdentifier": base64.b64encode(cert.fingerprint(pki_mod.hashes.SHA1())).decode(),
            "displayName": display_name, "endDateTime": d.iso(cert.not_valid_after_utc),
            "key": base64.b64encode(der).decode(), "keyId": d.new_id(),
            "startDateTime": d.iso(cert.not_valid_before_utc), "type": "AsymmetricX509Cert", "usage": "Verify"}


def apply_seed(store, pki, seed=None):
    seed = seed or d.load_data("seed.yaml")
    credentials = {}
    with store.transaction():
        store.kv_set("workload_issuer", seed["workload_issuer"])
        for spec in seed["tenants"]:
            credentials[spec["key"]] = _seed_tenant(store, pki, spec, seed["workload_issuer"])
        store.kv_set("credentials", credentials)
    return credentials


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
    return {"client_id": app["appId"], "client_secret": secret, "certificate_path": os.path.abspath(combined),
            "certificate_key_path": os.path.abspath(key_path), "certificate_cert_path": os.path.abspath(cert_path),
            "certificate_thumbprint": pki_mod.thumbprint_sha1(cert), "federated_subject": auto["federatedSubject"],
            "application_object_id": app["id"], "service_principal_id": sp["id"], "users": users}


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
