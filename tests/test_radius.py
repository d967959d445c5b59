"""802.1X and MAB against the real FreeRADIUS 3.2 with the generated configuration and PKI.

The RADIUS server of the example district (hoan-kiem-radius1) runs in its own network namespace
on its planned address; requests come from the planned management addresses of the switches
(added to the namespace's loopback), so the generated config is used as it is.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509

from camkit import pipeline
from camkit.model import NetworkRole
from camkit.pki import Pki, radius_area
from camkit.diagnostics import InventoryError
from camkit.radius_install import install
from camkit.secrets import Store

from conftest import EXAMPLE

HOST, SITE = "hoan-kiem-radius1", "hoan-kiem"
PASSWORD = b"test vault password"


def need(*tools: str) -> None:
    for t in tools:
        assert shutil.which(t), f"{t} is not installed (`.ci/run` installs it)"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    need("freeradius", "eapol_test", "ip")
    tmp = tmp_path_factory.mktemp("radius")
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    store = Store.open(tmp / "store", PASSWORD, create=True)
    Pki(inv, plan, store).ensure_all()
    store.save()
    build = tmp / "build"
    pipeline.write(pipeline.render(inv, plan, ["radius"]), build)
    return {"inv": inv, "plan": plan, "store": store, "build": build, "tmp": tmp}


def installed(world, host: str, name: str) -> Path:  # type: ignore[no-untyped-def]
    inv, tmp = world["inv"], world["tmp"]
    sid, _ = inv.hosts[host]
    dest = tmp / name
    install(inv, world["store"], world["build"] / "sites" / sid / "radius" / host, host, dest, run_as_root=True,
            logdir=dest / "log", run_dir=dest / "run")
    (dest / "log").mkdir()
    (dest / "run").mkdir()
    return dest


class Netns:
    def __init__(self, addresses: list[str]):
        self.name = f"camkit-rad-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run(["ip", "link", "set", "lo", "up"])
        for a in addresses:
            self.run(["ip", "addr", "add", f"{a}/32", "dev", "lo"])

    def cmd(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, args: list[str], **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
        return subprocess.run(self.cmd(args), check=kw.pop("check", True), capture_output=True, text=True, **kw)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


@pytest.fixture(scope="module")
def server(world) -> Iterator[dict]:  # type: ignore[no-untyped-def,type-arg]
    inv, plan = world["inv"], world["plan"]
    raddb = installed(world, HOST, "raddb")
    radius_ip = plan.assignments[(NetworkRole.servers, HOST)].ip
    switches = {inv.sites[sid].hostname(sw.id): plan.assignments[(NetworkRole.management, inv.sites[sid].hostname(sw.id))].ip
                for sid in radius_area(inv)[SITE] for sw in inv.sites[sid].switches}
    ns = Netns([radius_ip, *switches.values()])
    log = open(raddb / "log" / "debug.log", "w")
    proc = subprocess.Popen(ns.cmd(["freeradius", "-X", "-d", str(raddb)]), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while "Ready to process requests" not in (raddb / "log" / "debug.log").read_text():
            assert proc.poll() is None, (raddb / "log" / "debug.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "freeradius did not start"
            time.sleep(0.1)
        yield {"ns": ns, "ip": radius_ip, "switches": switches, "raddb": raddb, "proc": proc}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        ns.delete()


def secret_of(world, switch_host: str) -> str:  # type: ignore[no-untyped-def]
    sid = next(s.id for s in world["inv"].sites.values() for sw in s.switches if s.hostname(sw.id) == switch_host)
    return world["store"].doc(sid)["switch_radius_secrets"][switch_host]


def mab(server, secret: str, source: str, macs: list[str]) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    res = server["ns"].run([sys.executable, "-m", "camkit.probes.radius_mab", server["ip"], source, secret, *macs],
                           timeout=60)
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_every_radius_config_passes_freeradius_check(world) -> None:  # type: ignore[no-untyped-def]
    inv = world["inv"]
    hosts = [inv.sites[r].hostname(v.name) for r in radius_area(inv) for v in inv.sites[r].servers
             if "radius" in [x.value for x in v.roles]]
    assert len(hosts) == 4
    for host in hosts:
        raddb = installed(world, host, f"check-{host}")
        res = subprocess.run(["freeradius", "-C", "-d", str(raddb)], capture_output=True, text=True)
        assert res.returncode == 0, (host, res.stdout[-2000:], res.stderr[-2000:])


def test_freeradius_check_catches_a_missing_certificate(world) -> None:  # type: ignore[no-untyped-def]
    raddb = installed(world, HOST, "broken")
    (raddb / "certs" / "server.pem").unlink()
    res = subprocess.run(["freeradius", "-C", "-d", str(raddb)], capture_output=True, text=True)
    assert res.returncode != 0


def test_mab_accepts_inventory_macs_with_their_vlan(world, server) -> None:  # type: ignore[no-untyped-def]
    inv = world["inv"]
    served = radius_area(inv)[SITE]
    cams = [c for sid in served for c in inv.cameras_by_site[sid] if c.dot1x == "mab"]
    assert len(cams) >= 8
    by_switch: dict[str, list[str]] = {}
    for c in cams:
        by_switch.setdefault(inv.sites[c.site].hostname(c.switch or ""), []).append(c.mac)
    for sw_host, macs in by_switch.items():
        replies = mab(server, secret_of(world, sw_host), server["switches"][sw_host], macs)
        assert [r["result"] for r in replies] == ["accept"] * len(macs), replies
        for r in replies:
            # VLAN (13) over IEEE-802 (6), the camera VLAN of the plan
            assert 0 < r["ms"] < 1000, r
            assert r["attrs"] == {"Tunnel-Type": [13], "Tunnel-Medium-Type": [6], "Tunnel-Private-Group-Id": ["100"]}, r


def test_mab_rejects_unknown_neighbouring_and_eap_tls_macs(world, server) -> None:  # type: ignore[no-untyped-def]
    inv = world["inv"]
    known = inv.camera_index["ht-c01"].mac  # a mab camera
    last = int(known[-2:], 16)
    neighbours = [known[:-2] + f"{(last + d) % 256:02x}" for d in (1, -1)]
    eaptls_mac = inv.camera_index["ht-c02"].mac  # an eap-tls camera must not pass by MAB
    sw = "hang-trong-sw1"
    replies = mab(server, secret_of(world, sw), server["switches"][sw], ["02:de:ad:be:ef:01", *neighbours, eaptls_mac])
    assert [r["result"] for r in replies] == ["reject"] * 4, replies


def test_wrong_switch_secret_gets_no_accept(world, server) -> None:  # type: ignore[no-untyped-def]
    sw = "hang-trong-sw1"
    replies = mab(server, "not-the-secret", server["switches"][sw], [world["inv"].camera_index["ht-c01"].mac])
    assert replies[0]["result"] != "accept"


def eap_tls(world, server, tmp: Path, identity: str, cert: bytes, key: bytes,  # type: ignore[no-untyped-def]
            switch: str = "hang-trong-sw1") -> int:
    (tmp / f"{identity}.pem").write_bytes(cert)
    (tmp / f"{identity}.key").write_bytes(key)
    (tmp / "ca.pem").write_bytes(world["store"].public("root-ca.pem").read_bytes()
                                 + world["store"].public(f"sites/{SITE}/issuing-ca.pem").read_bytes())
    conf = tmp / f"{identity}.conf"
    conf.write_text(f'network={{\n\tkey_mgmt=IEEE8021X\n\teap=TLS\n\tidentity="{identity}"\n'
                    f'\tca_cert="{tmp / "ca.pem"}"\n\tclient_cert="{tmp / f"{identity}.pem"}"\n'
                    f'\tprivate_key="{tmp / f"{identity}.key"}"\n\teapol_flags=3\n}}\n')
    res = server["ns"].run(["eapol_test", "-c", str(conf), "-a", server["ip"], "-p", "1812",
                            "-s", secret_of(world, switch), "-A", server["switches"][switch], "-t", "10"],
                           check=False, timeout=30)
    return res.returncode


def camera_material(world, cam_id: str) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    cam = world["inv"].camera_index[cam_id]
    cert = world["store"].public(f"sites/{cam.site}/cameras/{cam_id}.pem").read_bytes()
    key = world["store"].doc(cam.site)["camera_keys"][cam_id].encode()
    return cert, key


def test_every_eap_tls_camera_authenticates(world, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inv = world["inv"]
    cams = [c for sid in radius_area(inv)[SITE] for c in inv.cameras_by_site[sid] if c.dot1x == "eap-tls"]
    assert len(cams) >= 5
    for cam in cams:
        cert, key = camera_material(world, cam.id)
        sw = inv.sites[cam.site].hostname(cam.switch or "")
        assert eap_tls(world, server, tmp_path, cam.id, cert, key, sw) == 0, cam.id


def test_identity_must_match_the_certificate(world, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cert, key = camera_material(world, "ht-c02")
    assert eap_tls(world, server, tmp_path, "ht-c03", cert, key) != 0


def test_foreign_ca_and_other_district_certificates_fail(world, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # a whole other PKI with a certificate for a real camera id
    inv, plan = world["inv"], world["plan"]
    rogue = Store.open(tmp_path / "rogue", b"other", create=True)
    Pki(inv, plan, rogue).ensure_all()
    cert = rogue.public("sites/hang-trong/cameras/ht-c02.pem").read_bytes()
    key = rogue.doc("hang-trong")["camera_keys"]["ht-c02"].encode()
    assert eap_tls(world, server, tmp_path, "ht-c02", cert, key) != 0
    # a genuine city certificate from another district's CA (transport department)
    cert, key = camera_material(world, "gt-c01")
    assert eap_tls(world, server, tmp_path, "gt-c01", cert, key) != 0


def test_rotated_certificate_is_revoked(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old_cert, old_key = camera_material(world, "hb-c01")
    pki = Pki(world["inv"], world["plan"], world["store"])
    pki.rotate_camera("hb-c01")
    world["store"].save()
    crl = x509.load_pem_x509_crl(world["store"].public(f"sites/{SITE}/issuing-ca.crl.pem").read_bytes())
    serial = x509.load_pem_x509_certificate(old_cert).serial_number
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    # a fresh server with the new CRL: the old certificate fails, the new one passes
    raddb = installed(world, HOST, "raddb-rotated")
    inv, plan = world["inv"], world["plan"]
    radius_ip = plan.assignments[(NetworkRole.servers, HOST)].ip
    sw_ip = plan.assignments[(NetworkRole.management, "hang-bac-sw1")].ip
    ns = Netns([radius_ip, sw_ip])
    log = open(raddb / "log" / "debug.log", "w")
    proc = subprocess.Popen(ns.cmd(["freeradius", "-X", "-d", str(raddb)]), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while "Ready to process requests" not in (raddb / "log" / "debug.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        srv = {"ns": ns, "ip": radius_ip, "switches": {"hang-bac-sw1": sw_ip}}
        assert eap_tls(world, srv, tmp_path, "hb-c01", old_cert, old_key, "hang-bac-sw1") != 0
        new_cert, new_key = camera_material(world, "hb-c01")
        assert new_cert != old_cert
        assert eap_tls(world, srv, tmp_path, "hb-c01", new_cert, new_key, "hang-bac-sw1") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)
        log.close()
        ns.delete()


def test_no_secret_reaches_the_build_tree(world) -> None:  # type: ignore[no-untyped-def]
    blobs = [p.read_bytes() for p in world["build"].rglob("*") if p.is_file()]
    store = world["store"]
    for sid in world["inv"].sites:
        doc = store.doc(sid)
        for secret in doc.get("switch_radius_secrets", {}).values():
            assert not any(secret.encode() in b for b in blobs)
        for pem in list(doc.get("camera_keys", {}).values())[:3] + list(doc.get("server_keys", {}).values()):
            body = pem.splitlines()[1].encode()
            assert not any(body in b for b in blobs)


def test_store_is_ansible_vault_and_reused(world) -> None:  # type: ignore[no-untyped-def]
    path = world["store"].root / f"{SITE}.vault.yml"
    assert path.read_bytes().startswith(f"$ANSIBLE_VAULT;1.2;AES256;{SITE}\n".encode())  # the site's own vault ID
    before = {p.name: p.read_bytes() for p in world["store"].root.glob("*.vault.yml")}
    again = Store.open(world["store"].root, PASSWORD)
    assert Pki(world["inv"], world["plan"], again).ensure_all() == []
    assert again.save() == []
    assert {p.name: p.read_bytes() for p in world["store"].root.glob("*.vault.yml")} == before
    with pytest.raises(Exception, match="cannot decrypt"):
        Store.open(world["store"].root, b"wrong").doc(SITE)


def test_a_failed_install_leaves_the_previous_one_and_no_partial_folder(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inv = world["inv"]
    host = next(h for h, (sid, _) in sorted(inv.hosts.items()) if sid == SITE and h.endswith("radius1"))
    rendered = world["build"] / "sites" / SITE / "radius" / host
    dest = tmp_path / "radius"
    install(inv, world["store"], rendered, host, dest)
    before = {str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()}
    assert (dest / "certs" / "server.key").exists() and before
    with pytest.raises(InventoryError, match="cannot decrypt"):  # the wrong vault password
        install(inv, Store.open(world["store"].root, b"wrong"), rendered, host, dest)
    assert {str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["radius"]  # no staging folder left behind
    with pytest.raises(InventoryError, match="no rendered RADIUS configuration"):
        install(inv, world["store"], tmp_path / "nowhere", host, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_wired_8021x_end_to_end(world, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """hostapd (driver=wired) is the switch port, wpa_supplicant the camera, over a veth pair."""
    need("hostapd", "wpa_supplicant", "hostapd_cli")
    tag = uuid.uuid4().hex[:6]
    cam_ns = Netns([])
    port, nic = f"swp{tag}", f"cam{tag}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(["ip", "link", "add", port, "netns", server["ns"].name, "type", "veth", "peer", "name", nic,
                        "netns", cam_ns.name], check=True)
        server["ns"].run(["ip", "link", "set", port, "up"])
        cam_ns.run(["ip", "link", "set", nic, "up"])
        sw = "hang-trong-sw1"

        def start_port(name: str) -> Path:
            ctrl = tmp_path / f"hostapd-{name}"
            conf = tmp_path / f"hostapd-{name}.conf"
            conf.write_text(
                f"interface={port}\ndriver=wired\nieee8021x=1\neap_reauth_period=0\nuse_pae_group_addr=1\n"
                f"ctrl_interface={ctrl}\nnas_identifier={sw}\nown_ip_addr={server['switches'][sw]}\n"
                f"radius_client_addr={server['switches'][sw]}\nauth_server_addr={server['ip']}\n"
                f"auth_server_port=1812\nauth_server_shared_secret={secret_of(world, sw)}\n")
            procs.append(subprocess.Popen(server["ns"].cmd(["hostapd", str(conf)]), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            return ctrl

        def camera(identity: str, cert: bytes, key: bytes) -> subprocess.Popen[bytes]:
            (tmp_path / "c.pem").write_bytes(cert)
            (tmp_path / "c.key").write_bytes(key)
            (tmp_path / "ca.pem").write_bytes(world["store"].public("root-ca.pem").read_bytes()
                                              + world["store"].public(f"sites/{SITE}/issuing-ca.pem").read_bytes())
            conf = tmp_path / "wpas.conf"
            conf.write_text(f'ap_scan=0\nnetwork={{\n\tkey_mgmt=IEEE8021X\n\teap=TLS\n\tidentity="{identity}"\n'
                            f'\tca_cert="{tmp_path / "ca.pem"}"\n\tclient_cert="{tmp_path / "c.pem"}"\n'
                            f'\tprivate_key="{tmp_path / "c.key"}"\n\teapol_flags=0\n}}\n')
            p = subprocess.Popen(cam_ns.cmd(["wpa_supplicant", "-D", "wired", "-i", nic, "-c", str(conf)]),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            return p

        def authorized(ctrl: Path, seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                res = server["ns"].run(["hostapd_cli", "-p", str(ctrl), "all_sta"], check=False)
                if "AUTHORIZED" in res.stdout:
                    return True
                time.sleep(0.2)
            return False

        # a camera with a certificate from another CA: the port stays unauthorized
        ctrl = start_port("rogue")
        rogue = Store.open(tmp_path / "rogue", b"other", create=True)
        Pki(world["inv"], world["plan"], rogue).ensure_all()
        p = camera("ht-c02", rogue.public("sites/hang-trong/cameras/ht-c02.pem").read_bytes(),
                   rogue.doc("hang-trong")["camera_keys"]["ht-c02"].encode())
        assert not authorized(ctrl, 6)
        for q in procs:
            q.terminate()
            q.wait(5)
        procs.clear()
        # the real camera certificate: the port becomes AUTHORIZED
        ctrl = start_port("real")
        camera("ht-c02", *camera_material(world, "ht-c02"))
        assert authorized(ctrl, 15)
    finally:
        for q in procs:
            q.terminate()
            try:
                q.wait(5)
            except subprocess.TimeoutExpired:
                q.kill()
        cam_ns.delete()
        server["ns"].run(["ip", "link", "delete", port], check=False)


def test_quarantine_vlan_for_unknown_devices(tmp_path: Path, inventory: Path) -> None:
    """With services.quarantine_vlan set, an unknown MAC is accepted into that VLAN instead of rejected."""
    from conftest import edit

    need("freeradius")
    edit(inventory / "city.yml", "radius_placement: tier2", "radius_placement: tier2\n  quarantine_vlan: 998")
    inv = pipeline.load(inventory)
    plan = pipeline.plan(inv)
    store = Store.open(tmp_path / "store", PASSWORD, create=True)
    Pki(inv, plan, store).ensure_all({SITE}, lambda c: False)
    store.save()
    pipeline.write(pipeline.render(inv, plan, ["radius"], SITE), tmp_path / "build")
    world = {"inv": inv, "plan": plan, "store": store, "build": tmp_path / "build", "tmp": tmp_path}
    raddb = installed(world, HOST, "raddb-q")
    radius_ip = plan.assignments[(NetworkRole.servers, HOST)].ip
    sw_ip = plan.assignments[(NetworkRole.management, "hang-trong-sw1")].ip
    ns = Netns([radius_ip, sw_ip])
    log = open(raddb / "log" / "debug.log", "w")
    proc = subprocess.Popen(ns.cmd(["freeradius", "-X", "-d", str(raddb)]), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while "Ready to process requests" not in (raddb / "log" / "debug.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        srv = {"ns": ns, "ip": radius_ip}
        known = inv.camera_index["ht-c01"].mac
        replies = mab(srv, secret_of(world, "hang-trong-sw1"), sw_ip, ["02:de:ad:be:ef:01", known])
        assert [r["result"] for r in replies] == ["accept", "accept"]
        assert replies[0]["attrs"]["Tunnel-Private-Group-Id"] == ["998"]
        assert replies[1]["attrs"]["Tunnel-Private-Group-Id"] == ["100"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)
        log.close()
        ns.delete()


def test_a_mab_camera_is_accepted_only_from_its_own_switch(world, server) -> None:  # type: ignore[no-untyped-def]
    """Issue 16 (2): a MAC is no secret. hk-c01's MAC sent by another switch the same server serves (shown live
    before this: Access-Accept, camera VLAN 100) gets the unknown-device answer: quarantine VLAN, or reject."""
    inv = world["inv"]
    cam = inv.camera_index["hk-c01"]
    own, other = inv.sites[cam.site].hostname(cam.switch or ""), "trang-tien-sw1"
    assert own != other and other in server["switches"]
    [mine] = mab(server, secret_of(world, own), server["switches"][own], [cam.mac])
    assert mine["result"] == "accept" and mine["attrs"]["Tunnel-Private-Group-Id"] == ["100"], mine
    [moved] = mab(server, secret_of(world, other), server["switches"][other], [cam.mac])
    quarantine = inv.city.services.quarantine_vlan
    if quarantine:
        assert moved["result"] == "accept" and moved["attrs"]["Tunnel-Private-Group-Id"] == [str(quarantine)], moved
    else:
        assert moved["result"] == "reject", moved
