"""The site rig end to end: the example ward and district as systemd containers on networks cut from
the plan, converged with playbooks/site.yml, then `camkit verify --hosts podman`. Verify passes on the
converged sites and fails, naming the finding, when a host is changed behind the playbook's back."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from camkit.rig import podman
from camkit.siterig import SiteRig, container_name

from conftest import EXAMPLE

WARD, DISTRICT = "hang-trong", "hoan-kiem"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteRig]:
    SiteRig.down()
    r = SiteRig(EXAMPLE, work=tmp_path_factory.mktemp("rig"))
    try:
        r.prepare()
        for s in (WARD, DISTRICT):
            r.create(s)
        r.recap = r.converge([WARD, DISTRICT])  # type: ignore[attr-defined]
        yield r
    finally:
        timings = Path(__file__).resolve().parents[1] / "build" / "rig-timings.json"
        timings.parent.mkdir(exist_ok=True)
        timings.write_text(json.dumps(r.timings, indent=1) + "\n")
        SiteRig.down()


def verify(rig: SiteRig, site: str, tag: str, out: Path | None = None) -> tuple[int, dict[str, dict[str, str]], str]:
    out = out or rig.work / "verify" / f"{site}-{tag}"
    res = subprocess.run([sys.executable, "-m", "camkit.cli", "verify", str(EXAMPLE), "--site", site, "--hosts", "podman",
                          "--store", str(rig.store), "--out", str(out)], env=rig.env(), capture_output=True, text=True,
                         timeout=600)
    from camkit.verify import results

    rows = {r["test"]: r for r in results(out / "junit.xml")}
    return res.returncode, rows, (out / "report.html").read_text()


def test_converged_without_failures(rig: SiteRig) -> None:
    recap = rig.recap  # type: ignore[attr-defined]
    hosts = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", recap, re.M)
    assert {h for h, _, _ in hosts} == set(rig.servers(WARD) + rig.servers(DISTRICT))
    assert all(u == "0" and f == "0" for _, u, f in hosts), recap


def test_second_run_changes_nothing(rig: SiteRig) -> None:
    recap = rig.converge([WARD])
    changed = re.findall(r"changed=(\d+)", recap)
    assert changed and all(c == "0" for c in changed), recap


@pytest.mark.parametrize("site", [WARD, DISTRICT])
def test_verify_passes_on_the_converged_site(rig: SiteRig, site: str) -> None:
    rc, rows, report = verify(rig, site, "clean")
    failed = {k: v["detail"] for k, v in rows.items() if v["status"] != "pass"}
    assert rc == 0 and not failed, failed
    hosts = rig.servers(site)
    for check in ("listening_sockets", "services_running_and_enabled", "nftables_ruleset_is_the_generated_one",
                  "planned_addresses_are_up", "sshd_effective_settings", "time_sync_configured"):
        assert {f"test_{check}[{h}]" for h in hosts} <= set(rows), check
    if site == DISTRICT:
        assert rows["test_wireguard_tunnel_configured[hoan-kiem-gw1]"]["status"] == "pass"
        assert rows["test_radius_accepts_the_inventory_macs[hoan-kiem-radius1]"]["status"] == "pass"
        assert rows["test_radius_refuses_an_unknown_mac[hoan-kiem-radius1]"]["status"] == "pass"
    assert "PASS" in report and "render checked against" in report.lower()
    assert "NOT A HANDOVER: these results come from the site rig&#x27;s podman containers" in report  # HTML-escaped


def test_handover_collects_the_rig_verify_and_never_reads_as_a_handover(rig: SiteRig, tmp_path: Path) -> None:
    import shutil

    from conftest import edit

    results = tmp_path / "results"
    rc, _, _ = verify(rig, DISTRICT, "handover", results / "verify" / DISTRICT)
    assert rc == 0

    def handover(inv: Path) -> tuple[int, dict[str, Any], str]:
        res = subprocess.run([sys.executable, "-m", "camkit.cli", "handover", str(inv), "--site", DISTRICT, "--results",
                              str(results), "--no-lint"], env=rig.env(), capture_output=True, text=True, timeout=600)
        bundle = sorted(p for p in (results / "handover" / DISTRICT).iterdir() if p.is_dir())[-1]
        return res.returncode, json.loads((bundle / "handover.json").read_text()), (bundle / "handover.md").read_text()

    rc, doc, md = handover(EXAMPLE)
    parts = {p["name"]: p for p in doc["parts"]}
    assert parts["verify"]["status"] == "pass" and parts["verify"]["detail"].split(",")[1].strip() == "0 failed"
    assert parts["verify"]["stand_in"] == "the site rig's podman containers (not the deployed site's servers)"
    assert parts["cameras"]["status"] == "missing"  # the rig runs no camera
    assert rc == 1 and not doc["ready"] and "**NOT A HANDOVER: results in this bundle come from stand-ins" in md
    # the same results against a changed site: stale, with what to do
    copy = tmp_path / "inv"
    shutil.copytree(EXAMPLE, copy)
    edit(copy / "sites" / f"{DISTRICT}.yml", "{id: sw1, ports: 24, uplink_ports: [24]}",
         "{id: sw1, ports: 48, uplink_ports: [48]}")
    rc, doc, _ = handover(copy)
    v = next(p for p in doc["parts"] if p["name"] == "verify")
    assert rc == 1 and v["status"] == "stale" and "run `camkit verify` again" in " ".join(v["notes"])


def test_verify_finds_an_extra_open_port(rig: SiteRig) -> None:
    host = rig.servers(WARD)[0]
    podman("exec", "-d", container_name(host), "sh", "-c",
           "echo $$ > /run/camkit-test-http.pid; exec python3 -m http.server --bind 0.0.0.0 8099")
    try:
        import time

        for _ in range(50):
            if ":8099" in podman("exec", container_name(host), "ss", "-Htln").stdout:
                break
            time.sleep(0.1)
        rc, rows, report = verify(rig, WARD, "extra-port")
    finally:
        podman("exec", container_name(host), "sh", "-c", "kill $(cat /run/camkit-test-http.pid)", check=False)
    assert rc == 1
    finding = rows[f"test_listening_sockets[{host}]"]
    assert finding["status"] == "fail" and "tcp 0.0.0.0:8099" in finding["detail"], finding
    assert rows[f"test_nftables_ruleset_is_the_generated_one[{host}]"]["status"] == "pass"
    assert "FAIL" in report and "0.0.0.0:8099" in report


def test_verify_finds_a_modified_ruleset(rig: SiteRig) -> None:
    host = rig.servers(WARD)[0]
    podman("exec", container_name(host), "nft", "insert", "rule", "inet", "camkit", "input", "tcp", "dport", "2323",
           "accept")
    try:
        rc, rows, _ = verify(rig, WARD, "modified-ruleset")
    finally:
        podman("exec", container_name(host), "systemctl", "reload", "nftables", check=False)
    assert rc == 1
    finding = rows[f"test_nftables_ruleset_is_the_generated_one[{host}]"]
    assert finding["status"] == "fail" and "tcp dport 2323 accept" in finding["detail"], finding
    assert rows[f"test_listening_sockets[{host}]"]["status"] == "pass"
