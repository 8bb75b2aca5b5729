#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/secret_store.py), on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: secret_store
short_description: Keep client secrets between runs, encrypted with Ansible Vault
version_added: 0.1.0
description:
  - A client secret's value exists only in the answer of the call that created it
    (M(mailauth.m365.app_secret)). Store it at once with this module, so that re-runs, servers joining the
    fleet and C(playbooks/rotate_secret.yml) can use it later, and no run mints a new secret because it forgot
    the old one.
  - One file per tenant and application, C(<store_dir>/<tenant>/<app>.yml), encrypted as a whole with Ansible
    Vault, using the vault password the play was started with (C(--vault-password-file), the environment
    variable E(ANSIBLE_VAULT_PASSWORD_FILE), C(--vault-id), or C(--ask-vault-pass)). Read one by hand with
    C(ansible-vault view <file>).
  - Files get mode C(0600), their directories C(0700); a file is replaced atomically and only when what it
    holds changes, so a re-run with the same secret reports no change.
  - The value never appears in the output, in a diff or in a log; O(state=get) returns it in a result that is
    always hidden from the output (as with C(no_log)), for the next task to use.
  - For an external store (HashiCorp Vault, Azure Key Vault), see C(docs/secret_store.md) and the role
    C(mailauth.m365.tenant_mail_app)'s C(tenant_mail_app_secret_store=tasks).
  - Runs on the controller as an action plugin, whatever host the play targets.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  state:
    description:
      - V(get) reads the stored secret; RV(found) says whether there is one.
      - V(present) stores the secret (O(value) and its metadata), replacing what was stored.
      - V(absent) deletes the file.
      - V(pending) notes, before a secret is created, which secrets the application already has (O(key_ids)), in
        a marker beside the file (C(.<app>.pending), no secret in it). A run killed after the secret was created
        but before it was stored leaves the marker, and RV(pending) tells the next run which secrets it may
        remove, those neither listed nor stored, whose value nobody has. V(present) removes the marker.
      - V(settled) removes the marker, after such secrets were removed.
    type: str
    choices: [present, absent, get, pending, settled]
    required: true
  tenant:
    description:
      - The tenant the secret belongs to, as a short name of your choosing (the inventory name of the tenant,
        for example C(contoso)); the directory of the store.
      - Letters, digits, C(.), C(_), C(-) and C(@).
    type: str
    required: true
  app:
    description:
      - The application, by its unique name (for example C(enaio-mail)); the name of the file.
      - Letters, digits, C(.), C(_), C(-) and C(@).
    type: str
    required: true
  store_dir:
    description:
      - The directory of the store.
      - Default C(mailauth_secrets) beside the inventory, C(<inventory_dir>/mailauth_secrets).
      - The files are encrypted like any vault file; keep them out of version control and back them up, or commit them.
    type: path
  value:
    description:
      - The secret's value. Required with O(state=present).
    type: str
  key_id:
    description: The secret's key ID (the portal's I(Secret ID)), with O(state=present).
    type: str
  end_date_time:
    description: When the secret expires (ISO 8601), with O(state=present).
    type: str
  client_id:
    description: The application (client) ID the secret belongs to, with O(state=present).
    type: str
  tenant_id:
    description: The directory (tenant) ID, with O(state=present).
    type: str
  display_name:
    description: The secret's description in Entra ID, with O(state=present).
    type: str
  vault_id:
    description:
      - The vault ID (label) whose password encrypts the file, when the play was given several.
      - Default Ansible's C(DEFAULT_VAULT_ENCRYPT_IDENTITY) setting, else the first password given.
      - Reading tries every password given.
    type: str
  key_ids:
    description:
      - With O(state=pending), the key IDs of the secrets the application has before a new one is created
        (V([]) for none).
    type: list
    elements: str
  mode:
    description: Mode of the files.
    type: str
    default: "0600"
attributes:
  action:
    description: Runs on the controller as an action plugin.
    support: full
  async:
    description: Cannot run asynchronously.
    support: none
  check_mode:
    description: Can run in check mode and then predicts whether it would change anything, without changing it.
    support: full
    details: O(state=get) reads in check mode too.
  diff_mode:
    description: Returns the state before and after in diff mode.
    support: full
    details: Metadata only; the value is always masked.
  idempotent:
    description: Running it again with the same options reports no change and changes nothing.
    support: full
notes:
  - The vault password is not asked for by this module; it uses what the play was started with, and fails with
    the fix when there is none.
  - Encrypted with a vault ID label, a file is read back by any play given the same password under any label.
seealso:
  - module: mailauth.m365.app_secret
  - name: Ansible Vault
    description: How Ansible encrypts files and where the vault password comes from.
    link: https://docs.ansible.com/ansible/latest/vault_guide/index.html
"""

EXAMPLES = r"""
- name: Create the enaio client secret
  mailauth.m365.app_secret:
    unique_name: enaio-mail
    display_name: enaio-mail
  register: enaio_secret
  no_log: true

- name: Store it at once (contoso's store, beside the inventory)
  mailauth.m365.secret_store:
    state: present
    tenant: contoso
    app: enaio-mail
    value: "{{ enaio_secret.secret.value }}"
    key_id: "{{ enaio_secret.secret.key_id }}"
    end_date_time: "{{ enaio_secret.secret.end_date_time }}"
    client_id: "{{ enaio_secret.application.app_id }}"
    display_name: enaio-mail
  when: enaio_secret.secret.value_returned

- name: Read it in a later run
  mailauth.m365.secret_store:
    state: get
    tenant: contoso
    app: enaio-mail
  register: enaio_stored

- name: Use it
  ansible.builtin.debug:
    msg: "Stored secret {{ enaio_stored.secret.key_id }}, valid until {{ enaio_stored.secret.end_date_time }}"
  when: enaio_stored.found
"""

RETURN = r"""
path:
  description: The file of the secret.
  returned: always
  type: str
  sample: /srv/ansible/inventory/mailauth_secrets/contoso/enaio-mail.yml
found:
  description: Whether the file existed (before the task, with O(state=present) and O(state=absent)).
  returned: always
  type: bool
  sample: true
writable:
  description: With O(state=get), whether the file could be written (its directory, or the nearest that exists, is writable).
  returned: with O(state=get)
  type: bool
  sample: true
problem:
  description: With O(state=get), why the file could not be written.
  returned: when RV(writable) is false
  type: str
  sample: the directory of /srv/ansible/inventory/mailauth_secrets/contoso/enaio-mail.yml is not writable
secret:
  description:
    - The stored secret (O(state=get)) or what was stored (O(state=present)); V(null) when there is none.
    - Only O(state=get) returns RV(secret.value), and the whole result is then hidden from the output.
  returned: always
  type: dict
  contains:
    tenant:
      description: The tenant name of the store.
      type: str
      sample: contoso
    app:
      description: The application's unique name.
      type: str
      sample: enaio-mail
    tenant_id:
      description: The directory (tenant) ID.
      type: str
      sample: 6f4b1c2e-8a3d-4e5f-9b7a-1c2d3e4f5a6b
    client_id:
      description: The application (client) ID.
      type: str
      sample: 7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a
    display_name:
      description: The secret's description.
      type: str
      sample: enaio-mail
    key_id:
      description: The secret's key ID.
      type: str
      sample: 0a1b2c3d-1111-2222-3333-444455556666
    end_date_time:
      description: When the secret expires.
      type: str
      sample: "2028-11-23T09:30:00Z"
    stored_at:
      description: When it was stored (UTC), with O(state=get).
      type: str
      sample: "2026-11-23T09:30:02Z"
    value:
      description: The secret's value, only with O(state=get).
      type: str
      sample: Xy7Q~abcdefghijklmnopqrstuvwxyz0123456789
pending:
  description:
    - With O(state=get), the key IDs of O(state=pending) when a secret creation was started and never stored
      (the run was interrupted); V(null) when there is no marker.
  returned: with O(state=get)
  type: list
  elements: str
  sample: ["0a1b2c3d-1111-2222-3333-444455556666"]
vault_id:
  description: The vault ID the file was encrypted with, when this run wrote it.
  returned: when written
  type: str
  sample: default
"""
