"""`camkit verify`: a testinfra suite for one site, generated from the model and the render.

The expectations come from the same model and plan the artifacts came from: the listening sockets a
server may have (sshd on every server; RADIUS on its planned address for RADIUS servers), the
services the playbook enables, the nftables table as nft itself lists the generated file, the planned
addresses, the sshd baseline, the city time servers, and the MAB answers of each RADIUS server for the
inventory's cameras and for an unknown MAC. The suite (suite.py) reads them from expectations.json.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camkit import pipeline
from camkit.ipplan import Plan
from camkit.loader import Inventory
from camkit.model import NetworkRole, ServerRole
from camkit.provenance import camkit_version, inventory_version

SUITE = Path(__file__).with_name("suite.py")
MAX_MACS = 25
BASE_SERVICES = ["ssh", "chrony", "rsyslog", "nftables"]
SSHD = {
    "equal": {"permitrootlogin": "no", "passwordauthentication": "no", "kbdinteractiveauthentication": "no",
              "permitemptypasswords": "no", "x11forwarding": "no", "disableforwarding": "yes",
              "banner": "/etc/issue.net"},
    "at_most": {"maxauthtries": 4},
    "forbidden": {"ciphers": ["-cbc", "arcfour", "3des"], "macs": ["md5", "sha1"],
                  "kexalgorithms": ["group1-sha1", "group14-sha1", "group-exchange-sha1"],
                  "hostkeyalgorithms": ["ssh-rsa", "ssh-dss"]},
}


@dataclass
class Targets:
    """How the suite reaches hosts: testinfra URLs by host name."""

    mode: str  # podman | ssh
    ssh_user: str | None = None
    ssh_config: str | None = None

    def url(self, host: str, address: str | None) -> str:
        if self.mode == "podman":
            from camkit.siterig import container_name

            return f"podman://{container_name(host)}"
        user = f"{self.ssh_user}@" if self.ssh_user else ""
        extra = f"?ssh_config={self.ssh_config}" if self.ssh_config else ""
        return f"ssh://{user}{address}{extra}"


SUITE_NEEDS = {"pytest": "pytest", "testinfra": "pytest-testinfra"}  # module -> the package that provides it


class SuiteUnavailable(RuntimeError):
    """The verification suite could not run (a missing package, or pytest stopped before running a check)."""


CLUSTER_NEEDS = {"kubernetes": "kubernetes"}  # the Kubernetes checks (--kubeconfig)


def missing_packages(cluster: bool = False) -> list[str]:
    """The packages the suite needs that this Python lacks (the `verify` extra of camkit's pyproject)."""
    import importlib.util

    needs = SUITE_NEEDS | (CLUSTER_NEEDS if cluster else {})
    return [pkg for mod, pkg in needs.items() if importlib.util.find_spec(mod) is None]


def ssh_stand_in(expect: dict[str, Any], targets: Targets) -> str | None:
    """Why an ssh run is not a handover: hosts an ssh_config sends somewhere else than their planned address on
    loopback (what `ssh -G` resolves each to), or planned addresses that are loopback themselves."""
    from urllib.parse import urlsplit

    from camkit.provenance import stand_in

    reached = []
    for e in expect["hosts"].values():
        addr = urlsplit(e["target"]).hostname or ""
        if targets.ssh_config and shutil.which("ssh"):
            res = subprocess.run(["ssh", "-G", "-F", targets.ssh_config, addr], capture_output=True, text=True,
                                 timeout=30)
            addr = next((line.split(None, 1)[1] for line in res.stdout.splitlines()
                         if line.startswith("hostname ")), addr)
        reached.append(addr)
    why = stand_in(reached, False)
    return f"{why}, as the ssh configuration resolves the hosts" if why else None


def render_hash(inv: Inventory, plan: Plan, site: str) -> tuple[str, dict[str, bytes]]:
    result = pipeline.render(inv, plan, None, site)
    h = hashlib.sha256()
    files = {}
    for path in sorted(result.artifacts):
        _, art = result.artifacts[path]
        if art.scope == site:
            h.update(path.encode() + b"\0" + art.content + b"\0")
            files[path] = art.content
    return h.hexdigest(), files


def nft_listing(ruleset: bytes) -> str:
    """The table as nft lists it after loading the generated file, in a throwaway network namespace."""
    with tempfile.NamedTemporaryFile("wb", suffix=".nft") as fh:
        fh.write(ruleset)
        fh.flush()
        res = subprocess.run(["unshare", "-n", "sh", "-c", f"nft -f {fh.name} && nft -s list table inet camkit"],
                             capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"cannot list the generated ruleset with nft: {res.stderr.strip()}")
    return res.stdout


def expectations(inv: Inventory, plan: Plan, site: str, targets: Targets, probe_dir: str = "/run/camkit-verify",
                 store_dir: Path | None = None, kubeconfig: str | None = None) -> dict[str, Any]:
    s = inv.sites[site]
    rhash, files = render_hash(inv, plan, site)
    kube = None
    if kubeconfig is not None:
        from camkit.verify.cluster import ClusterExpectationsUnavailable, expectations as cluster_expectations
        from camkit.k8s.helm import HelmUnavailable

        try:
            kube = cluster_expectations(files, site, inv.city.kubernetes.version, kubeconfig)
        except (ClusterExpectationsUnavailable, HelmUnavailable) as exc:
            raise SuiteUnavailable(f"the Kubernetes checks need the site's charts rendered: {exc}") from exc
    ntp = [a.ip for n in inv.city.services.ntp.servers if (a := plan.assignments.get((NetworkRole.servers, n)))]
    hosts: dict[str, Any] = {}
    probes: list[dict[str, Any]] = []
    for server in s.servers:
        host = s.hostname(server.name)
        addrs = [a for a in plan.for_host(host) if a.kind != "gateway"]
        servers_ip = next((a.ip for a in addrs if a.role == NetworkRole.servers), None)
        sockets = ["tcp 0.0.0.0:22", "tcp [::]:22"]
        services = list(BASE_SERVICES)
        e: dict[str, Any] = {
            "target": targets.url(host, servers_ip),
            "roles": [r.value for r in server.roles],
            "addresses": sorted(f"{a.ip}/{a.prefixlen}" for a in addrs),
            "sshd": SSHD,
            "ntp": {"servers": ntp, "timezone": inv.city.timezone},
        }
        nft_path = f"sites/{site}/nftables/{host}.nft"
        if nft_path in files:
            e["nftables"] = nft_listing(files[nft_path])
        wg_conf = f"sites/{site}/wireguard/{host}.conf"
        if wg_conf in files:
            meta = json.loads(files[f"sites/{site}/wireguard/{host}.json"])
            port = next((line.split("=")[1].strip() for line in files[wg_conf].decode().splitlines()
                         if line.startswith("ListenPort")), None)
            peers = meta.get("peers") or [meta["peer"]]
            keys = None
            if store_dir is not None:
                pub = [Path(store_dir) / "public" / "wireguard" / f"{p}.pub" for p in peers]
                keys = sorted(p.read_text().strip() for p in pub) if all(p.exists() for p in pub) else None
            # a spoke without ListenPort listens on a port of its own choosing
            sockets += [f"udp 0.0.0.0:{port or '*'}", f"udp [::]:{port or '*'}"]
            services.append(f"wg-quick@{meta['interface']}")
            e["wireguard"] = {"interface": meta["interface"], "listen_port": port, "peers": peers, "peer_keys": keys,
                              "addresses": meta.get("addresses") or [meta["address"]]}
        if ServerRole.radius in server.roles and servers_ip:
            sockets += [f"udp {servers_ip}:1812", f"udp {servers_ip}:1813"]
            services.append("freeradius")
            e["radius"] = _radius(inv, plan, site, host, servers_ip, targets, probe_dir, probes)
        e["sockets"], e["services"] = sorted(sockets), services
        hosts[host] = e
    return {"site": site, "site_name": s.name, "city": inv.city.id, "tier": s.tier, "kind": s.kind.value,
            "render_sha256": rhash, "hosts": hosts, "probes": probes, "kubernetes": kube,
            "generated": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()}


def _radius(inv: Inventory, plan: Plan, site: str, host: str, server_ip: str, targets: Targets, probe_dir: str,
            probes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """MAB checks asked from a switch of the RADIUS server's own site (its stand-in in the rig)."""
    s = inv.sites[site]
    mgmt = {a.role: a for a in plan.for_host(host)}.get(NetworkRole.management)
    switch = next((s.hostname(w.id) for w in s.switches
                   if (a := plan.assignments.get((NetworkRole.management, s.hostname(w.id)))) and mgmt
                   and a.gateway == mgmt.gateway), None)
    if switch is None or targets.mode != "podman":
        return None  # reported by the caller as not checked
    nas_ip = plan.assignments[(NetworkRole.management, switch)].ip
    accept: dict[str, str] = {}
    vlan = plan.camera_vlan(site, inv.city.networks.cameras.vlan)
    for c in inv.cameras_by_site[site]:  # a MAB entry answers only its camera's own switch (render/radius.py)
        if c.dot1x == "mab" and c.switch and s.hostname(c.switch) == switch and len(accept) < MAX_MACS:
            accept[c.mac] = str(vlan)
    from camkit.siterig import container_name

    known = {c.mac for c in inv.camera_index.values() if c.mac}
    unknown = next(m for m in (f"02:00:5e:c0:ff:{i:02x}" for i in range(256)) if m not in known)
    probe = {"switch": switch, "target": f"podman://{container_name(switch)}", "container": container_name(switch),
             "site": site, "route": f"{server_ip}/32 via {mgmt.ip}" if mgmt else None,
             "secret_file": f"{probe_dir}/{switch}.secret"}
    probes.append(probe)
    return {"probe": probe["target"], "server": server_ip, "nas_ip": nas_ip, "secret_file": probe["secret_file"],
            "accept": accept, "unknown": unknown, "quarantine_vlan": inv.city.services.quarantine_vlan}


def prepare_probes(expect: dict[str, Any], store_dir: Path) -> None:
    """Give each switch stand-in its route to the RADIUS server and its shared secret (mode 600)."""
    from camkit.rig import podman
    from camkit.secrets import SWITCH_SECRETS_KEY, Store

    store = Store.open(store_dir)
    for p in expect["probes"]:
        secret = store.doc(p["site"]).get(SWITCH_SECRETS_KEY, {}).get(p["switch"])
        if secret is None:
            raise RuntimeError(f"the secrets store has no RADIUS secret for {p['switch']}: run `camkit secrets init`")
        if p["route"]:  # the stand-in reaches the server's address through the server's management address
            podman("exec", p["container"], "sh", "-c", f"ip route replace {p['route']}")
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "secret"
            fd = os.open(f, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secret + "\n")
            podman("exec", p["container"], "install", "-d", "-m", "0700", str(Path(p["secret_file"]).parent))
            podman("cp", str(f), f"{p['container']}:{p['secret_file']}")
            podman("exec", p["container"], "chmod", "600", p["secret_file"])


def run(inventory: Path, site: str, targets: Targets, out: Path, store_dir: Path | None,
        kubeconfig: Path | None = None) -> tuple[int, Path, Path]:
    """Write the suite, run it, and write junit.xml and report.html in `out`; returns (pytest rc, junit, html).
    With `kubeconfig`, the suite also checks the site's Kubernetes side through that cluster's API."""
    if missing := missing_packages(cluster=kubeconfig is not None):
        raise SuiteUnavailable(f"the verification suite needs {', '.join(missing)}: "
                               "pip install 'camkit[verify]' (or the README's first command)")
    inv = pipeline.load(inventory)
    plan = pipeline.plan(inv)
    if site not in inv.sites:
        raise KeyError(site)
    out = Path(out).resolve()
    expect = expectations(inv, plan, site, targets, store_dir=store_dir,
                          kubeconfig=str(Path(kubeconfig).resolve()) if kubeconfig else None)
    expect["inventory"] = {"path": str(inventory), **inventory_version(Path(inventory))}
    expect["camkit"] = camkit_version()
    expect["stand_in"] = ("the site rig's podman containers (not the deployed site's servers)"
                          if targets.mode == "podman" else ssh_stand_in(expect, targets))
    out.mkdir(parents=True, exist_ok=True)
    (out / "expectations.json").write_text(json.dumps(expect, indent=1, sort_keys=True) + "\n")
    shutil.copyfile(SUITE, out / "test_site.py")
    if expect["probes"]:
        if store_dir is None:
            raise RuntimeError("RADIUS checks need the secrets store: give --store")
        prepare_probes(expect, store_dir)
    junit = out / "junit.xml"
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(out),
                          "-o", "addopts=", f"--junitxml={junit}", str(out / "test_site.py")],
                         cwd=out, capture_output=True, text=True)
    (out / "pytest.log").write_text(res.stdout + res.stderr)
    report = out / "report.html"
    ran = res.returncode in (0, 1) and bool(results(junit))  # 2-5: interrupted, internal or usage error, no tests
    report.write_text(html_report(expect, junit, inv, site, ran))
    keep_run(out, expect["generated"], [out / "expectations.json", junit, report, out / "pytest.log"])
    if not ran:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-8:])
        raise SuiteUnavailable(f"the suite did not run (pytest exit {res.returncode}); {out / 'pytest.log'} ends:\n{tail}")
    return res.returncode, junit, report


def keep_run(out: Path, stamp: str, files: list[Path]) -> Path:
    """Keep this run as it was under `runs/<time>/` (the folder's own files are the latest run)."""
    base, n = out / "runs" / stamp.replace(":", ""), 1
    dest = base
    while dest.exists():  # two runs in one second
        n += 1
        dest = base.with_name(f"{base.name}-{n}")
    dest.mkdir(parents=True)
    for f in files:
        if f.exists():
            shutil.copyfile(f, dest / f.name)
    return dest


def results(junit: Path) -> list[dict[str, str]]:
    if not junit.exists():
        return []
    rows = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        status, detail = "pass", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                status = {"failure": "fail", "error": "error", "skipped": "skipped"}[tag]
                detail = (el.get("message") or "") + ("\n" + el.text if el.text else "")
        rows.append({"test": case.get("name", ""), "status": status, "detail": detail.strip()})
    return rows


def not_checked(expect: dict[str, Any]) -> list[str]:
    """What the suite could not check from where it ran (each a manual item of the site's handover)."""
    return [f"{h}: RADIUS answers (no switch stand-in reachable; run from the site's management network)"
            for h, e in expect["hosts"].items() if "radius" in e["roles"] and e.get("radius") is None]


def html_report(expect: dict[str, Any], junit: Path, inv: Inventory, site: str, ran: bool = True) -> str:
    rows = results(junit)
    not_checked_ = not_checked(expect)
    counts = {k: sum(r["status"] == k for r in rows) for k in ("pass", "fail", "error", "skipped")}
    verdict = ("PASS" if counts["fail"] == counts["error"] == 0 else "FAIL") if rows and ran else "NOT RUN"
    esc = html.escape
    version = expect["inventory"]
    dirty = version.get("dirty")
    body = [f"<h1>Site verification: {esc(expect['site_name'])} ({esc(site)})</h1>",
            *([f"<p class='fail'><b>NOT A HANDOVER: these results come from {esc(expect['stand_in'])}.</b></p>"]
              if expect.get("stand_in") else []),
            f"<p class='{verdict.lower().replace(' ', '-')}'><b>{verdict}</b>: {counts['pass']} passed, {counts['fail']} failed, "
            f"{counts['error']} errors, {counts['skipped']} skipped</p>",
            "<table class='meta'>",
            f"<tr><th>City</th><td>{esc(inv.city.name)} ({esc(inv.city.id)})</td></tr>",
            f"<tr><th>Tier / kind</th><td>{expect['tier']} / {esc(expect['kind'])}</td></tr>",
            f"<tr><th>Inventory</th><td>{esc(expect['inventory']['path'])}<br>content sha256 "
            f"{esc(expect['inventory']['content_sha256'])}"
            + (f"<br>git {esc(version['git_commit'])}" if "git_commit" in version else "<br>not in git")
            + (f"<br><b class='fail'>uncommitted changes to {len(dirty)} file(s)</b>: {esc(', '.join(dirty[:20]))}"
               + (" ..." if len(dirty) > 20 else "") if dirty else ("<br>no uncommitted changes" if dirty == [] else ""))
            + "</td></tr>",
            f"<tr><th>Render checked against</th><td>sha256 {esc(expect['render_sha256'])}</td></tr>",
            f"<tr><th>Checked at</th><td>{esc(expect['generated'])}"
            + (f" with camkit {esc(expect['camkit'])}" if expect.get("camkit") else "") + "</td></tr>",
            f"<tr><th>Hosts</th><td>{esc(', '.join(expect['hosts']))}</td></tr></table>",
            "<h2>Checks</h2><table><tr><th>Check</th><th>Result</th><th>Finding</th></tr>"]
    for r in rows:
        body.append(f"<tr class='{r['status']}'><td>{esc(r['test'])}</td><td>{r['status']}</td>"
                    f"<td><pre>{esc(r['detail'][:4000])}</pre></td></tr>")
    body.append("</table>")
    if not_checked_:
        body.append("<h2>Not checked</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in not_checked_) + "</ul>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;"
             "padding:4px 8px;text-align:left;vertical-align:top}.pass{color:#070}.fail,.error{color:#a00}"
             "pre{margin:0;white-space:pre-wrap}")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>camkit verify "
            f"{esc(site)}</title><style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n")
