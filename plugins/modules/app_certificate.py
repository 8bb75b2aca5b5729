#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_certificate
short_description: Add or remove a certificate credential of an Entra ID app registration
version_added: 0.1.0
description:
  - Adds a certificate (I(Certificates & secrets), I(Certificates) in the portal) to an app registration, or
    removes it, so that a server or the automation itself signs in with a certificate instead of a client secret.
  - The certificate is read from a PEM file (O(certificate_path)) or PEM text (O(certificate)). Only its
    public part is sent; a private key in the same PEM is ignored and never sent.
  - Certificates are matched by SHA-1 thumbprint, so running it again changes nothing.
  - The other credentials of the application are kept. Microsoft Graph replaces the whole list of
    certificates on every change, so the module reads the current list (with each certificate) and writes it
    back with the one certificate added or removed.
  - A new certificate may take a few seconds before sign-ins accept it (Entra replication); the module
    returns at once.
  - Needs the Microsoft Graph permission C(Application.ReadWrite.All), or C(Application.ReadWrite.OwnedBy)
    for an app the signed-in identity owns.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  state:
    description:
      - V(present) adds the certificate unless the application has it already.
      - V(absent) removes the credentials with the certificate's thumbprint.
    type: str
    choices: [present, absent]
    default: present
  certificate_path:
    description:
      - Path to a PEM file with the certificate (C(-----BEGIN CERTIFICATE-----)), on the host the module runs on.
      - When the file holds several certificates (a chain), the first one is used.
      - With O(state=present), the certificate must be valid now; an expired certificate can still be removed.
      - One of O(certificate_path), O(certificate) and (with O(state=absent)) O(thumbprint) is required.
    type: path
  certificate:
    description:
      - The certificate as PEM text, instead of O(certificate_path).
      - Give the public certificate only. Task arguments can end up in logs; a private key in this text is ignored,
        and a warning says so.
    type: str
  thumbprint:
    description:
      - With O(state=absent), the SHA-1 thumbprint of the certificate to remove, as the portal shows it
        (40 hexadecimal digits; colons and spaces are ignored).
    type: str
  display_name:
    description:
      - The credential's description in the portal.
      - Defaults to the certificate's subject, for example C(CN=mail.contoso.com).
      - Only used when the certificate is added; the description of an existing credential cannot be changed.
    type: str
notes:
  - Two changes to the same application at the same moment can overwrite each other, because Graph replaces the
    whole list; run it once per application (for example with C(run_once=true)).
  - Graph's C(addKey) needs a proof signed by a certificate the application already has; a C(PATCH) of the whole
    list, as this module does, works for the first certificate too.
extends_documentation_fragment:
  - mailauth.m365.application_key
  - mailauth.m365.connection
  - mailauth.m365.attributes
  - mailauth.m365.attributes.action_group_entra
attributes:
  check_mode:
    support: full
    details: Predicts the credential list without writing it.
  diff_mode:
    support: full
    details: Shows the application's certificate credentials (metadata only) before and after.
  idempotent:
    support: full
seealso:
  - module: mailauth.m365.app_secret
  - module: mailauth.m365.app_registration
  - name: Update application (Microsoft Graph)
    description: The C(PATCH) of C(keyCredentials) this module sends.
    link: https://learn.microsoft.com/graph/api/application-update
  - name: keyCredential resource type (Microsoft Graph)
    description: The properties of a certificate credential.
    link: https://learn.microsoft.com/graph/api/resources/keycredential
"""

EXAMPLES = r"""
# The automation identity signs in with a certificate instead of a secret.
- name: Add the automation certificate to the app registration
  mailauth.m365.app_certificate:
    unique_name: contoso-mail-automation
    certificate_path: /etc/mailauth/automation.pem
  delegate_to: localhost
  run_once: true
  register: automation_cert

- name: Show what the portal will list
  ansible.builtin.debug:
    msg: "{{ automation_cert.certificate.thumbprint }} valid until {{ automation_cert.certificate.end_date_time }}"

# Monitor ERP mails through EWS with an app of its own; give it a certificate with a clear description.
- name: Add the Monitor G5 certificate
  mailauth.m365.app_certificate:
    app_id: 6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f
    certificate: "{{ lookup('ansible.builtin.file', 'files/monitor-g5.crt') }}"
    display_name: Monitor G5 mail 2026
  delegate_to: localhost

# Renewal: add the new certificate, deploy it, then remove the old one by its thumbprint.
- name: Remove the previous certificate
  mailauth.m365.app_certificate:
    app_id: 6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f
    thumbprint: "3A:1F:9C:0B:5E:6D:7A:8B:9C:0D:1E:2F:3A:4B:5C:6D:7E:8F:9A:0B"
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
application:
  description: The app registration. None when it does not exist (only possible with O(state=absent)).
  returned: always
  type: dict
  contains:
    id:
      description: Object ID of the app registration.
      type: str
      sample: 3b1e5a9c-7d2f-4e8a-9c6b-1f2e3d4c5b6a
    app_id:
      description: Application (client) ID.
      type: str
      sample: 6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f
certificate:
  description: The credential of this certificate after the run (predicted in check mode); None with O(state=absent).
  returned: always
  type: dict
  contains:
    key_id:
      description: The credential's key ID.
      type: str
      sample: 5c4b3a29-1111-2222-3333-444455556666
    thumbprint:
      description: SHA-1 thumbprint in hexadecimal, upper case, as the portal shows it.
      type: str
      sample: 3A1F9C0B5E6D7A8B9C0D1E2F3A4B5C6D7E8F9A0B
    display_name:
      description: The credential's description.
      type: str
      sample: CN=mailauth automation
    type:
      description: C(AsymmetricX509Cert).
      type: str
      sample: AsymmetricX509Cert
    usage:
      description: C(Verify), a credential the app signs in with.
      type: str
      sample: Verify
    start_date_time:
      description: Start of validity (UTC).
      type: str
      sample: "2026-08-20T00:00:00Z"
    end_date_time:
      description: End of validity (UTC).
      type: str
      sample: "2027-08-20T00:00:00Z"
    expires_in_days:
      description: Whole days until it expires; negative once it has expired.
      type: int
      sample: 364
    expired:
      description: Whether it has expired.
      type: bool
      sample: false
key_credentials:
  description: Every certificate credential of the application after the run (predicted in check mode), metadata only.
  returned: always
  type: list
  elements: dict
  contains:
    key_id:
      description: The credential's key ID.
      type: str
    thumbprint:
      description: SHA-1 thumbprint (hexadecimal, upper case), when it can be told.
      type: str
    display_name:
      description: The credential's description.
      type: str
    type:
      description: C(AsymmetricX509Cert) for a certificate.
      type: str
    usage:
      description: C(Verify) for a credential the app signs in with.
      type: str
    start_date_time:
      description: Start of validity (UTC).
      type: str
    end_date_time:
      description: End of validity (UTC).
      type: str
    expires_in_days:
      description: Whole days until it expires.
      type: int
    expired:
      description: Whether it has expired.
      type: bool
  sample:
    - key_id: 5c4b3a29-1111-2222-3333-444455556666
      thumbprint: 3A1F9C0B5E6D7A8B9C0D1E2F3A4B5C6D7E8F9A0B
      display_name: CN=mailauth automation
      type: AsymmetricX509Cert
      usage: Verify
      start_date_time: "2026-08-20T00:00:00Z"
      end_date_time: "2027-08-20T00:00:00Z"
      expires_in_days: 364
      expired: false
removed:
  description: Key IDs of the credentials removed by this run (that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: []
"""

import uuid

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.mailauth.m365.plugins.module_utils._auth import HAS_CRYPTOGRAPHY
from ansible_collections.mailauth.m365.plugins.module_utils._credentials import (
    credential_record,
    format_datetime,
    key_credential_thumbprint,
    normalize_thumbprint,
    read_pem_certificate,
    utc_now,
)
from ansible_collections.mailauth.m365.plugins.module_utils._errors import MailauthError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._graph import (
    APPLICATION_KEY_NAMES,
    APPLICATION_KEY_OPTIONS,
    read_application_by_options,
)
from ansible_collections.mailauth.m365.plugins.module_utils._http import wait_for_replication
from ansible_collections.mailauth.m365.plugins.module_utils._module import run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import make_diff

REQUIRED_PERMISSION = "Application.ReadWrite.All (or Application.ReadWrite.OwnedBy on an application it owns)"
# keyCredentials must be selected on a single-object read: only then does Graph return each `key`.
APPLICATION_FIELDS = "id,appId,keyCredentials"
# What a keyCredential written back must carry so that Graph keeps it as it is.
KEY_CREDENTIAL_FIELDS = ("customKeyIdentifier", "displayName", "endDateTime", "key", "keyId", "startDateTime",
                         "type", "usage")
CERTIFICATE_SOURCES = ("certificate_path", "certificate", "thumbprint")

ARGUMENT_SPEC = dict(
    APPLICATION_KEY_OPTIONS,
    state=dict(type="str", default="present", choices=["present", "absent"]),
    certificate_path=dict(type="path"),
    certificate=dict(type="str"),
    thumbprint=dict(type="str"),
    display_name=dict(type="str"),
)
MODULE_OPTIONS = dict(
    mutually_exclusive=[APPLICATION_KEY_NAMES, CERTIFICATE_SOURCES],
    required_one_of=[APPLICATION_KEY_NAMES],
    required_if=[("state", "present", ("certificate_path", "certificate"), True),
                 ("state", "absent", CERTIFICATE_SOURCES, True)],
)


def run(module, clients):
    """Read the application's key credentials once; add or remove one by thumbprint; PATCH the merged list."""
    params = module.params
    now = utc_now()
    present = params["state"] == "present"
    certificate, option = load_certificate(module, params)
    if present:
        check_validity(certificate, option, now)
    thumbprint = certificate.thumbprint if certificate else normalize_thumbprint(params["thumbprint"])

    app, key_option, value = read_application_by_options(clients.graph, params, select=APPLICATION_FIELDS,
                                                         permission=REQUIRED_PERMISSION, required=present)
    if app is None:
        module.warn("No application with %s %r: there is no certificate to remove." % (key_option, value))
        return False, dict(application=None, certificate=None, key_credentials=[], removed=[]), None

    current = app.get("keyCredentials") or []
    matches = [credential for credential in current if key_credential_thumbprint(credential) == thumbprint]
    removed = []
    if present and matches:
        desired = current
        wanted = params["display_name"]
        if wanted and wanted != matches[0].get("displayName"):
            module.warn("The certificate is on the application as %r; Graph cannot rename a credential, so "
                        "display_name %r was not applied (remove and add the certificate to rename it)."
                        % (matches[0].get("displayName"), wanted))
    elif present:
        desired = current + [new_key_credential(certificate, params["display_name"])]
    else:
        removed = [credential.get("keyId") for credential in matches]
        desired = [credential for credential in current if credential not in matches]

    changed = len(desired) != len(current)
    if changed and not module.check_mode:
        write_key_credentials(clients, app, desired)

    mine = next((credential for credential in desired if key_credential_thumbprint(credential) == thumbprint), None)
    record = dict(
        application=dict(id=app["id"], app_id=app["appId"]),
        certificate=credential_record(mine, now) if present and mine else None,
        key_credentials=[credential_record(credential, now) for credential in desired],
        removed=removed,
    )
    diff = make_diff(dict(key_credentials=[credential_record(c, now) for c in current]),
                     dict(key_credentials=record["key_credentials"]))
    return changed, record, diff


def load_certificate(module, params):
    """The certificate the options give, and the option it came from; (None, "thumbprint") for a thumbprint."""
    if params["thumbprint"]:
        return None, "thumbprint"
    if not HAS_CRYPTOGRAPHY:
        raise MailauthError(missing_required_lib("cryptography"))
    if params["certificate"]:
        certificate = read_pem_certificate(params["certificate"], "certificate")
        if certificate.had_private_key:
            module.warn("The certificate option holds a private key. It was ignored and not sent, but task arguments "
                        "can be logged: pass only the public certificate, or use certificate_path.")
        return certificate, "certificate"
    path = params["certificate_path"]
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ParameterError("certificate_path", "cannot read %s (%s)." % (path, exc.strerror),
                             "Give the path of a PEM certificate on the host the module runs on.") from None
    return read_pem_certificate(data, "certificate_path", path), "certificate_path"


def check_validity(certificate, option, now):
    if certificate.not_after <= now:
        raise ParameterError(option, "the certificate (thumbprint %s) expired on %s." % (
            certificate.thumbprint, format_datetime(certificate.not_after)),
            "Issue a new certificate; Entra ID does not sign anyone in with an expired one.")
    if certificate.not_before > now:
        raise ParameterError(option, "the certificate (thumbprint %s) is not valid before %s." % (
            certificate.thumbprint, format_datetime(certificate.not_before)),
            "Use a certificate that is valid now (check the clock of the host that made it).")


def new_key_credential(certificate, display_name):
    """The keyCredential of a new certificate. Its keyId is made here, so no read is needed after the write."""
    return dict(
        customKeyIdentifier=certificate.custom_key_identifier,
        displayName=display_name or certificate.subject,
        endDateTime=format_datetime(certificate.not_after),
        key=certificate.key_base64,
        keyId=str(uuid.uuid4()),
        startDateTime=format_datetime(certificate.not_before),
        type="AsymmetricX509Cert",
        usage="Verify",
    )


def write_key_credentials(clients, app, credentials):
    """PATCH the whole ``keyCredentials`` list (it replaces what is there), riding out replication lag."""
    body = dict(keyCredentials=[writable(credential) for credential in credentials])
    wait_for_replication(
        lambda: clients.graph.patch("applications/%s" % app["id"], body, permission=REQUIRED_PERMISSION),
        sleep=clients.sleep, clock=clients.clock, include_forbidden=False)


def writable(credential):
    """A credential as read, to send back unchanged; refuses one whose certificate Graph did not return."""
    if not credential.get("key"):
        raise MailauthError(
            "Graph returned the credential %s (%s) without its certificate (key), so writing the list back would "
            "drop or break it. Nothing was changed. Check that the signed-in identity may read the application's "
            "keyCredentials." % (credential.get("keyId"), credential.get("displayName")),
            key_id=credential.get("keyId"))
    return dict((name, credential[name]) for name in KEY_CREDENTIAL_FIELDS if credential.get(name) is not None)


def main():
    run_module(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **MODULE_OPTIONS)


if __name__ == "__main__":
    main()
