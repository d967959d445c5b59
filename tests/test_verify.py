"""camkit verify: the expectations it derives from the model, and the handover report."""

from __future__ import annotations

from pathlib import Path

from camkit import pipeline
from camkit.model import NetworkRole
from camkit.verify import Targets, expectations, html_report, results

from conftest import EXAMPLE


def test_district_expectations_follow_the_model() -> None:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    e = expectations(inv, plan, "hoan-kiem", Targets("podman"))
    hosts = e["hosts"]
    assert set(hosts) == {inv.sites["hoan-kiem"].hostname(s.name) for s in inv.sites["hoan-kiem"].servers}
    radius_ip = plan.assignments[(NetworkRole.servers, "hoan-kiem-radius1")].ip
    r = hosts["hoan-kiem-radius1"]
    assert f"udp {radius_ip}:1812" in r["sockets"] and "freeradius" in r["services"]
    assert r["radius"]["accept"], "the district serves MAB cameras: there must be MACs to ask about"
    macs = {c.mac for c in inv.camera_index.values() if c.mac}
    assert r["radius"]["unknown"] not in macs
    assert set(r["radius"]["accept"]) <= macs
    assert all(v == str(inv.city.networks.cameras.vlan) or v.isdigit() for v in r["radius"]["accept"].values())
    gw = hosts["hoan-kiem-gw1"]
    assert gw["wireguard"]["listen_port"] == "51820" and gw["wireguard"]["peers"] == ["toa-nha-hang-bac-nvr1"]
    assert "udp 0.0.0.0:51820" in gw["sockets"]
    for h in hosts.values():
        assert "table inet camkit" in h["nftables"] and "policy drop" in h["nftables"]
        assert h["target"].startswith("podman://camkit-rig-")
        assert "tcp 0.0.0.0:22" in h["sockets"]
    assert len(e["render_sha256"]) == 64


def test_ward_without_radius_has_no_radius_checks_and_ssh_targets() -> None:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    e = expectations(inv, plan, "hang-trong", Targets("ssh", ssh_user="ops"))
    (name, h), = e["hosts"].items()
    assert h["target"] == f"ssh://ops@{plan.assignments[(NetworkRole.servers, name)].ip}"
    assert "radius" not in h and e["probes"] == []
    assert h["sockets"] == ["tcp 0.0.0.0:22", "tcp [::]:22"]


def test_report_shows_findings(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text('<?xml version="1.0"?><testsuites><testsuite name="pytest">'
                     '<testcase classname="test_site" name="test_listening_sockets[h1]">'
                     '<failure message="unexpected listening sockets: [\'tcp 0.0.0.0:8099\']">detail</failure>'
                     '</testcase><testcase classname="test_site" name="test_sshd_effective_settings[h1]"/>'
                     '</testsuite></testsuites>')
    rows = results(junit)
    assert [r["status"] for r in rows] == ["fail", "pass"]
    inv = pipeline.load(EXAMPLE)
    expect = {"site_name": "Phường Hàng Trống", "tier": 3, "kind": "ward", "render_sha256": "ab" * 32,
              "generated": "2026-01-01T00:00:00+00:00", "hosts": {"h1": {"roles": []}},
              "inventory": {"path": "inventories/example", "content_sha256": "cd" * 32}}
    page = html_report(expect, junit, inv, "hang-trong")
    assert "<b>FAIL</b>: 1 passed, 1 failed" in page and "tcp 0.0.0.0:8099" in page and "ab" * 32 in page
