"""The IP plan: complete, non-overlapping, hierarchical, and stable through the lock file."""

from __future__ import annotations

from pathlib import Path

import pytest
from netaddr import IPAddress, IPNetwork, IPSet

from camkit import pipeline
from camkit.diagnostics import InventoryError
from camkit.ipplan import block_prefix, prefix_for
from camkit.model import NetworkRole

from conftest import EXAMPLE, append_row, camera, edit


@pytest.fixture(scope="module")
def example():  # type: ignore[no-untyped-def]
    inv = pipeline.load(EXAMPLE)
    return inv, pipeline.plan(inv)


def test_every_camera_and_server_has_an_address_in_its_subnet(example) -> None:  # type: ignore[no-untyped-def]
    inv, plan = example
    for cam in inv.cameras:
        a = plan.assignments[(NetworkRole.cameras, cam.id)]
        sub = plan.subnets[(cam.site, NetworkRole.cameras)]
        assert IPAddress(a.ip) in sub.cidr and a.vlan == inv.city.networks.cameras.vlan
        assert a.gateway == str(sub.gateway) and a.ip != a.gateway
    for sid, site in inv.sites.items():
        for server in site.servers:
            roles = {a.role for a in plan.for_host(site.hostname(server.name)) if a.kind == "server"}
            assert {NetworkRole.servers, NetworkRole.management} <= roles


def test_addresses_are_unique_and_avoid_gateway_and_vrrp(example) -> None:  # type: ignore[no-untyped-def]
    inv, plan = example
    ips = [a.ip for a in plan.assignments.values() if a.kind != "gateway"]
    assert len(ips) == len(set(ips))
    head = inv.city.addressing.reserved_head
    for a in plan.assignments.values():
        if a.kind != "gateway":
            sub = plan.subnets[(a.site, a.role)]
            assert int(IPAddress(a.ip)) - sub.cidr.first > head


def test_subnets_do_not_overlap_and_sit_in_their_site_block(example) -> None:  # type: ignore[no-untyped-def]
    inv, plan = example
    seen = IPSet()
    for sub in plan.subnets.values():
        assert not (seen & IPSet([sub.cidr])), sub
        seen.add(sub.cidr)
        if not sub.pinned:
            assert sub.cidr in plan.blocks[sub.site]
    for sid, site in inv.sites.items():
        if site.tier == 3:
            assert plan.blocks[sid] in plan.blocks[inv.tier2_of(sid)], sid


def test_kubernetes_and_reserved_ranges_never_collide(example) -> None:  # type: ignore[no-untyped-def]
    inv, plan = example
    used = IPSet([s.cidr for s in plan.subnets.values()]) | IPSet(plan.blocks.values())
    for cidr in (inv.city.kubernetes.pod_cidr, inv.city.kubernetes.service_cidr, *[r.cidr for r in inv.city.reserved]):
        assert not (used & IPSet([IPNetwork(cidr)])), cidr


def test_transit_links_are_31s_for_every_child_site(example) -> None:  # type: ignore[no-untyped-def]
    inv, plan = example
    children = [sid for sid, s in inv.sites.items() if s.parent]
    assert sorted(plan.transit) == sorted(children)
    assert all(n.prefixlen == 31 for n in plan.transit.values())
    assert len({str(n) for n in plan.transit.values()}) == len(children)


def test_pinned_subnet_and_legacy_camera_addresses_are_kept(example) -> None:  # type: ignore[no-untyped-def]
    _, plan = example
    sub = plan.subnets[("hoan-kiem", NetworkRole.cameras)]
    assert str(sub.cidr) == "10.20.0.0/24" and sub.pinned
    assert plan.camera_ip("hk-c01") == "10.20.0.11"


@pytest.mark.parametrize("hosts, headroom, head, minp, want", [
    (0, 0, 3, 29, 29),       # the smallest subnet handed out
    (3, 0, 3, 29, 29),       # 3 + 3 + 2 = 8 addresses
    (4, 0, 3, 29, 28),       # 9 addresses
    (200, 25, 3, 29, 24),    # 250 + 5 = 255
    (201, 25, 3, 29, 23),    # 252 + 5 = 257
    (10000, 50, 3, 29, 18),  # 15005 addresses
])
def test_prefix_sizing(hosts: int, headroom: int, head: int, minp: int, want: int) -> None:
    assert prefix_for(hosts, headroom, head, minp) == want


def test_block_prefix_with_growth() -> None:
    assert block_prefix([256, 64, 32], 0) == 23
    assert block_prefix([256, 256], 0) == 23
    assert block_prefix([256, 256], 100) == 22


def _snapshot(inv_root: Path) -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
    inv = pipeline.load(inv_root)
    plan = pipeline.plan(inv)
    pipeline.write_lock(inv, plan)
    return ({k: str(v) for k, v in plan.blocks.items()},
            {k: str(v.cidr) for k, v in plan.subnets.items()},
            {k: a.ip for k, a in plan.assignments.items()})


def test_adding_a_site_changes_nothing_else(inventory: Path) -> None:
    blocks, subnets, addrs = _snapshot(inventory)
    (inventory / "sites" / "cua-nam.yml").write_text(
        "id: cua-nam\nname: \"Phường Cửa Nam\"\nkind: ward\nparent: hoan-kiem\norganisation: \"UBND Phường Cửa Nam\"\n"
        "location: {lat: 21.0260, lon: 105.8430}\nswitches:\n  - {id: sw1, ports: 24}\n", "utf-8")
    (inventory / "cameras" / "cua-nam.csv").write_text(
        (inventory / "cameras" / "hang-bac.csv").read_text("utf-8").splitlines()[0] + "\n", "utf-8")
    append_row(inventory / "cameras" / "cua-nam.csv", camera(mac="02:ee:00:00:00:07", port="3"))
    b2, s2, a2 = _snapshot(inventory)
    assert {k: v for k, v in b2.items() if k != "cua-nam"} == blocks
    assert {k: v for k, v in s2.items() if k[0] != "cua-nam"} == subnets
    assert {k: v for k, v in a2.items() if k[1] != "new-c01" and not k[1].startswith("cua-nam")} == addrs
    assert IPNetwork(b2["cua-nam"]) in IPNetwork(blocks["hoan-kiem"])


def test_removing_a_camera_or_site_renumbers_nothing(inventory: Path) -> None:
    _, subnets, addrs = _snapshot(inventory)
    csv = inventory / "cameras" / "hang-trong.csv"
    lines = csv.read_text("utf-8").splitlines(True)
    csv.write_text(lines[0] + "".join(lines[2:]), "utf-8")  # drop ht-c01, the first address of the ward
    (inventory / "sites" / "toa-nha-hang-bac.yml").unlink()
    (inventory / "cameras" / "toa-nha-hang-bac.csv").unlink()
    _, s2, a2 = _snapshot(inventory)
    gone = {"ht-c01", "toa-nha-hang-bac-nvr1"} | {k[1] for k in addrs if k[1].startswith("tn36-")}
    assert {k: v for k, v in addrs.items() if k[1] not in gone} == a2
    assert {k: v for k, v in subnets.items() if k[0] != "toa-nha-hang-bac"} == s2


def test_new_camera_takes_a_free_address_not_a_neighbours(inventory: Path) -> None:
    _, _, addrs = _snapshot(inventory)
    append_row(inventory / "cameras" / "hang-bac.csv", camera(id="aaa-first-by-name"))
    _, _, a2 = _snapshot(inventory)
    assert {k: v for k, v in a2.items() if k[1] != "aaa-first-by-name"} == addrs
    assert a2[(NetworkRole.cameras, "aaa-first-by-name")] not in addrs.values()


def test_lock_makes_plan_stale_until_written(inventory: Path) -> None:
    inv = pipeline.load(inventory)
    assert not pipeline.lock_is_stale(inv, pipeline.plan(inv))
    append_row(inventory / "cameras" / "hang-bac.csv", camera())
    inv = pipeline.load(inventory)
    plan = pipeline.plan(inv)
    assert pipeline.lock_is_stale(inv, plan)
    assert pipeline.write_lock(inv, plan) is True
    inv = pipeline.load(inventory)
    assert not pipeline.lock_is_stale(inv, pipeline.plan(inv))
    assert "new-c01 " in (inventory / "ipplan.lock.yml").read_text("utf-8")


def test_outgrown_subnet_says_what_is_needed_and_free(inventory: Path) -> None:
    for i in range(12):
        append_row(inventory / "cameras" / "hang-bac.csv",
                   camera(id=f"grow-{i:02d}", mac=f"02:ee:00:00:01:{i:02x}", port=str(6 + i)))
    inv = pipeline.load(inventory)
    with pytest.raises(InventoryError) as exc:
        pipeline.plan(inv)
    msg = str(exc.value)
    assert "site 'hang-bac' has outgrown its cameras subnet 10.0.0.128/28: it needs a /27" in msg
    assert "remove the 'hang-bac' cameras subnet from ipplan.lock.yml" in msg and "largest free:" in msg


def test_full_address_space_names_the_site_and_the_free_space(inventory: Path) -> None:
    (inventory / "ipplan.lock.yml").unlink()
    edit(inventory / "city.yml", "address_space: 10.0.0.0/10", "address_space: 10.20.0.0/23")
    edit(inventory / "city.yml", "10.63.0.0/16", "10.20.1.0/24")
    inv = pipeline.load(inventory)
    with pytest.raises(InventoryError) as exc:
        pipeline.plan(inv)
    msg = str(exc.value)
    assert "address_space 10.20.0.0/23 is full: site" in msg and "needs a /2" in msg
    assert "widen address_space in city.yml" in msg


def test_corrupt_lock_is_a_clear_error(inventory: Path) -> None:
    (inventory / "ipplan.lock.yml").write_text("version: 1\nsites:\n  ioc: {blok: 10.0.0.0/24}\n", "utf-8")
    with pytest.raises(InventoryError) as exc:
        pipeline.load(inventory)
    assert "lock file sites.ioc.blok: Extra inputs are not permitted" in str(exc.value)
    assert "restore it from version control" in str(exc.value)
