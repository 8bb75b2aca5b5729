"""Tenant-wide settings: Get-/Set-TransportConfig (the SMTP AUTH switch for every mailbox that does
not set its own) and Get-/Set-OrganizationConfig (EWS: on/off, the access policy, the user-agent allow and
block lists, and the EWS application allow list `EwsAllowedAppIDs` of client ids). A multi-valued
setting is replaced by an array, or changed by {"Add": [...], "Remove": [...]} as @{Add=...} does."""
import uuid

from . import errors
from .cmdlet import Param, cmdlet

EWS_POLICIES = ("EnforceAllowList", "EnforceBlockList")
MULTI_VALUED = ("EwsAllowList", "EwsBlockList", "EwsAllowedAppIDs")


def _multi(current, value):
    if isinstance(value, dict):
        items = list(current or [])
        for item in value.get("add", []):
            if item.lower() not in [i.lower() for i in items]:
                items.append(item)
        removed = {item.lower() for item in value.get("remove", [])}
        return [i for i in items if i.lower() not in removed]
    return list(value)


@cmdlet("Get-TransportConfig")
def get_transport_config(inv):
    transport = inv.state.organization(inv.tid)["transport"]
    return [{"Identity": "Transport Settings", "Name": "Transport Settings",
             "SmtpClientAuthenticationDisabled": transport["SmtpClientAuthenticationDisabled"],
             "AllowLegacyTLSClients": transport["AllowLegacyTLSClients"],
             "MaxSendSize": "35 MB (36,700,160 bytes)", "MaxReceiveSize": "36 MB (37,748,736 bytes)",
             "ExternalDsnReportingAuthority": None, "IsValid": True}]


@cmdlet("Set-TransportConfig", Param("SmtpClientAuthenticationDisabled", "bool"), Param("AllowLegacyTLSClients", "bool"))
def set_transport_config(inv):
    doc = inv.state.organization(inv.tid)
    for name in ("SmtpClientAuthenticationDisabled", "AllowLegacyTLSClients"):
        if inv.given(name):
            doc["transport"][name] = inv.params[name]
    inv.state.save_organization(inv.tid, doc)
    return []


@cmdlet("Get-OrganizationConfig")
def get_organization_config(inv):
    settings = inv.state.organization(inv.tid)["organization"]
    out = {"Identity": inv.tenant["initialDomain"], "Name": inv.tenant["initialDomain"], "DisplayName": inv.tenant["displayName"],
           "Guid": inv.tid, "IsValid": True}
    out.update(settings)
    return [out]


@cmdlet("Set-OrganizationConfig", Param("EwsEnabled", "nullable_bool"),
        Param("EwsApplicationAccessPolicy", "enum", choices=EWS_POLICIES,
              type_name="Microsoft.Exchange.Data.Directory.EwsApplicationAccessPolicy"),
        Param("OAuth2ClientProfileEnabled", "bool"), Param("SmtpActionableMessagesEnabled", "bool"),
        *[Param(name, "multi") for name in MULTI_VALUED])
def set_organization_config(inv):
    doc = inv.state.organization(inv.tid)
    settings = doc["organization"]
    for name, value in inv.params.items():
        if name in MULTI_VALUED:
            settings[name] = _multi(settings.get(name), value)
        elif name in settings:
            settings[name] = value
    for app_id in settings["EwsAllowedAppIDs"]:
        try:
            uuid.UUID(app_id)
        except ValueError:
            raise errors.invalid("The value '%s' of EwsAllowedAppIDs isn't a valid application ID (a GUID)." % app_id,
                                 "Microsoft.Exchange.Data.DataValidationException")
    settings["EwsAllowedAppIDs"] = [str(uuid.UUID(a)) for a in settings["EwsAllowedAppIDs"]]
    inv.state.save_organization(inv.tid, doc)
    return []
