"""Runs every integration target (tests/integration/targets/*) with ansible-playbook against the sandbox."""
import os
import subprocess

import pytest

from site_helpers import playbook_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS_DIR = os.path.join(ROOT, "tests", "integration", "targets")
TARGETS = sorted(name for name in os.listdir(TARGETS_DIR) if os.path.isdir(os.path.join(TARGETS_DIR, name)))


def run_playbook(sandbox, playbook, *extra, check=True):
    argv, env = playbook_command(sandbox, playbook, *extra)
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    if check and result.returncode != 0:
        pytest.fail("ansible-playbook %s failed (rc %d):\n%s\n%s" % (playbook, result.returncode,
                                                                     result.stdout[-20000:], result.stderr[-5000:]))
    return result


def _target_class(target):
    """One test class per target: pytest-xdist's `loadscope` hands each class to a free worker (with its
    own sandbox), so the targets, which mostly wait out throttling and replication delay, run side by side."""
    def test_integration_target(self, sandbox):
        run_playbook(sandbox, "tests/integration/integration.yml", "-e", "target=%s" % target)
    return type("TestTarget_%s" % target, (), {"test_integration_target": test_integration_target})


for _target_name in TARGETS:
    globals()["TestTarget_%s" % _target_name] = _target_class(_target_name)


def test_demo_playbook(sandbox):
    """`make demo`'s playbook sets up enaio and XLReporter in both seeded tenants and their stand-in servers."""
    password_file = os.path.join(sandbox.state_dir, "demo-vault-password")
    if not os.path.exists(password_file):
        with open(os.open(password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as handle:
            handle.write("sandbox demo only\n")
    result = run_playbook(sandbox, "playbooks/demo.yml", "-i", "playbooks/inventory/demo.yml",
                          "-i", "playbooks/inventory/demo_servers.yml", "--vault-password-file", password_file)
    for tenant in sandbox.conn["tenants"]:
        assert "== Tenant %s: %s (%s) ==" % (tenant["key"], tenant["default_domain"], tenant["id"]) in result.stdout
    # The summary: enaio's message read back in each tenant.
    assert result.stdout.count("smoke test: delivered - ") == len(sandbox.conn["tenants"])
