"""Camera hardening: profiles (render family), the ONVIF applier and audit against the ONVIF device
SIMULATOR (no real camera runs here), the compliance matrix, credentials and rotation.

The simulator and camkit run as separate processes talking SOAP over loopback with the real
onvif-zeep-async client, as on a management host."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from camkit import pipeline
from camkit.access import AccessModel
from camkit.cameras.accounts import generate_password, meets_policy
from camkit.cameras.profile import firmware_ok, resolution, site_settings
from camkit.flows import FlowMatrix

from conftest import EXAMPLE

SITE = "hoan-kiem"  # Axis (Advanced Security, H.265, EAP-TLS), Hikvision (H.264, MAB) and Dahua cameras
BASE_PORT = 21000
from camkit.cameras.site import PINS_KEY  # noqa: E402

FACTORY = {"Axis": "root", "Hikvision": "admin", "Dahua": "admin"}  # hk-ca01: a police camera (Dahua)


def camkit(*args: str, env: dict[str, str], stdin: str | None = None, check: bool = False
           ) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "camkit.cli", *args], env=env, input=stdin, text=True,
                         capture_output=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"camkit {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


# --- profiles and the render family ----------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> Any:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    return inv, plan, FlowMatrix(inv, plan, AccessModel(inv))


def test_ip_filter_is_exactly_the_flow_matrix_sources_into_the_cameras(example: Any) -> None:
    inv, plan, flows = example
    st = site_settings(inv, plan, flows, SITE)
    sources = {a if "/" in a else a + "/32" for f in flows.flows
               if f.dst.site == SITE and f.dst.group == "cameras" for a in f.src.addresses}
    assert set(st.ip_filter) == sources and sources
    mgmt = str(plan.subnets[(SITE, __import__("camkit.model", fromlist=["NetworkRole"]).NetworkRole.management)].cidr)
    assert mgmt in st.ip_filter  # the applier runs from the management network
    assert st.ntp and st.timezone == "ICT-7" and st.protocols["HTTP"]["enabled"] is False


def test_profile_follows_model_catalog_and_sizing(example: Any) -> None:
    inv, plan, flows = example
    st = site_settings(inv, plan, flows, SITE)
    axis = next(p for p in st.cameras if p.vendor == "Axis")
    hik = next(p for p in st.cameras if p.vendor == "Hikvision")
    assert axis.advanced_security and axis.rtsps and axis.min_firmware == "11.11.73"
    assert axis.encoder.encoding == "H265" and axis.dot1x == "eap-tls" and axis.dot1x_identity == axis.id
    assert not hik.advanced_security and hik.default_accounts == ("admin",) and hik.dot1x_identity is None
    cam = inv.camera_index[hik.id]
    assert hik.encoder.fps == cam.fps and hik.encoder.gov_length == 2 * cam.fps
    from camkit.sizing import camera_mbps

    assert hik.encoder.bitrate_kbps == -(-int(camera_mbps(cam) * 1e6) // 1000)


def test_resolution_and_firmware_comparison() -> None:
    assert resolution(2) == (1920, 1080) and resolution(4) == (2560, 1440) and resolution(8) == (3840, 2160)
    assert firmware_ok("V5.7.23 build 240105", "5.7.23") and firmware_ok("5.8.0", "5.7.23")
    assert not firmware_ok("5.7.3", "5.7.23") and not firmware_ok("V2.800.0000000.16", "2.840.0.16")
    assert firmware_ok("11.11.73.1", "11.11.73")


def test_generated_passwords_meet_the_724_rule_and_are_unique() -> None:
    seen = {generate_password(12, ["upper", "lower", "digit", "special"]) for _ in range(300)}
    assert len(seen) == 300
    assert all(meets_policy(p, 12, ["upper", "lower", "digit", "special"]) for p in seen)
    assert not meets_policy("alllowercase1!", 12, ["upper", "lower", "digit", "special"])
    assert not meets_policy("Short1!", 12, ["upper", "lower", "digit", "special"])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    vp = tmp_path / "vault-password"
    vp.write_text(secrets.token_urlsafe(24))
    vp.chmod(0o600)
    return {**os.environ, "CAMKIT_VAULT_PASSWORD_FILE": str(vp), "CAMKIT_SECRETS_DIR": str(tmp_path / "secrets")}


def _store_values(store: Path, env: dict[str, str]) -> list[str]:
    """Every secret string in the store (to prove none reaches a generated or result file)."""
    from camkit.secrets import Store

    st = Store.open(store, Path(env["CAMKIT_VAULT_PASSWORD_FILE"]).read_text().strip().encode())
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k != PINS_KEY:  # certificate fingerprints: public facts, in the vault for its integrity check
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str) and len(v) >= 8:
            out.append(v)

    for f in store.glob("*.vault.yml"):
        walk(st.doc(f.name.removesuffix(".vault.yml")))
    return out


def test_profiles_render_with_no_secret_in_build(env: dict[str, str], tmp_path: Path) -> None:
    camkit("secrets", "init", str(EXAMPLE), check=True, env=env)
    camkit("render", str(EXAMPLE), "--out", str(tmp_path / "build"), check=True, env=env)
    store = tmp_path / "secrets" / "example"
    values = _store_values(store, env)
    pw = [v for v in values if meets_policy(v, 20, ["upper", "lower", "digit", "special"])]
    assert len(pw) >= 3 * 40 - 3 * 4  # three accounts of every camera with an address
    blob = b"".join(p.read_bytes() for p in (tmp_path / "build").rglob("*") if p.is_file())
    leaked = [v for v in values if v.encode() in blob]
    assert not leaked, f"{len(leaked)} secret(s) of the store appear in build/"
    # every site with a VMS has its SSO service client secret (the stacks give it to the refresher and the IOC)
    from camkit.secrets import SERVICE_CLIENT_KEY, Store

    st = Store.open(store, Path(env["CAMKIT_VAULT_PASSWORD_FILE"]).read_text().strip().encode())
    inv = pipeline.load(EXAMPLE)
    sids = [s.id for s in inv.sites.values() if s.kind.value != "private_system"]
    first = {sid: st.get(sid, SERVICE_CLIENT_KEY) for sid in sids}
    assert all(isinstance(v, str) and len(v) == 40 for v in first.values()) and len(set(first.values())) == len(sids)
    camkit("secrets", "init", str(EXAMPLE), check=True, env=env)  # generated once, never replaced
    st = Store.open(store, Path(env["CAMKIT_VAULT_PASSWORD_FILE"]).read_text().strip().encode())
    assert {sid: st.get(sid, SERVICE_CLIENT_KEY) for sid in sids} == first
    prof = json.loads((tmp_path / "build" / "example" / "sites" / SITE / "cameras" / "profiles.json").read_text())
    assert prof["accounts"] == {"administrator": "ck-admin", "operator": "ck-operator", "user": "ck-viewer"}
    assert prof["password_store"].startswith(f"{SITE}.vault.yml")
    crit = (tmp_path / "build" / "example" / "cameras" / "criteria.md").read_text()
    assert "724" in crit and "QCVN" in crit and "| C05 |" in crit


# --- the applier and audit against the simulator ---------------------------------------------------


class Sim:
    def __init__(self, env: dict[str, str], tmp: Path, quirks: dict[str, Any] | None = None, base: int = BASE_PORT):
        self.endpoints = tmp / "endpoints.json"
        fp = tmp / "factory-password"
        self.factory = "Fx" + secrets.token_urlsafe(12) + "!7"
        fp.write_text(self.factory)
        args = ["cameras", "simulate", str(EXAMPLE), "--site", SITE, "--endpoints", str(self.endpoints),
                "--factory-password-file", str(fp), "--base-port", str(base)]
        if quirks:
            (tmp / "quirks.json").write_text(json.dumps(quirks))
            args += ["--quirks", str(tmp / "quirks.json")]
        self.proc = subprocess.Popen([sys.executable, "-m", "camkit.cli", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(300):
            if self.endpoints.exists():
                break
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read() if self.proc.stderr else "simulator died")
            time.sleep(0.1)
        self.map = json.loads(self.endpoints.read_text())

    def ctl(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else (b"" if path.startswith(("reset", "quirks")) else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.map['control_port']}/{path}", data=data,
                                     method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def state(self, cam: str) -> Any:
        return self.ctl(f"state/{cam}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def rig(env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Sim, dict[str, str]]]:
    quirks = getattr(request, "param", None)
    sim = Sim(env, tmp_path, quirks)
    try:
        camkit("secrets", "init", str(EXAMPLE), check=True, env=env)  # only init creates the store and passwords
        for vendor, user in FACTORY.items():
            camkit("secrets", "bootstrap", str(EXAMPLE), "--vendor", vendor, "--user", user, stdin=sim.factory + "\n",
                   check=True, env=env)
        yield sim, env
    finally:
        sim.stop()


def controller(example: Any) -> str:
    inv, plan, _ = example
    from camkit.model import NetworkRole

    return str(plan.subnets[(SITE, NetworkRole.management)].cidr.network + 2)


def run(mode: str, sim: Sim, env: dict[str, str], out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    args = ["cameras", mode, str(EXAMPLE), "--site", SITE, "--endpoints", str(sim.endpoints), "--out", str(out),
            "--workers", "1", "--streams-lock", str(out.parent / "streams.lock.csv"), *extra]
    res = camkit(*args, env=env)
    doc = json.loads((out / f"{mode}.json").read_text())
    return res.returncode, doc, res.stdout + res.stderr


def by_cam(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["camera"]: c for c in doc["cameras"]}


def test_apply_then_audit_is_compliant_and_a_second_apply_changes_nothing(
        rig: tuple[Sim, dict[str, str]], example: Any, tmp_path: Path) -> None:
    sim, env = rig
    me = controller(example)
    axis = next(c for c in sim.map["cameras"] if sim.state(c)["users"].get("root"))
    assert sim.state(axis)["protocols"]["HTTP"]["enabled"] and sim.state(axis)["discovery"] == "Discoverable"

    rc, doc, log = run("apply", sim, env, tmp_path / "a1", "--controller-address", me)
    assert rc == 0, log
    results = by_cam(doc)
    assert set(results) == set(sim.map["cameras"]) and all(r["status"] == "ok" for r in results.values())
    st = sim.state(axis)
    assert set(st["users"]) == {"ck-admin", "ck-operator", "ck-viewer"}  # root (factory) deleted
    assert {u: a["level"] for u, a in st["users"].items()} == {
        "ck-admin": "Administrator", "ck-operator": "Operator", "ck-viewer": "User"}
    assert st["protocols"]["HTTP"]["enabled"] is False and st["protocols"]["HTTPS"]["enabled"] is True
    assert st["discovery"] == "NonDiscoverable" and st["datetime"] == {"type": "NTP", "dst": False, "tz": "ICT-7"}
    assert st["ntp"]["from_dhcp"] is False and st["ntp"]["manual"]
    assert st["dot1x"] and st["dot1x"][0]["eap"] == 13 and st["dot1x"][0]["identity"] == axis
    assert st["assigned"], "Axis has Advanced Security: a certificate is assigned to HTTPS"
    assert st["ip_filter"]["type"] == "Allow" and me.rsplit(".", 1)[0] in json.dumps(st["ip_filter"])
    # the HTTP port now refuses connections, as on a camera
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{sim.map['cameras'][axis]['http_port']}/onvif/device_service",
                               timeout=3)

    rc, doc, log = run("audit", sim, env, tmp_path / "au")
    assert rc == 0, log
    for r in doc["cameras"]:
        assert r["status"] == "ok" and not r["drift"], r
        assert "fail" not in r["compliance"].values()
        assert r["compliance"]["C06"] == "pass" and r["compliance"]["C05"] == "manual"
    assert by_cam(doc)[axis]["compliance"]["C07"] == "pass"
    md = (tmp_path / "au" / "audit.md").read_text()
    assert "## Compliance matrix" in md and "Handover checklist" in md and "**FAIL**" not in md

    calls_before = sum(sim.state(axis)["calls"].values())
    sets_before = {k: v for k, v in sim.state(axis)["calls"].items() if k.startswith(("Set", "Create", "Delete", "Add"))}
    rc, doc, log = run("apply", sim, env, tmp_path / "a2", "--controller-address", me, "--no-resume")
    assert rc == 0, log
    assert all(r["changed"] == [] for r in doc["cameras"]), [r["changed"] for r in doc["cameras"]]
    after = sim.state(axis)["calls"]
    assert sum(after.values()) > calls_before  # it did read the camera again
    assert {k: v for k, v in after.items() if k.startswith(("Set", "Create", "Delete", "Add"))} == sets_before


def test_factory_reset_is_detected_and_repaired(rig: tuple[Sim, dict[str, str]], example: Any,
                                                 tmp_path: Path) -> None:
    sim, env = rig
    me = controller(example)
    assert run("apply", sim, env, tmp_path / "a1", "--controller-address", me)[0] == 0
    victim = sorted(sim.map["cameras"])[1]
    sim.ctl(f"reset/{victim}")
    factory_users = set(sim.state(victim)["users"])
    rc, doc, _ = run("audit", sim, env, tmp_path / "au1")
    assert rc == 1
    res = by_cam(doc)
    # after a reset the camera is back on HTTP with its factory certificate: camkit pinned it, so it never falls
    # back to HTTP (someone blocking 443 must not get the accounts sent in the clear)
    assert res[victim]["status"] == "failed" and "never falls back to HTTP" in res[victim]["error"]
    assert all(r["status"] == "ok" for c, r in res.items() if c != victim)
    rc, doc, _ = run("apply", sim, env, tmp_path / "refused", "--controller-address", me)
    assert rc == 1 and "never falls back to HTTP" in by_cam(doc)[victim]["error"]
    assert by_cam(doc)[victim]["attempts"] == 3  # unreachable is retried (the port may come back)
    assert sim.state(victim)["http_calls"] == {} and set(sim.state(victim)["users"]) == factory_users
    # checked on site: the operator forgets its pin, and the next apply hardens it from its factory state
    assert camkit("cameras", "unpin", str(EXAMPLE), "--site", SITE, "--camera", victim, env=env).returncode == 0
    # the same result folder: the previous run was complete, so every camera is read again (no resume)
    rc, doc, _ = run("apply", sim, env, tmp_path / "a1", "--controller-address", me)
    assert rc == 0
    res = by_cam(doc)
    assert res[victim]["changed"] and res[victim]["attempts"] == 1
    assert all(r["changed"] == [] and r["attempts"] == 1 for c, r in res.items() if c != victim)
    # over HTTP only the factory login turned HTTPS on: no account was created or changed that way
    assert set(sim.state(victim)["http_calls"]) <= {"GetServices", "GetNetworkProtocols", "SetNetworkProtocols",
                                                    "GetSystemDateAndTime"}
    rc, doc, _ = run("audit", sim, env, tmp_path / "au2")
    assert rc == 0 and by_cam(doc)[victim]["status"] == "ok"


def test_drift_is_reported_per_setting(rig: tuple[Sim, dict[str, str]], example: Any, tmp_path: Path) -> None:
    sim, env = rig
    assert run("apply", sim, env, tmp_path / "a1", "--controller-address", controller(example))[0] == 0
    cam = sorted(sim.map["cameras"])[0]
    # someone turns discovery back on through the vendor UI, and the firmware is older than the catalog's minimum
    sim.ctl(f"quirks/{cam}", {"firmware": "1.0.0"})
    rc, doc, _ = run("audit", sim, env, tmp_path / "au")
    assert rc == 1
    r = by_cam(doc)[cam]
    assert r["status"] == "drift" and r["compliance"]["C15"] == "fail"
    assert [d["setting"] for d in r["drift"]] == ["firmware"]
    assert "**FAIL**" in (tmp_path / "au" / "audit.md").read_text()


@pytest.mark.parametrize("rig", [{"Hikvision/DS-2CD2T47G2-L": {"unsupported": ["SetDiscoveryMode"]}}], indirect=True)
def test_unsupported_operation_is_not_applied_not_success(rig: tuple[Sim, dict[str, str]], example: Any,
                                                          tmp_path: Path) -> None:
    sim, env = rig
    rc, doc, _ = run("apply", sim, env, tmp_path / "a1", "--controller-address", controller(example))
    assert rc == 1
    res = by_cam(doc)
    quirky = [c for c in res if res[c]["not_applied"]]
    assert quirky and all(res[c]["status"] == "partial" for c in quirky)
    for c in quirky:
        assert res[c]["not_applied"] == [{"setting": "discovery", "reason": "SetDiscoveryMode not supported"}]
        assert sim.state(c)["discovery"] == "Discoverable"
        assert not any("discovery" in ch for ch in res[c]["changed"])
    assert all(r["status"] == "ok" for c, r in res.items() if c not in quirky)
    rc, doc, _ = run("audit", sim, env, tmp_path / "au")
    assert rc == 1 and all(by_cam(doc)[c]["compliance"]["C08"] == "fail" for c in quirky)


def test_a_timeout_on_one_camera_leaves_the_others_done(env: dict[str, str], example: Any, tmp_path: Path) -> None:
    inv, plan, flows = example
    slow = site_settings(inv, plan, flows, SITE).cameras[0].id
    sim = Sim(env, tmp_path, {slow: {"delay_s": {"GetServices": 20}}}, base=BASE_PORT + 100)
    try:
        camkit("secrets", "init", str(EXAMPLE), check=True, env=env)
        for vendor, user in FACTORY.items():
            camkit("secrets", "bootstrap", str(EXAMPLE), "--vendor", vendor, "--user", user,
                   stdin=sim.factory + "\n", check=True, env=env)
        t0 = time.monotonic()
        rc, doc, _ = run("apply", sim, env, tmp_path / "a1", "--controller-address", controller(example),
                         "--call-timeout", "1", "--retries", "1")
        assert time.monotonic() - t0 < 60
        assert rc == 1
        res = by_cam(doc)
        assert res[slow]["status"] == "failed" and res[slow]["attempts"] == 2
        assert "no answer within 1 s" in res[slow]["error"] or "unreachable" in res[slow]["error"]
        assert all(r["status"] == "ok" for c, r in res.items() if c != slow)
        # the camera recovers; a rerun resumes: only it is applied
        sim.ctl(f"quirks/{slow}", {})
        rc, doc, _ = run("apply", sim, env, tmp_path / "a1", "--controller-address", controller(example))
        assert rc == 0
        res = by_cam(doc)
        assert res[slow]["attempts"] == 1 and res[slow]["changed"]
        assert all(r["attempts"] == 0 for c, r in res.items() if c != slow)
    finally:
        sim.stop()


def test_wrong_credentials_are_rejected_and_nothing_is_changed(env: dict[str, str], example: Any,
                                                               tmp_path: Path) -> None:
    sim = Sim(env, tmp_path, base=BASE_PORT + 200)
    try:
        camkit("secrets", "init", str(EXAMPLE), check=True, env=env)
        for vendor, user in FACTORY.items():  # a wrong factory password
            camkit("secrets", "bootstrap", str(EXAMPLE), "--vendor", vendor, "--user", user,
                   stdin="Wrong-" + sim.factory + "\n", check=True, env=env)
        rc, doc, _ = run("apply", sim, env, tmp_path / "a1", "--controller-address", controller(example))
        assert rc == 1
        for c, r in by_cam(doc).items():
            assert r["status"] == "failed" and "no credential works" in r["error"]
            assert r["attempts"] == 1, "a wrong password is not retried (it would feed the camera's lockout)"
            st = sim.state(c)
            assert not any(k.startswith(("Set", "Create", "Delete")) for k in st["calls"])
            assert st["protocols"]["HTTP"]["enabled"] and "ck-admin" not in st["users"]
    finally:
        sim.stop()


def test_rotation_moves_cameras_to_new_passwords_and_nothing_leaks(rig: tuple[Sim, dict[str, str]], example: Any,
                                                                   tmp_path: Path) -> None:
    sim, env = rig
    me = controller(example)
    rc, _, log1 = run("apply", sim, env, tmp_path / "a1", "--controller-address", me)
    assert rc == 0
    cam = sorted(sim.map["cameras"])[0]
    camkit("secrets", "rotate", str(EXAMPLE), "--camera-accounts", cam, check=True, env=env)
    rc, doc, log2 = run("audit", sim, env, tmp_path / "au1")
    assert rc == 1 and by_cam(doc)[cam]["status"] == "failed"  # the camera still has the old passwords
    rc, doc, log3 = run("apply", sim, env, tmp_path / "a2", "--controller-address", me)
    assert rc == 0, log3
    assert any("password from the store" in c for c in by_cam(doc)[cam]["changed"])
    rc, doc, log4 = run("audit", sim, env, tmp_path / "au2")
    assert rc == 0 and by_cam(doc)[cam]["compliance"]["C03"] == "pass"
    # no secret of the store (current or previous passwords, factory login, keys) in results or output
    values = _store_values(tmp_path / "secrets" / "example", env) + [sim.factory]
    blob = "".join(p.read_text("utf-8", "replace") for p in tmp_path.rglob("*.json")) + log1 + log2 + log3 + log4
    blob += "".join(p.read_text("utf-8") for p in tmp_path.rglob("*.md"))
    assert not [v for v in values if v in blob]


def test_ip_filter_is_not_set_when_it_would_lock_out_the_controller(rig: tuple[Sim, dict[str, str]],
                                                                     tmp_path: Path) -> None:
    sim, env = rig
    rc, doc, _ = run("apply", sim, env, tmp_path / "a1", "--controller-address", "192.0.2.10", "--workers", "2")
    assert rc == 1
    for c, r in by_cam(doc).items():
        assert r["status"] == "partial"
        assert r["not_applied"] == [{"setting": "ip_filter", "reason": (
            "this controller (192.0.2.10) would be locked out: run from the site's management network or pass "
            "--controller-address")}]
        assert sim.state(c)["ip_filter"]["type"] == "Deny" and sim.state(c)["ip_filter"]["ipv4"] == []
        assert sim.state(c)["protocols"]["HTTP"]["enabled"] is False  # everything else was applied


@pytest.mark.parametrize("rig", [{"hk-c02": {"stream_port": 8554}}], indirect=True)
def test_a_stream_served_on_another_port_than_the_vms_pulls_is_reported(rig: tuple[Sim, dict[str, str]],
                                                                       example: Any, tmp_path: Path) -> None:
    """hk-c02's firmware serves RTSP on 8554 whatever SetNetworkProtocols says: the VMS pulls it from 554 (its
    stream_url; the only camera port the flow matrix admits), so apply reports the stream as not applied and audit
    as drift. The cameras pulled over RTSPS (the Axis) are not held to the RTSP port."""
    sim, env = rig
    inv, _, _ = example
    rc, doc, log = run("apply", sim, env, tmp_path / "a1", "--controller-address", controller(example))
    assert rc == 1, log
    res = by_cam(doc)
    assert res["hk-c02"]["status"] == "partial"
    assert [n["setting"] for n in res["hk-c02"]["not_applied"]] == ["stream"]
    assert "serves its main stream on port 8554" in res["hk-c02"]["not_applied"][0]["reason"]
    assert "the VMS pulls it from 554" in res["hk-c02"]["not_applied"][0]["reason"]
    assert all(r["status"] == "ok" for c, r in res.items() if c != "hk-c02"), res
    rc, doc, log = run("audit", sim, env, tmp_path / "au1")
    assert rc == 1, log
    drift = {c: [d for d in r["drift"] if d["setting"] == "stream port"] for c, r in by_cam(doc).items()}
    assert drift.pop("hk-c02") == [{"setting": "stream port", "expected": 554, "actual": 8554}]
    assert all(d == [] for d in drift.values()), drift


@pytest.mark.parametrize("rig", [{"hk-c04": {"stream_path": "/axis-media/media.amp?videocodec=h265"}, "hk-c05": {"stream_path": "/"}}],
                         indirect=True)
def test_the_stream_each_camera_reports_is_locked_and_then_pulled(rig: tuple[Sim, dict[str, str]], example: Any,
                                                                   tmp_path: Path) -> None:
    """hk-c04's firmware serves another main-stream path than its model's documented one, hk-c05 reports '/'
    (unusable): apply records what each camera says in the stream lock, the next render pulls hk-c04 from there,
    a '/' is never recorded, and audit reports both until the lock and the camera agree. (The Hikvisions carry a
    stream_url: an explicit URL wins over what the camera reports.)"""
    import shutil

    import yaml

    sim, env = rig
    inv, _, _ = example
    axis = inv.models["Axis/P1465-LE"].rtsp_path
    quirk = "/axis-media/media.amp?videocodec=h265"
    copy = tmp_path / "inv"
    shutil.copytree(EXAMPLE, copy)
    lock = copy / "streams.lock.csv"
    before = lock.read_text()
    assert "hk-c0" not in before  # the example's lock has no hoan-kiem rows yet

    base = ["--site", SITE, "--endpoints", str(sim.endpoints), "--workers", "1"]
    res = camkit("cameras", "apply", str(copy), *base, "--out", str(tmp_path / "a1"),
                 "--controller-address", controller(example), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "main-stream path(s) recorded" in res.stdout
    rows = {r["id"]: r for r in __import__("csv").DictReader(lock.open())}
    assert rows["hk-c04"]["path"] == quirk and rows["hk-c04"]["source"] == "onvif"
    assert rows["hk-c04"]["profile"] == "prof-main"  # the profile using the main encoder, not the first listed
    assert "hk-c05" not in rows  # '/' is no path: never recorded
    assert rows["hk-c02"]["path"] == "/Streaming/Channels/101"
    assert lock.read_text().startswith(before.splitlines()[0])  # the other sites' rows are kept
    assert all(line in lock.read_text().splitlines() for line in before.splitlines())

    # the render pulls hk-c04 from what the camera reported, hk-c05 still from its model's documented path
    assert camkit("render", str(copy), "--out", str(tmp_path / "build"), "--site", SITE, "--only", "helm",
                  env=env).returncode == 0, "render"
    vfile = next((tmp_path / "build").glob(f"*/sites/{SITE}/helm/vms.values.yaml"))
    values = yaml.safe_load(vfile.read_text().split("\n", 1)[1])
    hosts = {c["path"].split("/")[-1]: c["hostPath"] for s in values["shards"] for c in s["cameras"]}
    assert hosts["hk-c04"].endswith(f":322{quirk}")  # RTSPS: the Axis serves it
    assert hosts["hk-c05"].endswith(f":322{axis}")

    # audit against the copy: hk-c04 agrees now; hk-c05's camera still reports an unusable path
    res = camkit("cameras", "audit", str(copy), *base, "--out", str(tmp_path / "au1"), env=env)
    assert res.returncode == 1
    drift = {c["camera"]: [d for d in c["drift"] if d["setting"] == "stream"]
             for c in json.loads((tmp_path / "au1" / "audit.json").read_text())["cameras"]}
    assert drift["hk-c04"] == [] and drift["hk-c02"] == [] and drift["hk-c01"] == []
    assert drift["hk-c05"] and drift["hk-c05"][0]["expected"] == axis
    assert "no usable RTSP path" in drift["hk-c05"][0]["actual"]
    # against the repo's example (no hoan-kiem rows): hk-c04 drifts from its model's documented path
    rc, doc, _ = run("audit", sim, env, tmp_path / "au2")
    got = [d for d in by_cam(doc)["hk-c04"]["drift"] if d["setting"] == "stream"]
    assert got == [{"setting": "stream", "expected": axis, "actual": quirk}]
    # a second apply reads the same paths: the lock is left byte for byte as it was
    after = lock.read_bytes()
    res = camkit("cameras", "apply", str(copy), *base, "--out", str(tmp_path / "a2"), "--no-resume",
                 "--controller-address", controller(example), env=env)
    assert res.returncode == 0 and "recorded" not in res.stdout and lock.read_bytes() == after


# --- camera TLS: the certificate is pinned, HTTP never carries a password (issue 15, part 6) ----------------


def _plain(sim: Sim) -> str:
    """A camera without Advanced Security (its HTTPS keeps the certificate it came with)."""
    return next(c for c in sorted(sim.map["cameras"]) if "root" not in sim.state(c)["users"])


def test_a_changed_certificate_is_refused_before_anything_is_sent(rig: tuple[Sim, dict[str, str]], example: Any,
                                                                  tmp_path: Path) -> None:
    sim, env = rig
    cam = _plain(sim)
    assert run("apply", sim, env, tmp_path / "a1", "--controller-address", controller(example))[0] == 0
    sim.ctl(f"quirks/{cam}", {"tls_identity": "someone in the middle"})  # same address, another certificate
    calls = sum(sim.state(cam)["calls"].values())
    for mode in ("audit", "apply"):
        rc, doc, _ = run(mode, sim, env, tmp_path / f"{mode}-mitm", "--no-resume" if mode == "apply" else "--retries",
                         *([] if mode == "apply" else ["2"]))
        r = by_cam(doc)[cam]
        assert rc == 1 and r["status"] == "failed" and "is not the one camkit pinned" in r["error"]
        assert r["attempts"] == 1, "a certificate mismatch is not retried"
        assert all(x["status"] == "ok" for c, x in by_cam(doc).items() if c != cam)
    assert sum(sim.state(cam)["calls"].values()) == calls, "a request reached the camera over the wrong certificate"
    # the camera is back with its own certificate: accepted again
    sim.ctl(f"quirks/{cam}", {})
    rc, doc, _ = run("audit", sim, env, tmp_path / "au-back")
    assert rc == 0 and by_cam(doc)[cam]["status"] == "ok"


@pytest.mark.parametrize("rig", [{"Hikvision/DS-2CD2T47G2-L": {"https_closed": True}}], indirect=True)
def test_a_camera_that_never_answers_https_gets_no_account_and_no_password_over_http(
        rig: tuple[Sim, dict[str, str]], example: Any, tmp_path: Path) -> None:
    sim, env = rig
    closed = [c for c in sim.map["cameras"] if sim.state(c)["users"].get("admin") and c.startswith("ht-")] or \
        [c for c in sim.map["cameras"] if sim.state(c)["users"].get("admin")]
    before = {c: set(sim.state(c)["users"]) for c in sim.map["cameras"]}
    rc, doc, _ = run("apply", sim, env, tmp_path / "a1", "--controller-address", controller(example))
    assert rc == 1
    res = by_cam(doc)
    failed = {c for c, r in res.items() if r["status"] == "failed"}
    assert failed and failed <= set(closed)
    for c in failed:
        assert "HTTPS turned on but it does not answer: nothing else was changed" in res[c]["error"]
        st = sim.state(c)
        assert set(st["users"]) == before[c]
        assert set(st["http_calls"]) <= {"GetServices", "GetNetworkProtocols", "SetNetworkProtocols"}, st["http_calls"]
    for c in set(res) - failed:  # the others are hardened, and got their passwords over HTTPS only
        assert res[c]["status"] == "ok"
        assert not {"CreateUsers", "SetUser", "DeleteUsers"} & set(sim.state(c)["http_calls"])


def test_a_device_that_supports_only_some_operations_gets_every_other_setting(rig: tuple[Sim, dict[str, str]],
                                                                              example: Any, tmp_path: Path) -> None:
    sim, env = rig
    me = controller(example)
    cam = _plain(sim)
    assert run("apply", sim, env, tmp_path / "a1", "--controller-address", me)[0] == 0
    sim.ctl(f"quirks/{cam}", {"unsupported": ["GetNetworkProtocols", "SetNetworkProtocols", "GetNTP", "SetNTP",
                                              "GetSystemDateAndTime", "SetDiscoveryMode", "GetDiscoveryMode"]})
    rc, doc, _ = run("audit", sim, env, tmp_path / "au")
    r = by_cam(doc)[cam]
    assert rc == 1 and r["status"] == "drift" and r["attempts"] == 1
    assert {d["setting"] for d in r["drift"] if d["actual"] == "not supported by the camera"} == {
        "protocols", "ntp", "discovery", "datetime"}
    assert r["compliance"]["C03"] == "pass"  # the accounts and passwords it does answer for are still checked
    rc, doc, _ = run("apply", sim, env, tmp_path / "a2", "--controller-address", me, "--no-resume")
    r = by_cam(doc)[cam]
    assert rc == 1 and r["status"] == "partial" and r["attempts"] == 1 and not r["error"]
    assert {n["setting"] for n in r["not_applied"]} == {"protocols", "discovery", "ntp", "datetime"}


def test_a_partial_audit_merges_into_the_site_report_and_every_run_is_kept(rig: tuple[Sim, dict[str, str]],
                                                                          example: Any, tmp_path: Path) -> None:
    sim, env = rig
    assert run("apply", sim, env, tmp_path / "a1", "--controller-address", controller(example))[0] == 0
    out = tmp_path / "au"
    rc, full, _ = run("audit", sim, env, out)
    assert rc == 0 and len(full["cameras"]) == len(sim.map["cameras"])
    one = sorted(sim.map["cameras"])[0]
    sim.ctl(f"quirks/{one}", {"firmware": "1.0.0"})
    rc, doc, _ = run("audit", sim, env, out, "--camera", one)
    assert rc == 1
    assert doc["this_run"] == [one] and {c["camera"] for c in doc["cameras"]} == set(sim.map["cameras"])
    assert by_cam(doc)[one]["status"] == "drift" and doc["summary"]["by_status"] == {
        "drift": 1, "ok": len(sim.map["cameras"]) - 1}
    others = {c: r for c, r in by_cam(doc).items() if c != one}
    assert all(r == by_cam(full)[c] for c, r in others.items()), "the other cameras keep their earlier result"
    md = (out / "audit.md").read_text()
    assert md.count("| ok |") == len(sim.map["cameras"]) - 1 and "| drift |" in md
    runs = sorted((out / "runs").glob("*-audit.json"))
    assert len(runs) == 2 and [c["camera"] for c in json.loads(runs[-1].read_text())["cameras"]] == [one]
    # where the results came from: the simulator on loopback, never read as a handover
    assert doc["run"]["stand_in"] == "the ONVIF device simulator (not cameras)"
    assert doc["run"]["inventory"]["content_sha256"] and doc["run"]["camkit"] and doc["run"]["time"]
    assert "NOT A HANDOVER: these results come from the ONVIF device simulator" in md
