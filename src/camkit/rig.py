"""Podman test rig: zone networks and host containers on this machine (see TEST-RIG.md).

Networks are `--internal` (no host NAT) with the host bridge on a spare address, so a router
container decides alone what passes between zones. Everything a Rig creates carries its tag and is
removed by `down()`, which also runs on errors.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

RIG_DIR = Path(__file__).resolve().parents[2] / "rig"


def image_name() -> str:
    """The host image tag is a hash of the package list and the build script (as in rig/build-host-image.sh)."""
    import hashlib

    data = (RIG_DIR / "host-packages.txt").read_bytes() + (RIG_DIR / "build-host-image.sh").read_bytes()
    return "localhost/camkit-host:" + hashlib.sha256(data).hexdigest()[:12]


IMAGE = image_name()


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(RIG_DIR / "containers.conf"))
    return env


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(), timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed: {res.stderr.strip()[-2000:]}")
    return res


def ensure_image(image: str = IMAGE) -> None:
    if podman("image", "exists", image, check=False).returncode != 0:
        subprocess.run([str(RIG_DIR / "build-host-image.sh"), image], check=True, env=podman_env())


@dataclass
class Rig:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    networks: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)

    def network(self, name: str, subnet: str, bridge_ip: str) -> str:
        full = f"camkit-{self.tag}-{name}"[:60]
        podman("network", "create", "--internal", "--subnet", subnet, "--gateway", bridge_ip, full)
        self.networks.append(full)
        return full

    def container(self, name: str, nets: list[tuple[str, str]], router: bool = False, image: str = IMAGE) -> str:
        full = f"camkit-{self.tag}-{name}"[:60]
        args = ["run", "-d", "--name", full, "--hostname", name[:60], "--cap-add", "NET_ADMIN"]
        if router:
            args += ["--sysctl", "net.ipv4.ip_forward=1"]
        for net, ip in nets:
            args += ["--network", f"{net}:ip={ip}"]
        podman(*args, image, "sleep", "infinity")
        self.containers.append(full)
        return full

    def exec(self, container: str, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return podman("exec", container, *cmd, check=check, timeout=timeout)

    def spawn(self, container: str, *cmd: str) -> None:
        podman("exec", "-d", container, *cmd)

    def copy(self, src: Path, container: str, dest: str) -> None:
        podman("cp", str(src), f"{container}:{dest}")

    def down(self) -> None:
        for c in reversed(self.containers):
            podman("rm", "-f", "-t", "0", c, check=False)
        for n in reversed(self.networks):
            podman("network", "rm", "-f", n, check=False)
        self.containers.clear()
        self.networks.clear()
