"""The netplan role's safety net, live: a configuration that passes `netplan generate` but names a NIC
the server does not have is applied, the role finds the planned addresses missing and stops without
confirming, and the armed systemd timer puts the previous configuration back and applies it.

Runs in a privileged systemd container (netplan apply writes to /sys); the container keeps its own
network namespace, so only its own veth link is touched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from camkit import pipeline
from camkit.rig import IMAGE, ensure_image, podman, podman_env

from conftest import EXAMPLE, ROOT

pytestmark = pytest.mark.slow
PREVIOUS = """network:
  version: 2
  renderer: networkd
  ethernets:
    eno1:
      addresses: [192.168.77.2/24]
"""


def wait_for_address(name: str, address: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if address in podman("exec", name, "ip", "-o", "addr").stdout:
            return True
        time.sleep(0.5)
    return False


def test_unconfirmed_change_is_rolled_back(tmp_path: Path) -> None:
    ensure_image()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "ansible_collections.py")], check=True, capture_output=True)
    inv = pipeline.load(EXAMPLE)
    art = pipeline.render(inv, pipeline.plan(inv), ["netplan"], "hang-trong").artifacts
    good = art["sites/hang-trong/netplan/hang-trong-edge1.yaml"][1].content.decode()
    bad = tmp_path / "edge1-wrong-nic.yaml"
    bad.write_text(good.replace("eno1", "eno9"))  # valid netplan, wrong NIC name
    name = f"camkit-np-rollback-{uuid.uuid4().hex[:6]}"
    podman("run", "-d", "--name", name, "--privileged", "--systemd=always", IMAGE, "/sbin/init")
    try:
        for _ in range(100):
            if podman("exec", name, "systemctl", "is-system-running", check=False).stdout.strip() in ("running", "degraded"):
                break
            time.sleep(0.2)
        podman("exec", name, "ip", "link", "add", "eno1", "type", "veth", "peer", "name", "eno1-peer")
        podman("exec", name, "ip", "link", "set", "eno1-peer", "up")  # carrier on eno1: networkd configures it
        podman("exec", name, "sh", "-c", f"umask 077; printf '%s' '{PREVIOUS}' > /etc/netplan/01-previous.yaml && netplan apply")
        assert wait_for_address(name, "192.168.77.2/24", 20), "the previous configuration did not come up"

        (tmp_path / "play.yml").write_text(f"""---
- name: Apply a netplan that names the wrong NIC
  hosts: all
  vars:
    netplan_config_src: {bad}
    netplan_remove: [/etc/netplan/01-previous.yaml]
    netplan_apply_in_container: true
    netplan_rollback_seconds: 60
  roles:
    - role: netplan
""")
        (tmp_path / "hosts.yml").write_text(f"all:\n  hosts:\n    {name}:\n      ansible_connection: containers.podman.podman\n")
        env = podman_env() | {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "NO_COLOR": "1",
                              "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
                              "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
                              "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        res = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                              str(tmp_path / "play.yml")], env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode != 0, "the role confirmed a configuration whose addresses are not up"
        assert "not up after netplan apply: 10.0.0.228/29" in res.stdout, res.stdout[-3000:]
        # the role had removed the previous file (netplan_remove) before applying
        assert f"changed: [{name}] => (item=/etc/netplan/01-previous.yaml)" in res.stdout, res.stdout[-3000:]

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            files = podman("exec", name, "ls", "/etc/netplan").stdout.split()
            if files == ["01-previous.yaml"]:
                break
            time.sleep(1)
        else:
            log = podman("exec", name, "journalctl", "--no-pager", "-u", "camkit-netplan-rollback.service",
                         "-u", "camkit-netplan-rollback.timer", check=False).stdout
            pytest.fail(f"not rolled back: /etc/netplan holds {files}\n{log[-3000:]}")
        assert wait_for_address(name, "192.168.77.2/24", 20), "the previous configuration was restored but not applied"
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
