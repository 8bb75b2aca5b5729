"""Who may call what on the sandbox's Microsoft Graph: the one table the service enforces and the
collection's documentation cites (least-privileged permission first in each list).

App-only tokens need one of `application` in their `roles` claim; `owned` roles (the *.OwnedBy
permissions) count only for objects whose owners include the calling service principal, and let it
create objects it then owns. Delegated tokens need one of `delegated` in `scp` AND the signed-in
user must hold one of `directory_roles` (None: any member user), or be an owner of the object when
`owners_may` is set. Anything else is 403 Authorization_RequestDenied, as Graph answers.

Sources: the "Permissions" section of each Microsoft Graph v1.0 API reference page."""
import collections

from .errors import denied

Rule = collections.namedtuple("Rule", "application owned delegated directory_roles owners_may")

GLOBAL_ADMIN = "Global Administrator"
PRIVILEGED_ROLE_ADMIN = "Privileged Role Administrator"
APP_ADMIN = "Application Administrator"
CLOUD_APP_ADMIN = "Cloud Application Administrator"
APP_ADMINS = (GLOBAL_ADMIN, APP_ADMIN, CLOUD_APP_ADMIN)
CONSENT_ADMINS = (GLOBAL_ADMIN, PRIVILEGED_ROLE_ADMIN, APP_ADMIN, CLOUD_APP_ADMIN)
ROLE_ADMINS = (GLOBAL_ADMIN, PRIVILEGED_ROLE_ADMIN)

APP_READ = ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
DIRECTORY_READ = ("Directory.Read.All", "Directory.ReadWrite.All")

PERMISSIONS = {
    # applications, their credentials, federated credentials and owners
    "applications.read": Rule(APP_READ, ("Application.ReadWrite.OwnedBy",),
                              APP_READ + ("Directory.AccessAsUser.All",), None, False),
    # creating one: Entra's default lets any member register apps, many tenants turn that off; the sandbox
    # models the locked-down tenant, so a delegated caller needs an application administrator role.
    "applications.create": Rule(("Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"), (),
                                ("Application.ReadWrite.All", "Directory.AccessAsUser.All"), APP_ADMINS, False),
    "applications.write": Rule(("Application.ReadWrite.All",), ("Application.ReadWrite.OwnedBy",),
                               ("Application.ReadWrite.All", "Directory.AccessAsUser.All"), APP_ADMINS, True),
    # service principals (enterprise applications)
    "servicePrincipals.read": Rule(APP_READ, ("Application.ReadWrite.OwnedBy",),
                                   APP_READ + ("Directory.AccessAsUser.All",), None, False),
    "servicePrincipals.write": Rule(("Application.ReadWrite.All",), ("Application.ReadWrite.OwnedBy",),
                                    ("Application.ReadWrite.All", "Directory.AccessAsUser.All"), APP_ADMINS, True),
    # application permissions granted (appRoleAssignedTo / appRoleAssignments)
    "appRoleAssignments.read": Rule(APP_READ + ("AppRoleAssignment.ReadWrite.All",), (),
                                    APP_READ + ("AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"), None, False),
    "appRoleAssignments.write": Rule(("AppRoleAssignment.ReadWrite.All",), (),
                                     ("AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"), CONSENT_ADMINS, False),
    # delegated permissions granted (admin consent)
    "oauth2PermissionGrants.read": Rule(("DelegatedPermissionGrant.Read.All", "DelegatedPermissionGrant.ReadWrite.All") + DIRECTORY_READ, (),
                                        ("DelegatedPermissionGrant.Read.All", "DelegatedPermissionGrant.ReadWrite.All")
                                        + DIRECTORY_READ + ("Directory.AccessAsUser.All",), None, False),
    "oauth2PermissionGrants.write": Rule(("DelegatedPermissionGrant.ReadWrite.All",), (),
                                         ("DelegatedPermissionGrant.ReadWrite.All", "Directory.AccessAsUser.All"), CONSENT_ADMINS, False),
    # users, the signed-in user, the tenant, any directory object
    "users.read": Rule(("User.Read.All", "User.ReadWrite.All") + DIRECTORY_READ, (),
                       ("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All") + DIRECTORY_READ + ("Directory.AccessAsUser.All",),
                       None, False),
    "me.read": Rule((), (), ("User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All")
                    + DIRECTORY_READ + ("Directory.AccessAsUser.All",), None, False),
    "organization.read": Rule(("Organization.Read.All", "Organization.ReadWrite.All") + DIRECTORY_READ, (),
                              ("User.Read", "Organization.Read.All", "Organization.ReadWrite.All") + DIRECTORY_READ, None, False),
    "directoryObjects.read": Rule(DIRECTORY_READ + APP_READ[:2] + ("User.Read.All",), (),
                                  DIRECTORY_READ + ("Directory.AccessAsUser.All",), None, False),
    # Entra directory roles (RBAC)
    "roleManagement.read": Rule(("RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory")
                                + DIRECTORY_READ, (),
                                ("RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory")
                                + DIRECTORY_READ, None, False),
    "roleManagement.write": Rule(("RoleManagement.ReadWrite.Directory",), (),
                                 ("RoleManagement.ReadWrite.Directory",), ROLE_ADMINS, False),
}


class Caller:
    """Who a validated access token speaks for."""

    def __init__(self, claims, directory_roles=()):
        self.claims = claims
        self.app_only = claims.get("idtyp") == "app" or "scp" not in claims
        self.roles = set(claims.get("roles") or ())
        self.scopes = set((claims.get("scp") or "").split())
        self.principal_id = claims.get("oid")
        self.app_id = claims.get("appid")
        self.directory_roles = set(directory_roles)

    def allowed(self, operation, owners=None):
        """True if allowed on any object, "owned" if allowed only on objects the caller owns, else False.
        `owners`, when given, are the owner ids of the object the call is about."""
        rule = PERMISSIONS[operation]
        owner = owners is not None and self.principal_id in owners
        if self.app_only:
            if self.roles & set(rule.application):
                return True
            if self.roles & set(rule.owned):
                return owner or (owners is None and "owned")
            return False
        if not self.scopes & set(rule.delegated):
            return False
        if rule.directory_roles is None or self.directory_roles & set(rule.directory_roles):
            return True
        if rule.owners_may:
            return owner or (owners is None and "owned")
        return False

    def require_some(self, operation):
        """403 unless the caller may do `operation` on at least the objects it owns: checked before an
        object's owners are known, as Graph refuses an unpermitted caller before looking anything up."""
        if not self.allowed(operation):
            raise denied()

    def require(self, operation, owners=None):
        """403 unless the caller may do `operation` on an object with these owners."""
        if self.allowed(operation, owners) is not True:
            raise denied()


def markdown():
    """The table as Markdown, for the collection's documentation: `python -m sandbox.graph.permissions`."""
    lines = ["| operation | app-only: one of | app-only, owned objects only | delegated scope: one of | signed-in user's role |",
             "|---|---|---|---|---|"]
    for operation, rule in PERMISSIONS.items():
        roles = "any member" if rule.directory_roles is None else ", ".join(rule.directory_roles)
        if rule.owners_may:
            roles += ", or owner of the object"
        lines.append("| %s | %s | %s | %s | %s |" % (operation, ", ".join(rule.application) or "-", ", ".join(rule.owned) or "-",
                                                     ", ".join(rule.delegated), roles))
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
