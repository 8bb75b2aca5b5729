"""Exchange's references to Entra service principals: New-/Get-/Set-/Remove-ServicePrincipal.

New-ServicePrincipal checks the pair against the directory: -ObjectId must be the object id of the
ENTERPRISE APPLICATION (service principal) of -AppId in this tenant. The app registration's object id,
the usual mistake, is not a service principal and fails as an object that couldn't be found; a service
principal of another application fails too. A new service principal is found only once Entra has
replicated it (the sandbox's replication delay applies)."""
from .. import directory as d
from . import errors
from .cmdlet import Param, cmdlet, identity
from .state import ROLE_ASSIGNMENT, SERVICE_PRINCIPAL


def service_principal_object(sp):
    return {"Identity": sp["ObjectId"], "Id": sp["ObjectId"], "Name": sp["ObjectId"], "DisplayName": sp.get("DisplayName"),
            "AppId": sp["AppId"], "ObjectId": sp["ObjectId"], "ServiceId": sp["ObjectId"],
            "ExchangeObjectId": sp["ExchangeObjectId"], "WhenCreated": sp["WhenCreated"], "WhenChanged": sp["WhenChanged"],
            "IsValid": True}


@cmdlet("New-ServicePrincipal", Param("AppId", mandatory=True), Param("ObjectId", mandatory=True, aliases=("ServiceId",)),
        Param("DisplayName"))
def new_service_principal(inv):
    app_id, object_id = inv.params["AppId"].strip().lower(), inv.params["ObjectId"].strip().lower()
    entra = inv.store.get(inv.tid, d.SERVICE_PRINCIPAL, object_id)
    if entra is None:
        raise inv.not_found(inv.params["ObjectId"])
    if entra["appId"].lower() != app_id:
        raise errors.invalid("The AppId '%s' doesn't match the AppId '%s' of the service principal with ObjectId '%s' in "
                             "Microsoft Entra ID." % (inv.params["AppId"], entra["appId"], object_id))
    if inv.state.exchange_sp(inv.tid, app_id) is not None or inv.store.get(inv.tid, SERVICE_PRINCIPAL, object_id):
        raise errors.already_exists("The service principal with AppId '%s' and ObjectId '%s' already exists." % (app_id, object_id))
    now = d.iso(d.now())
    sp = {"id": object_id, "AppId": app_id, "ObjectId": object_id, "DisplayName": inv.params.get("DisplayName"),
          "ExchangeObjectId": d.new_id(), "WhenCreated": now, "WhenChanged": now}
    inv.store.put(inv.tid, SERVICE_PRINCIPAL, sp)
    return [service_principal_object(sp)]


@cmdlet("Get-ServicePrincipal", identity(False))
def get_service_principal(inv):
    if inv.given("Identity"):
        return [service_principal_object(inv.service_principal(inv.params["Identity"]))]
    return [service_principal_object(sp) for sp in inv.state.service_principals(inv.tid)]


@cmdlet("Set-ServicePrincipal", identity(), Param("DisplayName"))
def set_service_principal(inv):
    sp = inv.service_principal(inv.params["Identity"])
    if inv.given("DisplayName"):
        sp["DisplayName"] = inv.params["DisplayName"]
        sp["WhenChanged"] = d.iso(d.now())
        inv.store.put(inv.tid, SERVICE_PRINCIPAL, sp)
    return []


@cmdlet("Remove-ServicePrincipal", identity())
def remove_service_principal(inv):
    """Removes the reference with what hangs on it in Exchange: its role assignments, FullAccess and SendAs."""
    sp = inv.service_principal(inv.params["Identity"])
    for assignment in inv.state.role_assignments(inv.tid):
        if assignment["AppObjectId"] == sp["ObjectId"]:
            inv.store.delete(inv.tid, ROLE_ASSIGNMENT, assignment["id"])
    trustee = {"kind": "servicePrincipal", "id": sp["ObjectId"]}
    for box in inv.state.mailboxes(inv.tid):
        permissions = [e for e in box.doc["permissions"] if e["trustee"] != trustee]
        send_as = [e for e in box.doc["sendAs"] if e["trustee"] != trustee]
        if len(permissions) != len(box.doc["permissions"]) or len(send_as) != len(box.doc["sendAs"]):
            box.doc["permissions"], box.doc["sendAs"] = permissions, send_as
            inv.state.save_mailbox(inv.tid, box)
    inv.store.delete(inv.tid, SERVICE_PRINCIPAL, sp["id"])
    return []
