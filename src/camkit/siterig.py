"""The site rig: a site's servers as systemd containers on podman networks cut from the IP plan,
converged with playbooks/site.yml over the podman connection (how CI and a developer run a site here).

Every network is `--internal` (nothing leaves the machine) and carries the plan's subnet, with the
host bridge on a free address of it; every server container gets its planned addresses. Each
access switch of the site gets a small stand-in container at the switch's management address, so
RADIUS can be asked exactly as the switch asks it. Everything carries the label `camkit.rig=<city>`
and `down()` removes by that label, from any process.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from netaddr import IPAddress, IPNetwork

from camkit import pipeline
from camkit.ipplan import Plan
from camkit.loader import Inventory
from camkit.model import NetworkRole
from camkit.rig import IMAGE, ensure_image, podman, podman_env

ROOT = Path(__file__).resolve().parents[2]
LABEL = "camkit.rig"
PREFIX = "camkit-rig-"


def container_name(host: str) -> str:
    return f"{PREFIX}{host}"


def network_name(site: str, role: NetworkRole) -> str:
    return f"{PREFIX}{site}-{role.value}"[:60]


def bridge_address(inv: Inventory, plan: Plan, cidr: IPNetwork) -> IPAddress:
    """The highest usable address of the subnet that the plan does not give to anything."""
    taken = {IPAddress(a.ip) for a in plan.assignments.values() if IPAddress(a.ip) in cidr}
    for value in range(cidr.last - 1, cidr.first, -1):
        if IPAddress(value) not in taken:
            return IPAddress(value)
    raise RuntimeError(f"{cidr}: no free address for the rig's host bridge")


@dataclass
class SiteRig:
    inventory: Path
    work: Path = field(default_factory=lambda: ROOT / "build" / "rig")
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inventory = Path(self.inventory).resolve()
        self.work = Path(self.work).resolve()
        self.inv = pipeline.load(self.inventory)
        self.plan = pipeline.plan(self.inv)

    # --- paths and environment ---------------------------------------------------------------------
    @property
    def build(self) -> Path:
        return self.work / "build"

    @property
    def store(self) -> Path:
        return self.work / "secrets" / self.inv.city.id

    def env(self) -> dict[str, str]:
        """Environment for camkit and ansible subprocesses: the rig's own vault password file."""
        self.work.mkdir(parents=True, exist_ok=True)
        pw = self.work / "vault-password"
        if not pw.exists():
            fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(pysecrets.token_urlsafe(32) + "\n")
        venv_bin = str(Path(sys.executable).parent)
        env = podman_env() | {
            "CAMKIT_VAULT_PASSWORD_FILE": str(pw),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
            "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
            "NO_COLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
        }
        env.pop("CAMKIT_VAULT_PASSWORD", None)
        return env

    def _run(self, argv: list[str], what: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(argv, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{what} failed (exit {res.returncode}):\n{res.stdout[-6000:]}\n{res.stderr[-3000:]}")
        return res

    def servers(self, site: str) -> list[str]:
        s = self.inv.sites[site]
        return [s.hostname(v.name) for v in s.servers]

    def switches(self, site: str) -> list[str]:
        s = self.inv.sites[site]
        return [s.hostname(w.id) for w in s.switches]

    # --- up ------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Render the city into the rig's build folder and create the secrets the site needs."""
        t0 = time.monotonic()
        ensure_image()
        subprocess.run([sys.executable, str(ROOT / "scripts" / "ansible_collections.py")], check=True,
                       capture_output=True)
        cli = [str(Path(sys.executable).parent / "camkit")]
        self._run(cli + ["render", str(self.inventory), "--out", str(self.build)], "camkit render")
        self._run(cli + ["secrets", "init", str(self.inventory), "--store", str(self.store)], "camkit secrets init")
        self.timings["prepare_s"] = round(time.monotonic() - t0, 1)

    def create(self, site: str) -> list[str]:
        """Networks and containers of one site; returns the server containers."""
        if site not in self.inv.sites:
            raise KeyError(f"'{site}' is not a site of {self.inventory}")
        t0 = time.monotonic()
        label = f"{LABEL}={self.inv.city.id}"
        hosts = self.servers(site) + self.switches(site)
        needed: set[NetworkRole] = set()
        for h in hosts:
            needed |= {a.role for a in self.plan.for_host(h) if a.kind != "gateway"}
        nets: dict[NetworkRole, str] = {}
        for sub in self.plan.site_subnets(site):
            if sub.role not in needed:
                continue
            name = network_name(site, sub.role)
            if podman("network", "exists", name, check=False).returncode != 0:
                podman("network", "create", "--internal", "--label", label, "--subnet", str(sub.cidr),
                       "--gateway", str(bridge_address(self.inv, self.plan, sub.cidr)), name)
            nets[sub.role] = name
        created = []
        for h in hosts:
            name = container_name(h)
            if podman("container", "exists", name, check=False).returncode == 0:
                created.append(name)
                continue
            args = ["run", "-d", "--name", name, "--hostname", h, "--label", label, "--systemd=always",
                    "--cap-add", "NET_ADMIN", "--device", "/dev/net/tun"]
            for a in sorted(self.plan.for_host(h), key=lambda a: a.role.value):
                if a.kind != "gateway" and a.role in nets:
                    args += ["--network", f"{nets[a.role]}:ip={a.ip}"]
            if h in self.switches(site):
                # a switch stand-in: only a RADIUS client (radclient) at the switch's address
                podman(*args, IMAGE, "sleep", "infinity")
            else:
                podman(*args, IMAGE, "/sbin/init")
            created.append(name)
        self._wait_running([container_name(h) for h in self.servers(site)])
        self.timings[f"create_{site}_s"] = round(time.monotonic() - t0, 1)
        return created

    def _wait_running(self, names: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for n in names:
            while True:
                state = podman("exec", n, "systemctl", "is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{n}: systemd did not come up ({state})")
                time.sleep(0.5)

    def inventory_overlay(self, sites: list[str]) -> Path:
        """An inventory that sends Ansible to the containers over the podman connection. The container
        name goes into host_vars/ (the same precedence as the rendered host_vars, and read later), so it
        replaces the planned address as ansible_host."""
        root = self.work / "rig-inventory"
        (root / "host_vars").mkdir(parents=True, exist_ok=True)
        hosts = [h for s in sites for h in self.servers(s)]
        # no WireGuard kernel module on these machines: tunnels run in wireguard-go
        doc = {"all": {"vars": {"ansible_connection": "containers.podman.podman", "camkit_wireguard_userspace": True},
                       "hosts": {h: None for h in hosts}}}
        (root / "hosts.yml").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        for h in hosts:
            (root / "host_vars" / f"{h}.yml").write_text(json.dumps({"ansible_host": container_name(h)}) + "\n")
        return root / "hosts.yml"

    def converge(self, sites: list[str]) -> str:
        """Apply playbooks/site.yml to the sites' containers; returns the play recap."""
        t0 = time.monotonic()
        overlay = self.inventory_overlay(sites)
        limit = ",".join(h for s in sites for h in self.servers(s))
        res = self._run([str(Path(sys.executable).parent / "ansible-playbook"),
                         "-i", str(self.build / self.inv.city.id / "ansible" / "hosts.yml"), "-i", str(overlay),
                         str(ROOT / "playbooks" / "site.yml"), "--limit", limit,
                         "-e", f"camkit_inventory={self.inventory}", "-e", f"camkit_secrets_store={self.store}"],
                        "ansible-playbook site.yml")
        self.timings[f"converge_{'+'.join(sites)}_s"] = round(time.monotonic() - t0, 1)
        recap = res.stdout[res.stdout.rfind("PLAY RECAP"):]
        return recap

    def up(self, sites: list[str]) -> str:
        self.prepare()
        for s in sites:
            self.create(s)
        return self.converge(sites)

    # --- down ----------------------------------------------------------------------------------------
    @staticmethod
    def down() -> int:
        """Remove every rig container and network (by label); returns how many objects went."""
        n = 0
        ids = podman("ps", "-a", "-q", "--filter", f"label={LABEL}", check=False).stdout.split()
        if ids:
            podman("rm", "-f", "-t", "0", *ids, check=False)
            n += len(ids)
        nets = podman("network", "ls", "-q", "--filter", f"label={LABEL}", check=False).stdout.split()
        if nets:
            podman("network", "rm", "-f", *nets, check=False)
            n += len(nets)
        return n
