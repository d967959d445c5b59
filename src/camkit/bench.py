"""Benchmarks of the CLI steps on a city inventory: wall time and peak RSS of fresh processes.

Each run is a new `camkit` process (what a user or CI pays), timed by the parent, its peak RSS
read from the kernel with wait4(). Reported: median, min and max of the runs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# seconds, MiB: the foundation issue's budgets (validate; render of its three families) and the
# network-security issue's budget for every family
FOUNDATION = "ipplan,ansible-inventory,registry"
TARGETS = {"validate": (3.0, 1024), "render-foundation": (10.0, 1024), "render-all": (15.0, 1024),
           "access-check": (60.0, 1024), "access-export": (10.0, 1024)}


@dataclass
class Measure:
    step: str
    runs: list[tuple[float, float]]  # (seconds, MiB)

    @property
    def median_s(self) -> float:
        return statistics.median(r[0] for r in self.runs)

    @property
    def median_mib(self) -> float:
        return statistics.median(r[1] for r in self.runs)

    @property
    def max_mib(self) -> float:
        return max(r[1] for r in self.runs)


def _run(args: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports KiB


def run(inventory: Path, runs: int = 5) -> list[Measure]:
    exe = [sys.executable, "-m", "camkit.cli"]
    results = [Measure(step, []) for step in TARGETS]
    tmp = Path(tempfile.mkdtemp(prefix="camkit-bench-"))
    try:
        _run([*exe, "validate", str(inventory)])  # warm the page cache
        for i in range(runs):
            results[0].runs.append(_run([*exe, "validate", str(inventory)]))
            out = tmp / f"run{i}"
            results[1].runs.append(_run([*exe, "render", str(inventory), "--out", str(out), "--only", FOUNDATION]))
            shutil.rmtree(out, ignore_errors=True)
            results[2].runs.append(_run([*exe, "render", str(inventory), "--out", str(out)]))
            # the access check renders the helm and firewall families in memory, then reads them
            results[3].runs.append(_run([*exe, "access", "check", str(inventory)]))
            results[4].runs.append(_run([*exe, "access", "export", str(inventory), "--json"]))
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def report(inventory: Path, results: list[Measure]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"camkit bench on {inventory} ({len(results[0].runs)} runs, fresh process each)")
    for col in ("step", "median s", "min s", "max s", "target s", "peak RSS MiB (median / max)", "target MiB", "ok"):
        table.add_column(col)
    for m in results:
        ts, tm = TARGETS[m.step]
        ok = m.median_s <= ts and m.max_mib <= tm
        table.add_row(m.step, f"{m.median_s:.2f}", f"{min(r[0] for r in m.runs):.2f}",
                      f"{max(r[0] for r in m.runs):.2f}", f"{ts:.0f}", f"{m.median_mib:.0f} / {m.max_mib:.0f}",
                      str(tm), "yes" if ok else "NO")
    console = Console(record=True, width=120)
    console.print(table)
    return console.export_text()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="benchmark validate and render")
    ap.add_argument("inventory", type=Path, nargs="?", default=Path("inventories/hanoi"))
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    report(a.inventory, run(a.inventory, a.runs))


def radius(inventory: Path, requests: int = 200) -> dict[str, float | int | str]:
    """The RADIUS server of the area with the most cameras: start-up and per-request latency.

    Runs the real freeradius with the generated config in a network namespace (root needed),
    MAB requests from a switch address with pyrad, EAP-TLS with eapol_test.
    """
    import json
    import signal
    import uuid

    from camkit import pipeline
    from camkit.model import NetworkRole
    from camkit.pki import Pki, radius_area
    from camkit.radius_install import install
    from camkit.secrets import SWITCH_SECRETS_KEY, Store

    inv = pipeline.load(inventory)
    plan = pipeline.plan(inv)
    area = radius_area(inv)
    rsite = max(area, key=lambda r: sum(1 for s in area[r] for c in inv.cameras_by_site[s] if c.dot1x))
    cams = [c for s in area[rsite] for c in inv.cameras_by_site[s] if c.dot1x]
    probe_cam = next(c for c in cams if c.dot1x == "eap-tls")
    tmp = Path(tempfile.mkdtemp(prefix="camkit-radius-bench-"))
    ns = f"camkit-rb-{uuid.uuid4().hex[:6]}"
    proc = None
    try:
        store = Store.open(tmp / "store", b"bench", create=True)
        Pki(inv, plan, store).ensure_all({rsite}, lambda c: c.id == probe_cam.id)
        store.save()
        pipeline.write(pipeline.render(inv, plan, ["radius"], rsite), tmp / "build")
        host = next(inv.sites[rsite].hostname(v.name) for v in inv.sites[rsite].servers
                    if "radius" in [r.value for r in v.roles])
        raddb = install(inv, store, tmp / "build" / "sites" / rsite / "radius" / host, host, tmp / "raddb",
                        run_as_root=True, logdir=tmp / "log", run_dir=tmp / "run")
        (tmp / "log").mkdir()
        (tmp / "run").mkdir()
        ip = plan.assignments[(NetworkRole.servers, host)].ip
        sw_site = probe_cam.site
        sw_host = inv.sites[sw_site].hostname(probe_cam.switch or "")
        sw_ip = plan.assignments[(NetworkRole.management, sw_host)].ip
        secret = store.doc(sw_site)[SWITCH_SECRETS_KEY][sw_host]
        for cmd in (["ip", "netns", "add", ns], ["ip", "-n", ns, "link", "set", "lo", "up"],
                    ["ip", "-n", ns, "addr", "add", f"{ip}/32", "dev", "lo"],
                    ["ip", "-n", ns, "addr", "add", f"{sw_ip}/32", "dev", "lo"]):
            subprocess.run(cmd, check=True)
        mab_macs = [c.mac for c in cams if c.dot1x == "mab"]
        probe = [sys.executable, "-m", "camkit.probes.radius_mab", ip, sw_ip, secret]
        start = time.perf_counter()
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "freeradius", "-f", "-d", str(raddb)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:  # ready when the first MAB request is accepted
            out = subprocess.run(["ip", "netns", "exec", ns, *probe, mab_macs[0]], capture_output=True, text=True)
            if '"accept"' in out.stdout:
                break
            if proc.poll() is not None or time.perf_counter() - start > 60:
                raise RuntimeError("freeradius did not answer")
            time.sleep(0.05)
        ready_s = time.perf_counter() - start
        macs = (mab_macs * (requests // max(1, len(mab_macs)) + 1))[:requests]
        out = subprocess.run(["ip", "netns", "exec", ns, *probe, *macs], capture_output=True, text=True, check=True)
        replies = [json.loads(line) for line in out.stdout.splitlines()]
        accepted = [r["ms"] for r in replies if r["result"] == "accept"]
        # EAP-TLS: one full exchange with the camera's generated certificate
        cert = store.public(f"sites/{probe_cam.site}/cameras/{probe_cam.id}.pem")
        key = tmp / "cam.key"
        key.write_text(store.doc(probe_cam.site)["camera_keys"][probe_cam.id])
        ca = tmp / "ca.pem"
        ca.write_bytes(store.public("root-ca.pem").read_bytes() + store.public(f"sites/{rsite}/issuing-ca.pem").read_bytes())
        conf = tmp / "eap.conf"
        conf.write_text(f'network={{\n\tkey_mgmt=IEEE8021X\n\teap=TLS\n\tidentity="{probe_cam.id}"\n\tca_cert="{ca}"\n'
                        f'\tclient_cert="{cert}"\n\tprivate_key="{key}"\n\teapol_flags=3\n}}\n')
        eap_times = []
        for _ in range(5):
            t0 = time.perf_counter()
            rc = subprocess.run(["ip", "netns", "exec", ns, "eapol_test", "-c", str(conf), "-a", ip, "-s", secret,
                                 "-A", sw_ip, "-t", "10"], capture_output=True).returncode
            if rc != 0:
                raise RuntimeError("EAP-TLS failed in the RADIUS bench")
            eap_times.append((time.perf_counter() - t0) * 1000)
        return {"site": rsite, "cameras": len(cams), "mab": len(mab_macs), "clients": sum(
            len(inv.sites[s].switches) for s in area[rsite]), "ready_s": round(ready_s, 2),
            "mab_requests": len(accepted), "mab_median_ms": round(statistics.median(accepted), 2),
            "mab_max_ms": round(max(accepted), 2), "eap_tls_median_ms": round(statistics.median(eap_times), 1)}
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["ip", "netns", "delete", ns], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


CAMERA_TARGET_S = 60.0  # issue 4: 1,000 cameras applied and audited


def cameras(inventory: Path, site: str = "so-tbxh", count: int = 1000, runs: int = 3,
            workers: int | None = None, base_port: int = 24000, concurrency: int = 50) -> dict[str, object]:
    """Apply then audit `count` simulated cameras of `site` (factory state each run): the ONVIF device
    SIMULATOR runs as its own process on loopback; camkit's applier and audit run in this process with the
    inventory loaded once (its load + plan + flow matrix is timed separately). Median of `runs`."""
    import json
    import secrets as _secrets
    import signal

    from camkit import pipeline
    from camkit.cameras.accounts import ensure_accounts, set_bootstrap
    from camkit.cameras.onvif import RunOptions
    from camkit.cameras.site import PINS_KEY, execute, settings_for
    from camkit.model import NetworkRole
    from camkit.secrets import Store

    t0 = time.perf_counter()
    inv = pipeline.load(inventory)
    plan = pipeline.plan(inv)
    settings_for(inv, plan, site)
    load_s = time.perf_counter() - t0
    workers = workers or min(8, os.cpu_count() or 1)
    tmp = Path(tempfile.mkdtemp(prefix="camkit-camera-bench-"))
    factory = "Fx" + _secrets.token_urlsafe(12) + "!7"
    (tmp / "fp").write_text(factory)
    store = Store.open(tmp / "store", _secrets.token_urlsafe(24).encode(), create=True)
    ensure_accounts(inv, store, [site])  # what `camkit secrets init` does for the site
    for vendor, user in (("Axis", "root"), ("Bosch", "service")):
        set_bootstrap(store, "vendors", vendor, user, factory)
    for vendor in {c.vendor for c in inv.cameras_by_site[site]} - {"Axis", "Bosch"}:
        set_bootstrap(store, "vendors", vendor, "admin", factory)
    store.save()
    me = str(plan.subnets[(site, NetworkRole.management)].cidr.network + 2)
    apply_s, audit_s, statuses = [], [], []
    try:
        for n in range(runs):
            # each run's simulator starts from the factory: new cameras, whose certificates nothing has pinned yet
            store.put(site, PINS_KEY, {})
            store.save()
            ep = tmp / f"ep{n}.json"
            sim = subprocess.Popen([sys.executable, "-m", "camkit.cli", "cameras", "simulate", str(inventory),
                                    "--site", site, "--limit", str(count), "--endpoints", str(ep),
                                    "--factory-password-file", str(tmp / "fp"), "--base-port", str(base_port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                for _ in range(1200):
                    if ep.exists() or sim.poll() is not None:
                        break
                    time.sleep(0.1)
                if not ep.exists():
                    raise RuntimeError("simulator did not start: " + (sim.stderr.read().decode() if sim.stderr else ""))
                eps = json.loads(ep.read_text())
                for mode, sink in (("apply", apply_s), ("audit", audit_s)):
                    opts = RunOptions(mode, out=tmp / f"{mode}{n}", controller=me, concurrency=concurrency)
                    sr = execute(inv, plan, store, site, opts, eps, limit=count, workers=workers,
                                 streams_lock=tmp / f"streams{n}.csv")  # never the inventory's own lock
                    sink.append(sr.seconds)
                    statuses.append(f"{mode} {sr.counts}")
                    if not sr.ok:
                        raise RuntimeError(f"{mode}: not every camera ok: {sr.summary()}")
            finally:
                sim.send_signal(signal.SIGTERM)
                try:
                    sim.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    sim.kill()
                    sim.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = [a + b for a, b in zip(apply_s, audit_s)]
    return {"site": site, "cameras": count, "workers": workers, "runs": runs,
            "load_plan_s": round(load_s, 2),
            "apply_median_s": round(statistics.median(apply_s), 2), "audit_median_s": round(statistics.median(audit_s), 2),
            "total_median_s": round(statistics.median(total), 2), "total_max_s": round(max(total), 2),
            "status": statuses[-2:]}
