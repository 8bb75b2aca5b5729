# -*- coding: utf-8 -*-
"""secret_store: the Ansible Vault file store (encrypt, read, replace, remove), its refusals, and the action plugin."""

from __future__ import annotations

import os
import stat
from unittest import mock

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.mailauth.m365.plugins.action import secret_store
from ansible_collections.mailauth.m365.plugins.action.secret_store import StoreError, VaultFileStore, run_store

PASSWORD = VaultSecret(b"correct horse battery staple")
VALUE = "Xy7Q~sandbox-secret-value-0123456789abcdef"
META = dict(key_id="0a1b2c3d-1111-2222-3333-444455556666", end_date_time="2028-11-23T09:30:00Z",
            client_id="7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a", tenant_id="6f4b1c2e-8a3d-4e5f-9b7a-1c2d3e4f5a6b",
            display_name="enaio-mail")


def params(state, **given):
    args = dict(state=state, tenant="contoso", app="enaio-mail")
    args.update(given)
    result = ArgumentSpecValidator(secret_store.ARGUMENT_SPEC).validate(args)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


@pytest.fixture
def store(tmp_path):
    return VaultFileStore(str(tmp_path / "mailauth_secrets"), [("default", PASSWORD)])


def put(store, check_mode=False, value=VALUE, **meta):
    return run_store(store, params("present", value=value, **dict(META, **meta)), check_mode)


def test_present_writes_an_encrypted_file_only_its_owner_reads(store):
    result = put(store)

    path = store.path("contoso", "enaio-mail")
    assert result["changed"] is True and result["path"] == path and result["found"] is False
    assert result["secret"] == dict(META, tenant="contoso", app="enaio-mail")
    assert VALUE not in repr(result)
    data = open(path, "rb").read()
    assert data.startswith(b"$ANSIBLE_VAULT;1.1;AES256") and VALUE.encode() not in data
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    plain = VaultLib([("default", PASSWORD)]).decrypt(data).decode()
    assert "value: %s" % VALUE in plain and "ansible-vault view" in plain
    assert os.listdir(os.path.dirname(path)) == ["enaio-mail.yml"]  # no temporary file left


def test_get_returns_the_value_hidden_from_the_output(store):
    assert run_store(store, params("get"), False)["found"] is False
    put(store)

    result = run_store(store, params("get"), check_mode=True)

    assert result["found"] is True and result["writable"] is True and result["changed"] is False
    assert result["secret"]["value"] == VALUE and result["secret"]["key_id"] == META["key_id"]
    assert result["secret"]["stored_at"].endswith("Z")
    assert result["_ansible_no_log"] is True


def test_the_same_secret_again_is_no_change_and_no_write(store):
    put(store)
    path = store.path("contoso", "enaio-mail")
    before = open(path, "rb").read()

    result = put(store)

    assert result["changed"] is False and open(path, "rb").read() == before
    assert result["diff"]["before"] == result["diff"]["after"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_new_secret_replaces_the_stored_one_and_the_diff_masks_both(store, check_mode):
    put(store)
    result = put(store, check_mode, value="Zz9~another-value", key_id="9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff")

    assert result["changed"] is True
    assert result["diff"]["before"]["value"] == "********"
    assert result["diff"]["after"]["value"] == "******** (new value)"
    assert result["diff"]["after"]["key_id"] == "9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"
    stored = run_store(store, params("get"), False)["secret"]
    assert stored["value"] == (VALUE if check_mode else "Zz9~another-value")


def test_check_mode_writes_nothing(store):
    result = put(store, check_mode=True)
    assert result["changed"] is True and not os.path.exists(result["path"])


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_deletes_the_file(store, check_mode):
    put(store)
    result = run_store(store, params("absent"), check_mode)
    assert result["changed"] is True and os.path.exists(result["path"]) is check_mode
    if not check_mode:
        assert run_store(store, params("absent"), False)["changed"] is False


def test_without_a_vault_password_it_fails_with_the_fix(tmp_path):
    store = VaultFileStore(str(tmp_path), [])
    for args in (params("get"), params("present", value=VALUE, **META)):
        with pytest.raises(StoreError, match="needs a vault password.*--vault-password-file.*ANSIBLE_VAULT_PASSWORD_FILE"):
            run_store(store, args, check_mode=True)
    assert os.listdir(str(tmp_path)) == []


def test_a_file_of_another_password_is_never_overwritten(store, tmp_path):
    put(store)
    other = VaultFileStore(store.store_dir, [("default", VaultSecret(b"another password"))])
    with pytest.raises(StoreError, match="Cannot decrypt the secret store file"):
        run_store(other, params("get"), False)
    with pytest.raises(StoreError, match="Cannot decrypt"):
        put(other, value="Zz9~another-value")
    assert run_store(store, params("get"), False)["secret"]["value"] == VALUE


def test_a_plain_text_file_is_refused(store):
    path = store.path("contoso", "enaio-mail")
    os.makedirs(os.path.dirname(path))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("mailauth_secret: {value: plain}\n")
    with pytest.raises(StoreError, match="is not encrypted with Ansible Vault"):
        run_store(store, params("get"), False)


def test_a_labelled_vault_id_is_used_to_encrypt(tmp_path):
    store = VaultFileStore(str(tmp_path), [("ops", VaultSecret(b"ops password")), ("dev", PASSWORD)], vault_id="dev")
    put(store)
    assert open(store.path("contoso", "enaio-mail"), "rb").read().startswith(b"$ANSIBLE_VAULT;1.2;AES256;dev")
    assert run_store(store, params("get"), False)["secret"]["value"] == VALUE


@pytest.mark.parametrize("tenant, app", [("../etc", "x"), ("contoso", "a/b"), ("", "x"), ("contoso", ".hidden")])
def test_names_that_are_no_file_names_are_refused(store, tenant, app):
    with pytest.raises(StoreError, match="cannot name a file"):
        run_store(store, dict(params("get"), tenant=tenant, app=app), False)


def test_present_needs_a_value(store):
    with pytest.raises(StoreError, match="Parameter value: is required"):
        run_store(store, params("present", **META), False)


def test_an_unwritable_store_is_reported_by_get(store, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    result = run_store(store, params("get"), False)
    assert result["writable"] is False and "not writable" in result["problem"]


def test_writable_is_tried_not_trusted_to_os_access(store, tmp_path, monkeypatch):
    """Root passes os.access everywhere (/proc, read-only mounts): the store tries a file and leaves none."""
    assert run_store(store, params("get"), False)["writable"] is True
    assert os.listdir(tmp_path) == []  # the probe in the nearest existing directory is gone again
    monkeypatch.setattr(secret_store.tempfile, "mkstemp", mock.Mock(side_effect=PermissionError(13, "denied")))
    result = run_store(store, params("get"), False)
    assert result["writable"] is False and "not writable" in result["problem"]


# --- the action plugin ------------------------------------------------------------------------------
def action(args, check_mode=False, diff=False, secrets=(("default", PASSWORD),)):
    task = mock.MagicMock()
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    task.async_val = 0
    loader = mock.MagicMock()
    loader._vault.secrets = list(secrets)  # pylint: disable=protected-access
    plugin = secret_store.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=loader, templar=None,
                                       shared_loader_obj=None)
    return plugin


def run_action(args, task_vars, **kwargs):
    plugin = action(args, **kwargs)
    with mock.patch.object(secret_store.ActionBase, "run", return_value={}):
        return plugin.run(task_vars=task_vars)


def test_the_store_defaults_to_beside_the_inventory(tmp_path):
    args = dict(state="present", tenant="contoso", app="enaio-mail", value=VALUE, **META)
    result = run_action(args, {"inventory_dir": str(tmp_path)})
    assert result["changed"] is True and "diff" not in result
    assert result["path"] == str(tmp_path / "mailauth_secrets" / "contoso" / "enaio-mail.yml")
    got = run_action(dict(state="get", tenant="contoso", app="enaio-mail"), {"inventory_dir": str(tmp_path)})
    assert got["secret"]["value"] == VALUE and got["_ansible_no_log"] is True


def test_the_action_reports_failures_and_missing_store_dir(tmp_path):
    result = run_action(dict(state="get", tenant="contoso", app="enaio-mail"), {})
    assert result["failed"] is True and "store_dir" in result["msg"]
    result = run_action(dict(state="get", tenant="contoso", app="enaio-mail", store_dir=str(tmp_path)), {},
                        secrets=())
    assert result["failed"] is True and "vault password" in result["msg"]
    result = run_action(dict(state="get", tenant="contoso", app="enaio-mail", store_dir=str(tmp_path), mode="rw"), {})
    assert result["failed"] is True and "octal" in result["msg"]


def test_the_action_shows_the_diff_when_asked(tmp_path):
    args = dict(state="present", tenant="contoso", app="enaio-mail", value=VALUE, store_dir=str(tmp_path), **META)
    result = run_action(args, {}, diff=True, check_mode=True)
    assert result["changed"] is True and result["diff"]["after"]["value"] == "********"
    assert not os.path.exists(result["path"])


def test_pending_leaves_a_marker_that_get_reports_and_present_removes(store):
    path = store.path("contoso", "enaio-mail")
    assert run_store(store, params("get"), False)["pending"] is None
    run_store(store, params("pending", key_ids=["9F8E7D6C-AAAA-BBBB-CCCC-DDDDEEEEFFFF"]), False)

    marker = os.path.join(os.path.dirname(path), ".enaio-mail.pending")
    assert os.path.exists(marker) and stat.S_IMODE(os.stat(marker).st_mode) == 0o600
    assert run_store(store, params("get"), False)["pending"] == ["9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"]
    put(store)  # the secret being created is stored: the marker goes
    assert not os.path.exists(marker) and run_store(store, params("get"), False)["pending"] is None


def test_settled_removes_the_marker_and_check_mode_keeps_it(store):
    run_store(store, params("pending", key_ids=[]), False)
    assert run_store(store, params("get"), False)["pending"] == []
    assert run_store(store, params("settled"), True)["changed"] is True
    assert run_store(store, params("get"), False)["pending"] == []
    assert run_store(store, params("settled"), False)["changed"] is True
    assert run_store(store, params("get"), False)["pending"] is None
    assert run_store(store, params("settled"), False)["changed"] is False


def test_pending_needs_key_ids(store):
    with pytest.raises(StoreError, match="Parameter key_ids"):
        run_store(store, params("pending"), False)
