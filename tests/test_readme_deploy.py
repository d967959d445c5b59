"""The README's deployment rehearsal, exactly as written, in a fresh virtualenv made by the README's first
command alone (issue 15): a contractor with a copy of the repository and nothing installed by hand renders the
district with its wards, installs the pinned collections, parses and lists site.yml on the site inventory, fills
every switch's configuration in check mode, and exports the district's kit. The on-site half (site.yml against
the servers, verify, handover) runs against the podman site rig in tests/test_site_rig.py."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow
README = ROOT / "README.md"


def sh_blocks(section: str) -> list[list[str]]:
    """The ```sh blocks of a README section, as commands (continuation lines joined, comments dropped)."""
    text = README.read_text("utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", body, re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        cmds = [re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines()]
        blocks.append([c for c in cmds if c and not c.startswith("#")])
    return blocks


def test_the_readme_rehearsal_runs_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    first = next(c for c in sh_blocks("The two commands")[0] if c.startswith("python3 -m venv"))
    rehearsal = sh_blocks("Deploying a site and proving it")[0]
    heads = " | ".join(rehearsal)
    for needed in ("camkit render inventories/example --site hoan-kiem --with-children", "ansible_collections.py",
                   "site.yml --syntax-check", "site.yml --list-hosts", "switches.yml --check --diff",
                   "camkit secrets export"):
        assert needed in heads, f"the README's rehearsal lost {needed!r}"

    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "build", "secrets", "node_modules", "__pycache__", ".pytest_cache", "*.egg-info",
        ".mypy_cache", ".ruff_cache"))
    pw = tmp_path / "vault.password"
    pw.write_text(secrets.token_urlsafe(32) + "\n")
    pw.chmod(0o600)
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("CAMKIT_", "ANSIBLE_", "VIRTUAL_ENV", "PYTHON"))}
    clean["PATH"] = ":".join(p for p in clean.get("PATH", "").split(":") if ".venv" not in p)

    def run(cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=repo, env=env, capture_output=True,
                             text=True, timeout=1800)
        assert res.returncode == 0, f"{cmd}\n-> {res.returncode}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
        return res

    run(first, clean)
    assert (repo / "build" / "example" / "ansible" / "hosts.yml").exists()
    env = clean | {"PATH": f"{repo / '.venv' / 'bin'}:{clean['PATH']}", "CAMKIT_VAULT_PASSWORD_FILE": str(pw),
                   "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
                   "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    out = {cmd: run(cmd, env) for cmd in rehearsal}

    hosts = yaml.safe_load((repo / "build" / "hoan-kiem" / "example" / "ansible" / "hosts.yml").read_text())
    assert "camkit_selected" in hosts["all"]["children"]
    listed = next(r.stdout for c, r in out.items() if "--list-hosts" in c)
    assert "hoan-kiem-radius1" in listed and "hang-trong-" in listed and "ioc-" not in listed
    switches = next(r.stdout for c, r in out.items() if "switches.yml" in c)
    assert re.search(r"hoan-kiem-sw1\s+: ok=\d+ .*failed=0", switches), switches[-2000:]
    assert not list((tmp_path / "tmp").glob("camkit-switch-*")), "a filled configuration was left behind"
    from camkit.secrets import SWITCH_SECRETS_KEY, Store

    store = Store.open(repo / "secrets" / "example", pw.read_text().strip().encode())
    secret = store.doc("hoan-kiem")[SWITCH_SECRETS_KEY]["hoan-kiem-sw1"]
    assert secret not in "".join(r.stdout + r.stderr for r in out.values())
    kit = repo / "build" / "hoan-kiem-kit"
    assert (kit / "hoan-kiem.vault.yml").exists() and not (kit / "root-ca.vault.yml").exists()
    assert not (kit / "ioc.vault.yml").exists() and (repo / "build" / "hoan-kiem-kit.password").stat().st_mode & 0o077 == 0
