"""execution-environment.yml: `ansible-builder create` writes a build context (no container engine)
whose galaxy and Python steps hold the collection and its requirements."""
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def test_ansible_builder_create(tmp_path):
    ee_dir = tmp_path / "ee"
    ee_dir.mkdir()
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(ee_dir), ROOT],
                   check=True, capture_output=True, text=True, timeout=120)
    (built,) = ee_dir.glob("mailauth-m365-*.tar.gz")
    # the definition takes the tarball from .build/ee (make ee); give it this run's tarball instead
    with open(os.path.join(ROOT, "execution-environment.yml"), encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    definition["dependencies"]["python"] = os.path.join(ROOT, "meta", "ee-requirements.txt")
    definition["additional_build_files"] = [dict(src=str(built), dest="collections")]
    definition["dependencies"]["galaxy"]["collections"][0]["name"] = "collections/" + built.name
    ee_file = ee_dir / "execution-environment.yml"
    ee_file.write_text(yaml.safe_dump(definition), encoding="utf-8")
    context = tmp_path / "context"
    result = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", str(ee_file), "-c", str(context),
                             "--output-filename", "Containerfile"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-galaxy collection install" in containerfile
    assert (context / "_build" / "collections" / built.name).is_file()
    python = (context / "_build" / "requirements.txt").read_text(encoding="utf-8").split()
    assert {"msal", "requests", "cryptography", "PyJWT"} <= set(python)
    # the galaxy stage's install, as the image build runs it (WORKDIR /build = the context's _build)
    # --force: under `make`, the working tree is already visible as mailauth.m365 (collections_path),
    # and ansible-galaxy would otherwise skip the install as "already installed".
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-r", "requirements.yml",
                    "-p", str(tmp_path / "collections")], cwd=context / "_build", check=True,
                   capture_output=True, text=True, timeout=120)
    meta = tmp_path / "collections" / "ansible_collections" / "mailauth" / "m365" / "meta"
    assert (meta / "execution-environment.yml").is_file() and (meta / "ee-requirements.txt").is_file()
