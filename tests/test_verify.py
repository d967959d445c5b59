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


def test_verify_without_its_packages_names_them_and_writes_no_report(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    monkeypatch.setitem(sys.modules, "testinfra", None)  # what the import system sees without pytest-testinfra
    res = cli("verify", EXAMPLE, "--site", "hang-trong", "--hosts", "podman", "--out", tmp_path / "v")
    assert res.exit_code == 69
    assert "pytest-testinfra" in res.output and "camkit[verify]" in res.output
    assert not (tmp_path / "v").exists(), "a report of no checks must not look like a handover"


def test_cluster_checks_without_the_kubernetes_client_name_it(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    monkeypatch.setitem(sys.modules, "kubernetes", None)
    (tmp_path / "kubeconfig").write_text("{}")
    res = cli("verify", EXAMPLE, "--site", "hang-trong", "--kubeconfig", tmp_path / "kubeconfig", "--out", tmp_path / "v")
    assert res.exit_code == 69 and "needs kubernetes:" in res.output
    assert not (tmp_path / "v").exists()


def test_a_suite_that_does_not_run_is_an_error_not_a_failed_report(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import camkit.verify as verify

    broken = tmp_path / "suite.py"
    broken.write_text("def test_x(:\n")  # pytest stops at collection (exit 2)
    monkeypatch.setattr(verify, "SUITE", broken)
    res = cli("verify", EXAMPLE, "--site", "hang-trong", "--hosts", "podman", "--out", tmp_path / "v")
    assert res.exit_code == 69 and "the suite did not run (pytest exit 2)" in res.output and "SyntaxError" in res.output
    assert "NOT RUN" in (tmp_path / "v" / "report.html").read_text()


def test_the_report_says_when_the_inventory_tree_was_dirty(inventory: Path, tmp_path: Path) -> None:
    import subprocess

    from camkit.verify import inventory_version

    git = ["git", "-C", str(inventory), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    clean = inventory_version(inventory)
    assert clean["dirty"] == [] and len(clean["git_commit"]) == 40
    (inventory / "sites" / "hang-bac.yml").write_text((inventory / "sites" / "hang-bac.yml").read_text() + "\n")
    (inventory / "cameras" / "new.csv").write_text("id\n")
    dirty = inventory_version(inventory)
    assert dirty["dirty"] == ["cameras/new.csv", "sites/hang-bac.yml"] and dirty["content_sha256"] != clean["content_sha256"]
    junit = tmp_path / "junit.xml"
    junit.write_text('<?xml version="1.0"?><testsuites><testsuite name="pytest">'
                     '<testcase classname="test_site" name="test_x"/></testsuite></testsuites>')
    expect = {"site_name": "x", "tier": 3, "kind": "ward", "render_sha256": "ab" * 32, "generated": "now",
              "hosts": {}, "inventory": {"path": str(inventory), **dirty}}
    page = html_report(expect, junit, pipeline.load(EXAMPLE), "hang-bac")
    assert "uncommitted changes to 2 file(s)" in page and "sites/hang-bac.yml" in page
    expect["inventory"] = {"path": str(inventory), **clean}
    assert "no uncommitted changes" in html_report(expect, junit, pipeline.load(EXAMPLE), "hang-bac")


def test_the_inventory_version_without_git_is_its_content_hash(inventory: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A site server that runs the camera applier has no git: the version is the content hash alone."""
    from camkit.provenance import inventory_version

    monkeypatch.setenv("PATH", str(inventory))  # no git on this PATH
    v = inventory_version(inventory)
    assert set(v) == {"content_sha256"} and len(v["content_sha256"]) == 64
