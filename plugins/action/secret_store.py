# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of mailauth.m365.secret_store: client secrets kept between runs in Ansible Vault files.

A client secret's value exists only in the answer of the call that created it, so it is stored at once,
encrypted with the vault password(s) the play was started with (``--vault-password-file``,
``ANSIBLE_VAULT_PASSWORD_FILE``, ``--vault-id``), one file per tenant and application:
``<store_dir>/<tenant>/<app>.yml``. It runs on the controller, where the vault secrets are; the value never
goes to a managed host, into a log or into a diff.
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile

import yaml
from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

try:
    from ansible.parsing.vault import VaultLib, is_encrypted, match_encrypt_secret
except ImportError:  # pragma: no cover - every supported ansible-core has them
    VaultLib = is_encrypted = match_encrypt_secret = None

try:  # ansible-core 2.19+: the play's secrets are also kept in a context
    from ansible.parsing.vault import VaultSecretsContext
except ImportError:  # pragma: no cover - older ansible-core
    VaultSecretsContext = None

ARGUMENT_SPEC = dict(
    state=dict(type="str", required=True, choices=["present", "absent", "get", "pending", "settled"]),
    tenant=dict(type="str", required=True),
    app=dict(type="str", required=True),
    store_dir=dict(type="path"),
    value=dict(type="str", no_log=True),
    # Identifiers and dates, not secrets: masking them would hide which secret is stored.
    key_id=dict(type="str", no_log=False),
    end_date_time=dict(type="str"),
    client_id=dict(type="str"),
    tenant_id=dict(type="str"),
    display_name=dict(type="str"),
    vault_id=dict(type="str"),
    mode=dict(type="str", default="0600"),
    key_ids=dict(type="list", elements="str", no_log=False),
)
DEFAULT_STORE = "mailauth_secrets"
ROOT_KEY = "mailauth_secret"
PENDING_KEY = "mailauth_secret_pending"
METADATA = ("tenant", "app", "tenant_id", "client_id", "display_name", "key_id", "end_date_time")
MASK = "********"
# A path component: no separators, no "..", nothing a shell or YAML would trip over.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
HEADER = ("# mailauth.m365 secret store: the client secret of one application in one tenant.\n"
          "# Encrypted with Ansible Vault; read it with: ansible-vault view <this file>\n")


class StoreError(Exception):
    """A failure the task reports as is: what went wrong and what to do."""


def vault_secrets(loader):
    """The vault secrets the play was started with: [(vault_id, VaultSecret), ...] (maybe empty)."""
    vault = getattr(loader, "_vault", None)
    secrets = list(getattr(vault, "secrets", None) or [])
    if not secrets and VaultSecretsContext is not None:
        context = VaultSecretsContext.current(optional=True)
        secrets = list(getattr(context, "secrets", None) or [])
    return [(vault_id, secret) for vault_id, secret in secrets if secret is not None]


NO_PASSWORD_FIX = ("Start the play with the vault password: --vault-password-file FILE, the environment variable "
                   "ANSIBLE_VAULT_PASSWORD_FILE, or --vault-id LABEL@SOURCE (docs/secret_store.md).")


class VaultFileStore:
    """One Ansible Vault file per tenant and application under ``store_dir``."""

    def __init__(self, store_dir, secrets, vault_id=None, mode=0o600):
        self.store_dir = store_dir
        self.secrets = secrets
        self.vault_id = vault_id
        self.mode = mode

    def path(self, tenant, app):
        for option, name in (("tenant", tenant), ("app", app)):
            if not _NAME.match(name or ""):
                raise StoreError("Parameter %s: %r cannot name a file of the secret store. Use letters, digits, "
                                 "'.', '_', '-' and '@' only." % (option, name))
        return os.path.join(self.store_dir, tenant, app + ".yml")

    @staticmethod
    def pending_path(path):
        """The marker of a secret being created for ``path``: a dot file, outside the names of applications."""
        directory, name = os.path.split(path)
        return os.path.join(directory, "." + name[:-len(".yml")] + ".pending")

    def read_pending(self, path):
        """The key IDs the application had when a secret was about to be created for ``path``, or None."""
        try:
            with open(self.pending_path(path), "rb") as handle:
                record = (yaml.safe_load(handle.read()) or {}).get(PENDING_KEY)
        except FileNotFoundError:
            return None
        except (OSError, yaml.YAMLError, AttributeError) as err:
            raise StoreError("Cannot read the marker %s of an interrupted secret creation: %s. Delete it if no run is "
                             "creating a secret." % (self.pending_path(path), err)) from None
        return [plain(key).lower() for key in (record or {}).get("key_ids") or []]

    def write_pending(self, path, key_ids, stamp):
        plain_text = yaml.safe_dump({PENDING_KEY: {"key_ids": [plain(k).lower() for k in key_ids], "started": stamp}},
                                    default_flow_style=False)
        self._replace(self.pending_path(path), to_bytes(plain_text))

    def clear_pending(self, path):
        """Remove the marker; True when there was one."""
        try:
            os.unlink(self.pending_path(path))
        except FileNotFoundError:
            return False
        except OSError as err:
            raise StoreError("Cannot remove the marker %s: %s." % (self.pending_path(path), err.strerror)) from None
        return True

    def vault(self):
        if not self.secrets:
            raise StoreError("The secret store %s needs a vault password, and the play was started without one. %s"
                             % (self.store_dir, NO_PASSWORD_FIX))
        return VaultLib(self.secrets)

    def read(self, path):
        """The stored record (with ``value``), or None when there is no file."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StoreError("Cannot read the secret store file %s: %s." % (path, err.strerror)) from None
        if not is_encrypted(data):
            raise StoreError("The secret store file %s is not encrypted with Ansible Vault. Encrypt it "
                             "(ansible-vault encrypt %s) or delete it and run playbooks/rotate_secret.yml."
                             % (path, path))
        try:
            plain = self.vault().decrypt(data)
        except AnsibleError as err:
            raise StoreError("Cannot decrypt the secret store file %s with the vault password(s) given (%s). Start the "
                             "play with the vault password it was encrypted with." % (path, to_text(err))) from None
        try:
            record = (yaml.safe_load(to_text(plain)) or {}).get(ROOT_KEY)
        except (yaml.YAMLError, AttributeError):
            record = None
        if not isinstance(record, dict) or not record.get("value"):
            raise StoreError("The secret store file %s holds no secret (no %s.value). Delete it and run "
                             "playbooks/rotate_secret.yml." % (path, ROOT_KEY))
        return record

    def write(self, path, record):
        """Encrypt ``record`` and replace the file atomically, readable by its owner only."""
        vault = self.vault()
        vault_id, secret = match_encrypt_secret(self.secrets, self.vault_id or C.DEFAULT_VAULT_ENCRYPT_IDENTITY)
        plain = HEADER + yaml.safe_dump({ROOT_KEY: record}, default_flow_style=False, sort_keys=False)
        data = vault.encrypt(plain, secret=secret, vault_id=vault_id)
        self._replace(path, to_bytes(data))
        return vault_id

    def _replace(self, path, data):
        """Replace ``path`` with ``data`` atomically (temporary file, fsync, rename), mode ``self.mode``."""
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".secret-", dir=directory)
        except OSError as err:
            raise StoreError("Cannot write to the secret store %s: %s." % (directory, err.strerror)) from None
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, self.mode)
            os.replace(temporary, path)
        except OSError as err:
            raise StoreError("Cannot write the secret store file %s: %s." % (path, err.strerror)) from None
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def writable(self, path):
        """Whether ``path`` could be written: its directory, or the nearest one that exists, is writable."""
        directory = os.path.dirname(path)
        while not os.path.isdir(directory):
            parent = os.path.dirname(directory)
            if parent == directory:
                return False
            directory = parent
        if not os.access(directory, os.W_OK | os.X_OK):
            return False
        # os.access says yes to root everywhere, /proc and read-only mounts included: try it, leaving nothing.
        try:
            handle, probe = tempfile.mkstemp(prefix=".probe-", dir=directory)
        except OSError:
            return False
        os.close(handle)
        os.unlink(probe)
        return True


def plain(value):
    """``value`` as an exact ``str`` (or None): task arguments may be str subclasses that YAML cannot write."""
    return None if value is None else to_bytes(value, errors="surrogate_or_strict").decode("utf-8")


def metadata(record):
    return {key: plain((record or {}).get(key)) for key in METADATA}


def run_store(store, params, check_mode, now=None):
    """The task's result for ``params`` (validated task arguments); raises StoreError."""
    path = store.path(params["tenant"], params["app"])
    state = params["state"]
    if state == "get":
        record = store.read(path)
        result = dict(changed=False, path=path, found=record is not None, writable=store.writable(path),
                      secret=None, pending=store.read_pending(path))
        if not result["writable"]:
            result["problem"] = "the directory of %s is not writable" % path
        if record is not None:
            result["secret"] = dict(metadata(record), stored_at=record.get("stored_at"), value=record["value"])
            # The value is in the result: keep the whole result out of the output, whatever the task says.
            result["_ansible_no_log"] = True
        else:
            store.vault()  # a store without a password could not keep what is about to be created
        return result

    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if state == "pending":
        # Written before a secret is created, so that a run killed before it stored the value leaves a trace:
        # the next run removes the secrets of the application that are neither listed here nor stored.
        if params.get("key_ids") is None:
            raise StoreError("Parameter key_ids: is required with state=pending (the key IDs the application "
                             "has before the new secret is created; [] for none).")
        if not check_mode:
            store.write_pending(path, params["key_ids"], stamp)
        return dict(changed=True, path=path, found=os.path.exists(path), secret=None)

    if state == "settled":
        had = os.path.exists(store.pending_path(path))
        if had and not check_mode:
            store.clear_pending(path)
        return dict(changed=had, path=path, found=os.path.exists(path), secret=None)

    if state == "absent":
        exists = os.path.exists(path)
        if exists and not check_mode:
            os.unlink(path)
            store.clear_pending(path)
        return dict(changed=exists, path=path, found=exists, secret=None,
                    diff=dict(before=dict(path=path if exists else None), after=dict(path=None)))

    if not params.get("value"):
        raise StoreError("Parameter value: is required with state=present (the secret to store).")
    wanted = {key: plain(params.get(key)) for key in METADATA}
    have = store.read(path)
    same = have is not None and metadata(have) == wanted and have.get("value") == params["value"]
    before = dict(metadata(have), value=MASK) if have is not None else {}
    after = dict(wanted, value=MASK if same or have is None else MASK + " (new value)")
    result = dict(changed=not same, path=path, found=have is not None, secret=wanted,
                  diff=dict(before=before, after=after))
    if same:
        return result
    store.vault()  # check mode, too, says when the store could not be written
    if not check_mode:
        record = dict(wanted, value=plain(params["value"]), stored_at=stamp)
        result["vault_id"] = store.write(path, record)
        store.clear_pending(path)  # the secret being created is stored now
    return result


class ActionModule(ActionBase):
    """Reads and writes the encrypted secret store on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        task_vars = task_vars or {}
        store_dir = params.get("store_dir")
        if not store_dir:
            inventory_dir = task_vars.get("inventory_dir")
            if not inventory_dir:
                result.update(failed=True,
                              msg="Parameter store_dir: not given, and this host has no inventory_dir to keep the "
                                  "store beside. Give store_dir.")
                return result
            store_dir = os.path.join(inventory_dir, DEFAULT_STORE)
        try:
            mode = int(params["mode"], 8)
        except ValueError:
            result.update(failed=True, msg="Parameter mode: %r is not an octal mode such as 0600." % params["mode"])
            return result
        store = VaultFileStore(os.path.abspath(os.path.expanduser(store_dir)), vault_secrets(self._loader),
                               vault_id=params.get("vault_id"), mode=mode)
        try:
            outcome = run_store(store, params, self._task.check_mode)
        except StoreError as err:
            result.update(failed=True, msg=str(err))
            return result
        if not self._task.diff:
            outcome.pop("diff", None)
        result.update(outcome)
        return result
