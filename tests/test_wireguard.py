"""WireGuard tunnel of a private system, live with wireguard-go between two network namespaces."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from camkit import pipeline
from camkit.secrets import Store
from camkit.wireguard import ensure_keys, fill, tunnels

from conftest import EXAMPLE

UNDERLAY_HUB, UNDERLAY_SPOKE = "198.18.0.1", "198.18.0.2"  # benchmarking range, only inside the test namespaces


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def tunnel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:  # type: ignore[type-arg]
    for tool in ("wireguard-go", "wg", "ip"):
        assert shutil.which(tool), f"{tool} is not installed (`.ci/run` installs it)"
    tmp = tmp_path_factory.mktemp("wg")
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    store = Store.open(tmp / "store", b"pw", create=True)
    ensure_keys(inv, plan, store)
    store.save()
    (t,) = tunnels(inv, plan)
    result = pipeline.render(inv, plan, ["wireguard"])
    files = {rel.split("/")[-1]: art.content.decode() for rel, (_, art) in result.artifacts.items()}
    tag = uuid.uuid4().hex[:6]
    ns = {"hub": f"camkit-wgh-{tag}", "spoke": f"camkit-wgs-{tag}"}
    ifs = {"hub": f"wgh{tag}", "spoke": f"wgs{tag}"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in ns.values():
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"vh{tag}", "netns", ns["hub"], "type", "veth", "peer", "name", f"vs{tag}",
           "netns", ns["spoke"])
        for side, (addr, dev) in {"hub": (UNDERLAY_HUB, f"vh{tag}"), "spoke": (UNDERLAY_SPOKE, f"vs{tag}")}.items():
            sh("ip", "-n", ns[side], "addr", "add", f"{addr}/24", "dev", dev)
            sh("ip", "-n", ns[side], "link", "set", dev, "up")
        for side, host in (("hub", t.hub), ("spoke", t.spoke)):
            procs.append(subprocess.Popen(["ip", "netns", "exec", ns[side], "wireguard-go", "-f", ifs[side]],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            conf = tmp / f"{side}.conf"
            # the example's public endpoint (.invalid) does not resolve here: the underlay address is set below
            text = fill(files[f"{host}.conf"], inv, store, host)
            conf.write_text("".join(line for line in text.splitlines(True) if not line.startswith("Endpoint = ")))
            deadline = time.monotonic() + 5
            while sh("wg", "show", ifs[side], check=False).returncode != 0:
                assert time.monotonic() < deadline, "wireguard-go did not come up"
                time.sleep(0.05)
            sh("wg", "setconf", ifs[side], str(conf))
            meta = json.loads(files[f"{host}.json"])
            for addr in meta.get("addresses", [meta.get("address")]):
                sh("ip", "-n", ns[side], "addr", "add", addr, "dev", ifs[side])
            sh("ip", "-n", ns[side], "link", "set", ifs[side], "up")
            for route in meta["routes"]:
                sh("ip", "-n", ns[side], "route", "add", route, "dev", ifs[side])
        hub_pub = store.public(f"wireguard/{t.hub}.pub").read_text().strip()
        sh("wg", "set", ifs["spoke"], "peer", hub_pub, "endpoint", f"{UNDERLAY_HUB}:51820")
        # the parent's recorder and a district address that is not allowed, behind the hub
        recorder = t.spoke_allowed[1].split("/")[0]
        sh("ip", "-n", ns["hub"], "addr", "add", f"{recorder}/32", "dev", "lo")
        sh("ip", "-n", ns["hub"], "addr", "add", "10.0.0.33/32", "dev", "lo")
        for port in (8322, 22):
            for addr in (recorder, "10.0.0.33"):
                p = subprocess.Popen(["ip", "netns", "exec", ns["hub"], sys.executable, "-m", "camkit.probes.tcp",
                                      "listen", addr, str(port), "40"], stdout=subprocess.PIPE)
                assert p.stdout is not None and p.stdout.readline().strip() == b"listening"
                procs.append(p)
        state = {"t": t, "ns": ns, "ifs": ifs, "recorder": recorder, "tag": tag}
        # the first packet triggers the handshake (~1 s with wireguard-go); wait for it, bounded
        deadline = time.monotonic() + 10
        while int((sh("wg", "show", ifs["hub"], "latest-handshakes").stdout.split() or ["", "0"])[1]) == 0:
            assert time.monotonic() < deadline, "no WireGuard handshake within 10 s"
            probe(state, recorder, 8322)
        yield state
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for n in ns.values():
            subprocess.run(["ip", "netns", "delete", n], check=False)


def probe(tunnel: dict, addr: str, port: int, src: str | None = None) -> str:  # type: ignore[type-arg]
    args = ["ip", "netns", "exec", tunnel["ns"]["spoke"], sys.executable, "-m", "camkit.probes.tcp", "connect", addr,
            str(port)] + ([src] if src else [])
    return sh(*args).stdout.strip()


def test_handshake_and_traffic_to_the_parent_recorder(tunnel: dict) -> None:  # type: ignore[type-arg]
    assert probe(tunnel, tunnel["recorder"], 8322) == "ok"
    hs = sh("wg", "show", tunnel["ifs"]["hub"], "latest-handshakes").stdout.split()
    assert len(hs) == 2 and int(hs[1]) > 0


def test_spoke_cannot_send_outside_its_allowed_ips(tunnel: dict) -> None:  # type: ignore[type-arg]
    # even with a route, the spoke's WireGuard refuses destinations outside AllowedIPs
    sh("ip", "-n", tunnel["ns"]["spoke"], "route", "add", "10.0.0.33/32", "dev", tunnel["ifs"]["spoke"])
    assert probe(tunnel, "10.0.0.33", 22).startswith("fail:")


def test_hub_drops_sources_outside_the_private_site(tunnel: dict) -> None:  # type: ignore[type-arg]
    spoke = tunnel["ns"]["spoke"]
    sh("ip", "-n", spoke, "addr", "add", "10.9.9.9/32", "dev", "lo")
    assert probe(tunnel, tunnel["recorder"], 8322, "10.9.9.9").startswith("fail:")
    # a source inside the private site's subnets passes
    own = tunnel["t"].hub_allowed[1].split("/")[0]
    inside = own.rsplit(".", 1)[0] + "." + str(int(own.rsplit(".", 1)[1]) + 4)
    sh("ip", "-n", spoke, "addr", "add", f"{inside}/32", "dev", "lo")
    assert probe(tunnel, tunnel["recorder"], 8322, inside) == "ok"


def _handshake_through_hub_firewall(tmp: Path, hub_nic: str, ruleset: str) -> bool:
    """A fresh hub and spoke (wireguard-go) joined by a veth whose hub end is called `hub_nic`, the hub's rendered
    nftables ruleset loaded in the hub's namespace: does the spoke's handshake complete within 6 s?"""
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    store = Store.open(tmp / "store", b"pw", create=True)
    ensure_keys(inv, plan, store)
    (t,) = tunnels(inv, plan)
    files = {rel.split("/")[-1]: art.content.decode()
             for rel, (_, art) in pipeline.render(inv, plan, ["wireguard"]).artifacts.items()}
    tag = uuid.uuid4().hex[:6]
    ns = {"hub": f"camkit-wfh-{tag}", "spoke": f"camkit-wfs-{tag}"}
    ifs = {"hub": f"wfh{tag}", "spoke": f"wfs{tag}"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in ns.values():
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"h{tag}", "netns", ns["hub"], "type", "veth", "peer", "name", f"s{tag}",
           "netns", ns["spoke"])
        sh("ip", "-n", ns["hub"], "link", "set", f"h{tag}", "name", hub_nic)
        for side, (addr, dev) in {"hub": (UNDERLAY_HUB, hub_nic), "spoke": (UNDERLAY_SPOKE, f"s{tag}")}.items():
            sh("ip", "-n", ns[side], "addr", "add", f"{addr}/24", "dev", dev)
            sh("ip", "-n", ns[side], "link", "set", dev, "up")
        (tmp / "hub.nft").write_text(ruleset)
        sh("ip", "netns", "exec", ns["hub"], "nft", "-f", str(tmp / "hub.nft"))
        for side, host in (("hub", t.hub), ("spoke", t.spoke)):
            procs.append(subprocess.Popen(["ip", "netns", "exec", ns[side], "wireguard-go", "-f", ifs[side]],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            deadline = time.monotonic() + 5
            while sh("wg", "show", ifs[side], check=False).returncode != 0:
                assert time.monotonic() < deadline, "wireguard-go did not come up"
                time.sleep(0.05)
            text = fill(files[f"{host}.conf"], inv, store, host)
            (tmp / f"{side}.conf").write_text("".join(line for line in text.splitlines(True)
                                                      if not line.startswith("Endpoint = ")))
            sh("wg", "setconf", ifs[side], str(tmp / f"{side}.conf"))
            sh("ip", "-n", ns[side], "link", "set", ifs[side], "up")
        hub_pub = store.public(f"wireguard/{t.hub}.pub").read_text().strip()
        sh("wg", "set", ifs["spoke"], "peer", hub_pub, "endpoint", f"{UNDERLAY_HUB}:51820", "persistent-keepalive", "1")
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            hs = sh("wg", "show", ifs["hub"], "latest-handshakes").stdout.split()
            if len(hs) == 2 and int(hs[1]) > 0:
                return True
            time.sleep(0.2)
        return False
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for n in ns.values():
            subprocess.run(["ip", "netns", "delete", n], check=False)


def test_the_hub_firewall_lets_tunnels_in_on_its_uplink_only(tmp_path: Path) -> None:
    """Issue 16 (6): the hub's generated input chain accepts the spokes' WireGuard packets on its uplink NIC (the
    Internet side), and nowhere else; before the flow existed it dropped them."""
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    (t,) = tunnels(inv, plan)
    site = inv.sites[t.hub_site]
    hub = next(s for s in site.servers if site.hostname(s.name) == t.hub)
    uplink = hub.uplink_nic
    ruleset = pipeline.render(inv, plan, ["nftables"], t.hub_site).artifacts[
        f"sites/{t.hub_site}/nftables/{t.hub}.nft"][1].content.decode()
    assert uplink and f'iifname "{uplink}" udp dport 51820' in ruleset
    assert _handshake_through_hub_firewall(tmp_path / "uplink", uplink, ruleset)
    lan = next(n for n in hub.nics if n != uplink)
    assert not _handshake_through_hub_firewall(tmp_path / "lan", lan, ruleset), "accepted on a site NIC"
    before = "".join(line for line in ruleset.splitlines(True) if "udp dport 51820" not in line)
    assert not _handshake_through_hub_firewall(tmp_path / "before", uplink, before), "the control let it in"
