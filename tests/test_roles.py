"""Ansible roles: every variable documented once and in the argument spec; Molecule for every role."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from camkit.rig import IMAGE, ensure_image, podman_env

from conftest import ROOT

ROLES = sorted(p.parent.parent for p in (ROOT / "roles").glob("*/defaults/main.yml"))


def test_there_are_roles() -> None:
    assert {r.name for r in ROLES} >= {"nftables", "freeradius"}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_and_argument_specs_agree(role: Path) -> None:
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(defaults) == set(spec), "defaults/main.yml and meta/argument_specs.yml list different variables"
    for name, opt in spec.items():
        assert name.startswith(f"{role.name}_"), f"{name}: variables are prefixed with the role name"
        assert opt.get("description"), f"{name}: no description in the argument spec"
        if not opt.get("required"):
            assert opt.get("default") == defaults[name], f"{name}: default differs between the two files"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_commented(role: Path) -> None:
    lines = (role / "defaults" / "main.yml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+:", line):
            assert i > 0 and lines[i - 1].startswith("#"), f"{role.name}: '{line}' has no comment above it"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_per_distro_vars(role: Path) -> None:
    for distro in ("Debian", "Ubuntu"):
        assert (role / "vars" / f"{distro}.yml").exists(), f"{role.name}: vars/{distro}.yml missing"


def test_yamllint_is_clean() -> None:
    res = subprocess.run([sys.executable, "-m", "yamllint", "-s", "roles/"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


def test_ansible_lint_production_profile() -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "ansible_collections.py")], check=True, capture_output=True)
    env = dict(os.environ) | {"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"), "NO_COLOR": "1",
                              "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = subprocess.run([str(Path(sys.executable).parent / "ansible-lint"), "roles/", "playbooks/"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]


def wheelhouse(tmp: Path) -> Path:
    """camkit and every dependency as wheels, in one tar (what a contractor carries to a site)."""
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", str(ROOT), "-w", str(wheels)], check=True,
                   capture_output=True, timeout=900)
    tar = tmp / "camkit-wheels.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(wheels), "."], check=True)
    return tar


@pytest.mark.slow
@pytest.mark.parametrize("role", [r for r in ROLES if (r / "molecule" / "default").is_dir()], ids=lambda p: p.name)
def test_molecule(role: Path, tmp_path: Path) -> None:
    """create, converge, idempotence, verify (testinfra), destroy on the local systemd image."""
    import secrets

    password = tmp_path / "vault-password"  # for the scenario's throwaway secrets store
    password.write_text(secrets.token_urlsafe(24) + "\n")
    password.chmod(0o600)
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "ansible_collections.py")], check=True, capture_output=True)
    ensure_image()
    env = podman_env() | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
        "CAMKIT_HOST_IMAGE": IMAGE,
        "CAMKIT_MOLECULE_VAULT_PASSWORD_FILE": str(password),
        # The scenario's scratch folder (secrets store, rendered build). Molecule's own ephemeral folder lives in
        # ~/.ansible/tmp and outlives the run, so a store made with an earlier run's vault password would be
        # found again (`creates:`) and fail to decrypt.
        "CAMKIT_MOLECULE_WORK": str(work),
        "NO_COLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    if role.name == "camera_hardening":  # installs camkit on the host offline, from wheels built here
        env["CAMKIT_WHEELHOUSE"] = str(wheelhouse(tmp_path))
    res = subprocess.run([str(Path(sys.executable).parent / "molecule"), "test"], cwd=role, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    if role.name == "camera_hardening":  # what the cameras reported over GetStreamUri comes back to commit
        lock = (work / "results" / "hoan-kiem" / "streams.lock.csv").read_text()
        assert "hk-c04,/axis-media/media.amp,onvif,prof-main," in lock and "ht-c01,/simulated/main," in lock
        # the results come back where `camkit handover` reads them (<results>/cameras/<site>/audit/)
        audit = json.loads((work / "results" / "hoan-kiem" / "audit" / "audit.json").read_text())
        assert (work / "results" / "hoan-kiem" / "apply" / "apply.json").exists() and audit["cameras"]
