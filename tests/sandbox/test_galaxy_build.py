"""The collection as users get it: the Galaxy tarball, installed into a clean virtual environment
outside the working tree, shows its docs and runs a module against the sandbox tenant."""
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONSTRAINTS = os.path.join(ROOT, "requirements", "constraints.txt")
RUNTIME = ("msal", "requests", "cryptography", "PyJWT")


def pinned(name):
    with open(CONSTRAINTS, encoding="utf-8") as handle:
        for line in handle:
            if line.split("==")[0].strip().lower() == name.lower():
                return line.strip()
    raise AssertionError("%s is not pinned in %s" % (name, CONSTRAINTS))


def clean_env(tmp_path, venv_bin):
    """No trace of the working tree: its venv, ansible.cfg, collection paths and ANSIBLE_* settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = os.pathsep.join([venv_bin] + [p for p in env.get("PATH", "").split(os.pathsep)
                                                if not p.startswith(ROOT)])
    env.update(ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1")
    return env


def run(cmd, env, cwd, timeout=300):
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, "%s\n%s\n%s" % (" ".join(map(str, cmd)), result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-galaxy"), "collection", "build",
                    "--output-path", str(out), ROOT], check=True, capture_output=True, text=True, timeout=120)
    (path,) = out.glob("mailauth-m365-*.tar.gz")
    return path


def test_tarball_holds_only_the_collection(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    top = {n.split("/")[0] for n in names}
    assert top <= {"FILES.json", "MANIFEST.json", "README.md", "LICENSE", "plugins", "roles", "playbooks", "meta",
                   "docs", "changelogs", "tests"}, top
    assert {"LICENSE", "plugins", "meta"} <= top
    assert {n.split("/")[1] for n in names if n.startswith("tests/") and n.count("/") > 1} <= {"unit", "integration"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/.sandbox" in n]


def test_tarball_installs_and_runs_from_a_clean_venv(tarball, tmp_path, sandbox):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    venv_bin = str(venv / "bin")
    env = clean_env(tmp_path, venv_bin)
    work = tmp_path / "work"  # not the working tree: nothing there is found by accident
    work.mkdir()
    run([os.path.join(venv_bin, "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         pinned("ansible-core")] + [pinned(name) for name in RUNTIME], env, work)

    run(["ansible-galaxy", "collection", "install", "-p", str(tmp_path / "collections"), str(tarball)], env, work)
    installed = tmp_path / "collections" / "ansible_collections" / "mailauth" / "m365"
    assert (installed / "MANIFEST.json").is_file()
    listed = run(["ansible-galaxy", "collection", "list", "mailauth.m365", "--format", "json"], env, work)
    assert list(json.loads(listed)) == [str(tmp_path / "collections" / "ansible_collections")]

    doc = json.loads(run(["ansible-doc", "--json", "mailauth.m365.app_registration"], env, work))
    entry = doc["mailauth.m365.app_registration"]
    assert entry["doc"]["filename"].startswith(str(installed))
    assert "unique_name" in entry["doc"]["options"]

    conn = sandbox.conn
    tenant = sandbox.tenant("contoso")
    args = dict(cloud="custom", authority_host=conn["authority_host"], graph_endpoint=conn["graph_endpoint"],
                ca_bundle=conn["ca_bundle"], tenant_id=tenant["id"],
                client_id=tenant["automation"]["client_id"], client_secret=tenant["automation"]["client_secret"])
    playbook = [{"hosts": "localhost", "gather_facts": False,
                 "vars": {"ansible_python_interpreter": os.path.join(venv_bin, "python")},
                 "tasks": [{"name": "Read the tenant", "mailauth.m365.tenant_info": args, "register": "info",
                            "no_log": True},
                           {"name": "Show the tenant", "ansible.builtin.debug": {"msg": "TENANT={{ info.tenants[0].id }}"}}]}]
    (work / "play.yml").write_text(json.dumps(playbook), encoding="utf-8")
    out = run(["ansible-playbook", "-i", "localhost,", "-c", "local", "play.yml"], env, work)
    assert "TENANT=%s" % tenant["id"] in out
    assert re.search(r"localhost\s*:\s*ok=2\s+changed=0\s+unreachable=0\s+failed=0", out), out
    assert tenant["automation"]["client_secret"] not in out
