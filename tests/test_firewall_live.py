"""The district gateway ruleset, live: zones as podman networks, hosts as containers, and the
generated nftables ruleset loaded in a router container. Every matrix flow that crosses the gateway
between the emulated zones connects; flows that are not in the matrix time out.

Emulated: every subnet of the district hoan-kiem and its ward hang-trong, the servers subnet of the
ward hang-bac, the servers and management subnets of the IOC (shared services, central management),
and the servers subnet of the private system toa-nha-hang-bac (its tunnel ends on this gateway).
The ward's own uplink router is not emulated: its subnets hang directly off the district gateway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from netaddr import IPAddress, IPNetwork

import camkit.probes.tcp as tcp_probe
from camkit import pipeline
from camkit.access import AccessModel
from camkit.flows import Endpoint, Flow, FlowMatrix
from camkit.model import NetworkRole
from camkit.rig import Rig, ensure_image

from conftest import EXAMPLE

GATEWAY_SITE, GATEWAY = "hoan-kiem", "hoan-kiem-gw1"
ZONES = {
    "hoan-kiem": list(NetworkRole),
    "hang-trong": list(NetworkRole),
    "hang-bac": [NetworkRole.servers],
    "ioc": [NetworkRole.servers, NetworkRole.management],
    "toa-nha-hang-bac": [NetworkRole.servers],
}


def representative(ep: Endpoint, inv, plan, nets: dict[str, IPNetwork]) -> str | None:  # type: ignore[no-untyped-def]
    """One concrete address of an endpoint that lies in an emulated network."""
    for addr in ep.addresses:
        net = IPNetwork(addr)
        if net.size == 1:
            if any(net.ip in n for n in nets.values()):
                return str(net.ip)
            continue
        if not any(net in n for n in nets.values()):
            continue
        taken = sorted(IPAddress(a.ip) for a in plan.assignments.values()
                       if a.kind != "gateway" and IPAddress(a.ip) in net)
        if taken:
            return str(taken[0])
        return str(IPAddress(net.first + inv.city.addressing.reserved_head + 1))
    return None


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:  # type: ignore[type-arg]
    ensure_image()
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    matrix = FlowMatrix(inv, plan, AccessModel(inv))
    ruleset = pipeline.render(inv, plan, ["nftables"], GATEWAY_SITE).artifacts[
        f"sites/{GATEWAY_SITE}/nftables/{GATEWAY}.nft"][1].content
    subnets = {(sid, role): plan.subnets[(sid, role)] for sid, roles in ZONES.items() for role in roles
               if (sid, role) in plan.subnets}
    nets = {f"{sid}-{role.value}": sub.cidr for (sid, role), sub in subnets.items()}
    flows = [f for f in matrix.by_gateway_site[GATEWAY_SITE] if f.proto in ("tcp", "udp")]
    chosen: list[tuple[Flow, str, str]] = []
    for f in flows:
        src, dst = representative(f.src, inv, plan, nets), representative(f.dst, inv, plan, nets)
        if src and dst and src != dst:
            chosen.append((f, src, dst))
    addresses = sorted({a for _, s, d in chosen for a in (s, d)} | set(NEGATIVE_HOSTS(inv, plan).values()),
                       key=lambda a: IPAddress(a))
    r = Rig()
    tmp = tmp_path_factory.mktemp("fw")
    try:
        router_links = []
        netname = {}
        for key, sub in subnets.items():
            used = {IPAddress(a.ip) for a in plan.assignments.values() if IPAddress(a.ip) in sub.cidr}
            bridge = next(IPAddress(n) for n in range(sub.cidr.last - 1, sub.cidr.first, -1)
                          if IPAddress(n) not in used and IPAddress(n) != sub.gateway and str(IPAddress(n)) not in addresses)
            name = r.network(f"{key[0]}-{key[1].value}", str(sub.cidr), str(bridge))
            netname[key] = name
            router_links.append((name, str(sub.gateway)))
        router = r.container("gw", router_links, router=True)
        (tmp / "ruleset.nft").write_bytes(ruleset)
        r.copy(tmp / "ruleset.nft", router, "/tmp/ruleset.nft")
        r.exec(router, "nft", "-f", "/tmp/ruleset.nft")
        hosts: dict[str, str] = {}
        for addr in addresses:
            key = next(k for k, sub in subnets.items() if IPAddress(addr) in sub.cidr)
            c = r.container(f"h{addr.replace('.', '-')}", [(netname[key], addr)])
            r.exec(c, "ip", "route", "replace", "default", "via", str(subnets[key].gateway))
            r.copy(Path(tcp_probe.__file__), c, "/tmp/probe.py")
            hosts[addr] = c
        listeners = set()
        for f, _, dst in chosen:
            port = f.ports.split(",")[0].split("-")[0]
            if (dst, f.proto, port) in listeners:
                continue
            listeners.add((dst, f.proto, port))
            mode = "listen" if f.proto == "tcp" else "udp-listen"
            r.spawn(hosts[dst], "python3", "/tmp/probe.py", mode, dst, port, "600")
        for dst, port in NEGATIVE_LISTENERS(inv, plan):
            if (dst, "tcp", port) not in listeners:
                r.spawn(hosts[dst], "python3", "/tmp/probe.py", "listen", dst, port, "600")
        import time

        time.sleep(1.0)  # listeners bind
        yield {"rig": r, "hosts": hosts, "chosen": chosen, "router": router, "inv": inv, "plan": plan}
    finally:
        r.down()


def NEGATIVE_HOSTS(inv, plan) -> dict[str, str]:  # type: ignore[no-untyped-def]  # noqa: N802
    a = plan.assignments
    return {
        "ward_camera": a[(NetworkRole.cameras, "ht-c01")].ip,
        "district_camera": a[(NetworkRole.cameras, "hk-c04")].ip,
        "district_operator": str(IPAddress(plan.subnets[("hoan-kiem", NetworkRole.operators)].cidr.first + 4)),
        "ward_recorder": a[(NetworkRole.servers, "hang-trong-edge1")].ip,
        "other_ward_recorder": a[(NetworkRole.servers, "hang-bac-edge1")].ip,
        "private_nvr": a[(NetworkRole.servers, "toa-nha-hang-bac-nvr1")].ip,
        "district_server": a[(NetworkRole.servers, "hoan-kiem-node1")].ip,
    }


def NEGATIVES(inv, plan) -> list[tuple[str, str, str, str]]:  # type: ignore[no-untyped-def]  # noqa: N802
    h = NEGATIVE_HOSTS(inv, plan)
    return [
        ("camera to a camera of another site", h["ward_camera"], h["district_camera"], "554"),
        ("camera to an operator", h["district_camera"], h["district_operator"], "443"),
        ("operator straight to a camera", h["district_operator"], h["district_camera"], "554"),
        ("ward to another ward", h["ward_recorder"], h["other_ward_recorder"], "8322"),
        ("another ward to the ward", h["other_ward_recorder"], h["ward_recorder"], "8322"),
        ("private system to district servers", h["private_nvr"], h["district_server"], "22"),
        ("ward camera to the district cluster API", h["ward_camera"], h["district_server"], "6443"),
    ]


def NEGATIVE_LISTENERS(inv, plan) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]  # noqa: N802
    return [(dst, port) for _, _, dst, port in NEGATIVES(inv, plan)]


def run_probe(rig: dict, src: str, dst: str, proto: str, port: str) -> str:  # type: ignore[type-arg]
    mode = "connect" if proto == "tcp" else "udp-send"
    return rig["rig"].exec(rig["hosts"][src], "python3", "/tmp/probe.py", mode, dst, port).stdout.strip()


def test_every_matrix_flow_across_the_gateway_connects(rig: dict) -> None:  # type: ignore[type-arg]
    assert len(rig["chosen"]) >= 20
    results = []
    for f, src, dst in rig["chosen"]:
        port = f.ports.split(",")[0].split("-")[0]
        results.append((f, src, dst, run_probe(rig, src, dst, f.proto, port)))
    failed = [(f.id, f.src.name, f.dst.name, f.proto, f.ports, out) for f, _, _, out in results if out != "ok"]
    print(f"\nmatrix flows through {GATEWAY}: {len(results) - len(failed)} passed, {len(failed)} failed")
    assert not failed


def test_flows_outside_the_matrix_time_out(rig: dict) -> None:  # type: ignore[type-arg]
    outcomes = [(what, run_probe(rig, src, dst, "tcp", port)) for what, src, dst, port in
                NEGATIVES(rig["inv"], rig["plan"])]
    print(f"\nflows outside the matrix: {sum(o.startswith('fail:Timeout') for _, o in outcomes)} blocked of "
          f"{len(outcomes)}")
    assert all(o.startswith("fail:TimeoutError") for _, o in outcomes), outcomes


def test_drops_are_counted_and_logged(rig: dict) -> None:  # type: ignore[type-arg]
    out = rig["rig"].exec(rig["router"], "nft", "list", "chain", "inet", "camkit", "forward").stdout
    drop = [line for line in out.splitlines() if line.strip().startswith("counter") and "drop" in line]
    assert drop and "packets 0 " not in drop[-1], drop
    assert 'log prefix "camkit hoan-kiem fwd drop: "' in out


def test_listeners_really_answer(rig: dict) -> None:  # type: ignore[type-arg]
    # a negative result must come from the gateway, not from a dead listener: reach one directly
    h = NEGATIVE_HOSTS(rig["inv"], rig["plan"])
    out = rig["rig"].exec(rig["hosts"][h["district_camera"]], "python3", "/tmp/probe.py", "connect",
                          h["district_camera"], "554").stdout.strip()
    assert out == "ok"

