"""playbooks/site.yml under faults and interruptions: the lean version of `make faults` / `make interrupts`
(tests/faults/campaign.py, numbers in docs/resilience.md).

Under faults (30 % of requests 429 with Retry-After, 5 % 503, 3 % dropped connections, half of them after the
request was carried out, replication delay up to 2 s here instead of 10 s), site.yml finishes without a failed task; killed at the moment it creates the
client secret, a re-run finishes. Either way a second run without faults changes nothing, and the tenants hold
no duplicate: one application per unique name, one service principal, one grant per client and resource, one
Exchange service principal, no repeated mailbox permission, and exactly the stored secret, which signs in.
The servers' files hold it, and nothing temporary is left. One class per case, so that pytest-xdist spreads
them over its workers (each with its own sandbox, borrowed and left without realism settings). To keep the CPU
time small, each case sets up one tenant's enaio (the profile with the most objects: app, service principal,
user assignments, application permission, secret, Exchange service principal, FullAccess, SendAs, SMTP AUTH)
and its two servers; the campaign runs the whole site."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "faults"))

from campaign import FULL_FAULTS, fault_seed, interrupt_seed  # noqa: E402  pylint: disable=wrong-import-position

# Half the dropped connections come after the request was carried out: a write whose answer is lost.
CI_FAULTS = dict(FULL_FAULTS, replication_delay=[0.0, 2.0], drop_after_apply=0.5)
CONTOSO = {"tenants": ("contoso",), "products": ("enaio",)}
FABRIKAM = {"tenants": ("fabrikam",), "products": ("enaio",)}


def _check(row):
    assert row["result"] == "ok" and row["duplicates"] == 0, "\n".join(
        ["seed %d: %s" % (row["seed"], row["result"])] + row["problems"])


class TestFaultsSeed1:
    def test_site_converges_under_faults(self, sandbox, tmp_path):
        _check(fault_seed(1, str(tmp_path), CI_FAULTS, sandbox=sandbox, site_options=CONTOSO))


class TestFaultsSeed2:
    def test_site_converges_under_faults(self, sandbox, tmp_path):
        _check(fault_seed(2, str(tmp_path), CI_FAULTS, sandbox=sandbox, site_options=FABRIKAM))


class TestInterruptKill:
    """SIGKILL of the process group just after the client secret was asked for."""

    def test_site_recovers_from_an_interruption(self, sandbox, tmp_path):
        _check(interrupt_seed(6, str(tmp_path), sandbox=sandbox, site_options=FABRIKAM))


class TestInterruptCtrlC:
    """SIGINT of the process group (Ctrl-C) just after the client secret was asked for."""

    def test_site_recovers_from_an_interruption(self, sandbox, tmp_path):
        _check(interrupt_seed(4, str(tmp_path), sandbox=sandbox, site_options=CONTOSO))
