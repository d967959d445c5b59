"""The flow matrix and its nftables rendering, checked by the real `nft -c` in a throwaway netns."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from netaddr import IPAddress, IPNetwork

from camkit import pipeline
from camkit.access import AccessModel
from camkit.flows import FlowMatrix
from camkit.model import NetworkRole

from conftest import EXAMPLE, HANOI


@pytest.fixture(scope="module")
def example():  # type: ignore[no-untyped-def]
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    return inv, plan, FlowMatrix(inv, plan, AccessModel(inv))


def in_subnet(addr: str, inv, plan, role: NetworkRole) -> str | None:  # type: ignore[no-untyped-def]
    ip = IPNetwork(addr)
    for (sid, r), sub in plan.subnets.items():
        if r is role and ip in sub.cidr:
            return sid
    return None


def test_cameras_reach_only_time_and_log_servers(example) -> None:  # type: ignore[no-untyped-def]
    inv, plan, m = example
    from_cams = {(f.dst.group, f.proto, f.ports) for f in m.flows if f.src.group == "cameras"}
    assert from_cams == {("ntp", "udp", "123"), ("syslog", "udp", "514")}


def test_nobody_but_recorders_and_management_reaches_cameras(example) -> None:  # type: ignore[no-untyped-def]
    _, _, m = example
    for f in m.flows:
        if f.dst.group == "cameras":
            assert f.src.group in {"recorders", "management"}, f
            assert f.src.site == f.dst.site, f  # never across sites: other units go through the VMS relay


def test_operators_never_reach_cameras_directly(example) -> None:  # type: ignore[no-untyped-def]
    _, plan, m = example
    assert not [f for f in m.flows if f.src.group == "operators" and f.dst.group == "cameras"]
    # they reach their own site's published service addresses only (never a node, never another site)
    ops = [f for f in m.flows if f.src.group == "operators"]
    assert {f.dst.group for f in ops} == {"vms", "ingress"}
    assert all(f.src.site == f.dst.site for f in ops)
    assert all(set(f.dst.addresses) <= set(plan.services(f.dst.site).values()) for f in ops)


def test_switches_reach_their_radius_server(example) -> None:  # type: ignore[no-untyped-def]
    _, _, m = example
    radius = {f.src.site: f.dst.site for f in m.flows if f.dst.group == "radius"}
    assert radius == {"ioc": "ioc", "police": "police", "hoan-kiem": "hoan-kiem", "so-gtvt": "so-gtvt",
                      "hang-bac": "hoan-kiem", "hang-trong": "hoan-kiem", "trang-tien": "hoan-kiem"}


def test_relays_follow_the_access_model(example) -> None:  # type: ignore[no-untyped-def]
    _, _, m = example
    relays = {(f.src.site, f.dst.site) for f in m.flows if f.ports == "8322" and f.src.group == "recorders"}
    assert ("hoan-kiem", "hang-trong") in relays      # parent pulls its ward
    assert ("so-gtvt", "hang-trong") in relays        # traffic sector + share
    assert ("so-gtvt", "hang-bac") in relays          # traffic sector (hb-c04)
    assert ("hang-trong", "hang-bac") not in relays   # wards never see each other
    assert ("hoan-kiem", "police") not in relays      # police cameras stay with the police
    assert ("ioc", "police") in relays                # ... except for the IOC under the police rule


def test_private_system_reaches_only_its_parent_recorder(example) -> None:  # type: ignore[no-untyped-def]
    _, _, m = example
    out = [f for f in m.flows if f.src.site == "toa-nha-hang-bac" and f.dst.site != "toa-nha-hang-bac"
           and not f.via_uplink]
    # its parent VMS's published address (the push), the city SSO's ingress (its recorder's publish token)
    assert sorted((f.dst.name, f.ports) for f in out) == [("hang-bac:vms", "8322"), ("ioc:ingress", "443")]
    # and the tunnel carrying them: from the Internet to its hub gateway, on the hub's uplink only
    [tunnel] = [f for f in m.flows if f.src.site == "toa-nha-hang-bac" and f.via_uplink]
    assert (tunnel.src.addresses, tunnel.dst.name, tunnel.proto, tunnel.ports) == (
        ("0.0.0.0/0",), "hoan-kiem:wireguard-hub-gw1", "udp", "51820")
    assert all(tunnel not in flows for flows in m.by_gateway_site.values())  # for the hub itself, never forwarded
    into = [f for f in m.flows if f.dst.site == "toa-nha-hang-bac" and f.src.site != "toa-nha-hang-bac"]
    assert into == []


def test_flow_ids_are_stable_and_unique(example) -> None:  # type: ignore[no-untyped-def]
    _, _, m = example
    ids = [f.id for f in m.flows]
    assert len(ids) == len(set(ids))
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    again = FlowMatrix(inv, plan, AccessModel(inv))
    assert [f.id for f in again.flows] == ids


def test_gateway_sees_flows_that_cross_it(example) -> None:  # type: ignore[no-untyped-def]
    _, _, m = example
    hk = m.by_gateway_site["hoan-kiem"]
    assert any(f.src.site == "ioc" and f.dst.site == "hang-trong" for f in hk)   # IOC -> ward passes the district
    assert not any(f.src.site == "police" and f.dst.site == "so-gtvt" for f in hk)
    assert not any(f.l2_local for f in hk)


def _nft_check(path: Path) -> subprocess.CompletedProcess[str]:
    nft = shutil.which("nft")
    assert nft, "nftables is not installed (`.ci/run` installs it)"
    return subprocess.run(["unshare", "-n", nft, "-c", "-f", str(path)], capture_output=True, text=True)


def test_every_example_ruleset_passes_nft_check(tmp_path: Path) -> None:
    inv = pipeline.load(EXAMPLE)
    result = pipeline.render(inv, pipeline.plan(inv), ["nftables"])
    paths = []
    for rel, (_, art) in result.artifacts.items():
        p = tmp_path / rel.replace("/", "_")
        p.write_bytes(art.content)
        paths.append(p)
    assert len(paths) == sum(len(s.servers) for s in inv.sites.values())
    failures = {p.name: r.stderr for p in paths if (r := _nft_check(p)).returncode != 0}
    assert not failures


def test_nft_check_catches_a_broken_ruleset(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nft"
    bad.write_text("table inet camkit {\n\tchain input {\n\t\tip saddr @nosuchset accept\n\t}\n}\n")
    res = _nft_check(bad)
    assert res.returncode != 0 and "nosuchset" in res.stderr


def test_gateway_ruleset_has_drop_policies_and_logging(example) -> None:  # type: ignore[no-untyped-def]
    inv, plan, _ = example
    result = pipeline.render(inv, plan, ["nftables"], "hoan-kiem")
    text = result.artifacts["sites/hoan-kiem/nftables/hoan-kiem-gw1.nft"][1].content.decode()
    assert "type filter hook input priority filter; policy drop;" in text
    assert "type filter hook forward priority filter; policy drop;" in text
    assert 'log prefix "camkit hoan-kiem fwd drop: "' in text
    assert "ip saddr @hang_trong_switches ip daddr @hoan_kiem_radius udp dport 1812-1813 counter accept" in text
    assert "10.42.0.0/16" not in text  # the gateway is no Kubernetes node


@pytest.mark.slow
def test_hanoi_biggest_gateway_ruleset_passes_nft_check(tmp_path: Path) -> None:
    inv = pipeline.load(HANOI)
    plan = pipeline.plan(inv)
    result = pipeline.render(inv, plan, ["nftables"], "ioc")
    for rel, (_, art) in result.artifacts.items():
        if rel.endswith("ioc-gw1.nft"):
            p = tmp_path / "ioc-gw1.nft"
            p.write_bytes(art.content)
            res = _nft_check(p)
            assert res.returncode == 0, res.stderr[:2000]
            assert art.content.count(b" counter accept ") > 1000
            return
    raise AssertionError("no IOC gateway ruleset rendered")


def test_private_system_paths_go_through_the_tunnel_hub(example) -> None:  # type: ignore[no-untyped-def]
    _, _, m = example
    assert m.path("toa-nha-hang-bac", "toa-nha-hang-bac") == ["toa-nha-hang-bac"]
    assert m.path("toa-nha-hang-bac", "hang-bac") == ["toa-nha-hang-bac", "hoan-kiem", "hang-bac"]
    assert m.path("hang-trong", "hang-bac") == ["hang-trong", "hoan-kiem", "hang-bac"]
    assert m.path("police", "hang-trong") == ["police", "ioc", "hoan-kiem", "hang-trong"]
