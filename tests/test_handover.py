"""`camkit handover --site S`: the bundle a contractor hands over, collected from the results on record.

What a contractor and the city's reviewer rely on: the bundle says what is missing, failing or stale and is
never "ready" then; results from the ONVIF simulator (or the podman rig: tests/test_site_rig.py) are headed
NOT A HANDOVER; `configs.sha256` proves (with the real `sha256sum -c`) which render was handed over; the
checklist has a row with evidence/who/when fields for every manual item; no secret reaches the bundle; every
bundle is kept."""

from __future__ import annotations

import csv
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLE, edit
from test_cameras import SITE, Sim, _store_values, camkit, controller
from test_cameras import example as example  # noqa: F401  (the module fixture)
from test_cameras import env as env  # noqa: F401
from test_cameras import rig as rig  # noqa: F401


def handover(inv: Path, results: Path, *extra: str, env: dict[str, str] | None = None
             ) -> tuple[int, Path, dict[str, Any], str]:
    import os

    res = camkit("handover", str(inv), "--site", SITE, "--results", str(results), "--no-lint", *extra,
                 env=env or dict(os.environ))
    bundles = sorted(p for p in (results / "handover" / SITE).iterdir() if p.is_dir())
    return res.returncode, bundles[-1], json.loads((bundles[-1] / "handover.json").read_text()), res.stdout + res.stderr


def parts(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in doc["parts"]}


def verify_over_loopback(inv: Path, results: Path, tmp: Path, env: dict[str, str] | None = None) -> int:
    """`camkit verify` over ssh with every host sent to a closed port on loopback: a real run whose checks fail."""
    import os

    cfg = tmp / "ssh_config"
    cfg.write_text("Host *\n  HostName 127.0.0.1\n  Port 9\n  ConnectTimeout 3\n  BatchMode yes\n")
    res = camkit("verify", str(inv), "--site", SITE, "--ssh-config", str(cfg), "--out",
                 str(results / "verify" / SITE), env=env or dict(os.environ))
    return res.returncode


def test_without_results_the_bundle_is_not_ready_and_proves_which_render_it_hands_over(tmp_path: Path) -> None:
    results = tmp_path / "results"
    rc, bundle, doc, log = handover(EXAMPLE, results)
    assert rc == 1 and doc["ready"] is False, log
    p = parts(doc)
    assert p["verify"]["status"] == "missing" and "camkit verify" in p["verify"]["detail"]
    assert p["cameras"]["status"] == "missing" and "camkit cameras audit --site hoan-kiem" in p["cameras"]["detail"]
    assert p["charts"]["status"] == "pass" and (bundle / "charts.json").exists()
    assert "NOT READY" in (bundle / "handover.md").read_text()

    # the hashes name every rendered file of the site; sha256sum -c accepts the render and refuses a changed file
    build = tmp_path / "build"
    camkit("render", str(EXAMPLE), "--out", str(build), check=True, env=_env())
    sums = bundle / "configs.sha256"
    listed = [line.split("  ", 1)[1] for line in sums.read_text().splitlines()]
    assert f"sites/{SITE}/nftables/{SITE}-gw1.nft" in listed and f"ansible/host_vars/{SITE}-gw1.yml" in listed
    assert not [p for p in listed if p.startswith("sites/") and not p.startswith(f"sites/{SITE}/")]
    ok = subprocess.run(["sha256sum", "-c", "--quiet", str(sums)], cwd=build / "example", capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    edit(build / "example" / "sites" / SITE / "nftables" / f"{SITE}-gw1.nft", "accept", "drop")
    bad = subprocess.run(["sha256sum", "-c", "--quiet", str(sums)], cwd=build / "example", capture_output=True, text=True)
    assert bad.returncode == 1 and f"{SITE}-gw1.nft: FAILED" in bad.stdout
    own = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True)
    assert own.returncode == 0, own.stdout

    # a manual row per switch, by how its configuration gets there; evidence, who and when left to fill
    rows = list(csv.DictReader((bundle / "checklist.csv").open()))
    assert list(rows[0]) == ["id", "item", "scope", "how", "evidence", "who", "when"]
    assert all(r["evidence"] == r["who"] == r["when"] == "" for r in rows)
    by_id = {r["id"]: r for r in rows}
    assert "playbooks/switches.yml" in by_id["switch-config:sw1"]["how"]
    assert {"camera-C05", "rke2-airgap", "secrets-scope", "live-and-playback"} <= set(by_id)
    res = camkit("handover", str(EXAMPLE), "--site", "hang-bac", "--results", str(results), "--no-lint", env=_env())
    ward = sorted(p for p in (results / "handover" / "hang-bac").iterdir() if p.is_dir())[-1]
    wrows = {r["id"]: r for r in csv.DictReader((ward / "checklist.csv").open())}
    assert res.returncode == 1 and "manual route" in wrows["switch-config:sw1"]["how"]  # Huawei VRP: no collection
    assert "huawei-vrp" in wrows["switch-config:sw1"]["scope"] and "rke2-airgap" in wrows

    # every bundle is kept, each also as an archive holding the same files
    rc2, second, _, _ = handover(EXAMPLE, results)
    folders = sorted(p for p in (results / "handover" / SITE).iterdir() if p.is_dir())
    assert rc2 == 1 and len(folders) == 2 and second != bundle and bundle.exists()
    with tarfile.open(second.with_name(second.name + ".tar.gz")) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert names == {f.relative_to(second).as_posix() for f in second.rglob("*")}


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_a_verify_taken_against_another_render_is_named(inventory: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert verify_over_loopback(inventory, results, tmp_path) == 1
    rc, _, doc, _ = handover(inventory, results)
    v = parts(doc)["verify"]
    assert rc == 1 and v["status"] == "FAIL" and v["detail"].startswith("0 passed")
    # the ssh configuration sent every host to loopback: verify says so, and the bundle is no handover
    assert "on loopback (not the site's devices), as the ssh configuration resolves the hosts" in v["stand_in"]
    assert "NOT A HANDOVER" in (results / "verify" / SITE / "report.html").read_text()
    assert not any("another render" in n or "verified against render" in n for n in v["notes"])
    # RADIUS answers cannot be asked over ssh: the handover's checklist carries them as a manual item
    assert any(r["id"].startswith("verify-") and "RADIUS answers" in r["item"] for r in doc["checklist"])
    # and verify ran without --kubeconfig: the cluster is a manual item until it runs with one
    assert any(r["id"].startswith("verify-") and "camkit verify --kubeconfig" in r["item"] for r in doc["checklist"])
    edit(inventory / "sites" / f"{SITE}.yml", "{id: sw1, ports: 24, uplink_ports: [24]}",
         "{id: sw1, ports: 48, uplink_ports: [48]}")  # the site's switch changes
    rc, _, doc, _ = handover(inventory, results)
    assert any("verified against render" in n for n in parts(doc)["verify"]["notes"])


def test_a_simulated_audit_is_collected_never_as_a_handover_and_no_secret_reaches_the_bundle(
        rig: tuple[Sim, dict[str, str]], example: Any, tmp_path: Path) -> None:  # noqa: F811
    sim, env = rig
    results = tmp_path / "results"
    cams = results / "cameras" / SITE
    common = ["--site", SITE, "--endpoints", str(sim.endpoints), "--workers", "1",
              "--streams-lock", str(tmp_path / "streams.lock.csv")]
    camkit("cameras", "apply", str(EXAMPLE), *common, "--out", str(cams / "apply"),
           "--controller-address", controller(example), check=True, env=env)
    camkit("cameras", "audit", str(EXAMPLE), *common, "--out", str(cams / "audit"), check=True, env=env)
    verify_over_loopback(EXAMPLE, results, tmp_path, env)
    rc, bundle, doc, log = handover(EXAMPLE, results, env=env)
    p = parts(doc)
    assert p["cameras"]["status"] == "pass", p["cameras"]
    assert p["cameras"]["detail"] == f"{len(sim.map['cameras'])} of {len(sim.map['cameras'])} cameras compliant"
    assert p["cameras"]["stand_in"] == "the ONVIF device simulator (not cameras)"
    assert rc == 1 and doc["ready"] is False and "NOT A HANDOVER" in log
    md = (bundle / "handover.md").read_text()
    assert "**NOT A HANDOVER: results in this bundle come from stand-ins" in md and "ONVIF device simulator" in md
    assert (bundle / "cameras" / "audit.md").exists() and (bundle / "verify" / "junit.xml").exists()
    c05 = next(r for r in doc["checklist"] if r["id"] == "camera-C05")
    assert c05["scope"] == f"{len(sim.map['cameras'])} cameras"

    # a camera out of its profile fails the part, named
    one = sorted(sim.map["cameras"])[0]
    sim.ctl(f"quirks/{one}", {"firmware": "1.0.0"})
    camkit("cameras", "audit", str(EXAMPLE), *common, "--out", str(cams / "audit"), "--camera", one, env=env)
    rc, bundle2, doc, _ = handover(EXAMPLE, results, env=env)
    assert parts(doc)["cameras"]["status"] == "FAIL" and one in " ".join(parts(doc)["cameras"]["notes"])

    values = _store_values(Path(env["CAMKIT_SECRETS_DIR"]) / "example", env)
    assert values
    for b in (bundle, bundle2):
        blob = b"".join(f.read_bytes() for f in b.rglob("*") if f.is_file())
        with tarfile.open(b.with_name(b.name + ".tar.gz")) as tar:
            blob += b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())  # type: ignore[union-attr]
        assert not [v for v in values if v.encode() in blob]


@pytest.mark.parametrize("site", ["nowhere"])
def test_an_unknown_site_is_a_usage_error(site: str, tmp_path: Path) -> None:
    res = camkit("handover", str(EXAMPLE), "--site", site, "--results", str(tmp_path), env=_env())
    assert res.returncode == 64 and "'nowhere' is not a site; known: hang-bac" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "handover").exists()


def test_a_fifo_or_a_link_among_the_results_is_not_read(tmp_path: Path) -> None:
    import os

    results = tmp_path / "results"
    (results / "cameras" / SITE / "audit").mkdir(parents=True)
    os.mkfifo(results / "cameras" / SITE / "audit" / "audit.json")  # reading it would block for ever
    (results / "verify" / SITE).mkdir(parents=True)
    (results / "verify" / SITE / "junit.xml").symlink_to("/etc/passwd")
    (results / "verify" / SITE / "expectations.json").symlink_to("/etc/hostname")
    rc, bundle, doc, _ = handover(EXAMPLE, results)  # camkit() has a timeout: a hang fails the test
    assert rc == 1 and parts(doc)["verify"]["status"] == "missing" and parts(doc)["cameras"]["status"] == "missing"
    assert not (bundle / "verify").exists() or not any((bundle / "verify").iterdir())
