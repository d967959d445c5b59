"""The IP plan's laws where a city changes (issue 21): new wards, a locked site that grows a subnet, a lock that
conflicts. The shipped plans are already locked, so the allocator's reservations are exercised only here.

Laws: no two subnets overlap; every subnet lies in its site's block; a ward's block lies in its district's block
and overlaps neither a sibling's block nor the district's own subnets; nothing the lock records moves; a lock
entry that is not free is refused, never accepted."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from camkit import pipeline
from camkit.diagnostics import InventoryError
from camkit.ipplan import Plan
from camkit.model import NetworkRole

from conftest import EXAMPLE, edit

WARD = """id: {id}
name: "Phường {id}"
kind: ward
parent: hoan-kiem
organisation: "UBND Phường {id}"
location: {{lat: 21.0345, lon: 105.8535, address: "{id}"}}
switches:
  - {{id: sw1, ports: 24, uplink_ports: [24]}}
"""


def laws(inv_dir: Path) -> Plan:
    inv = pipeline.load(inv_dir)
    plan = pipeline.plan(inv)
    subnets = list(plan.subnets.values())
    for a, b in combinations(subnets, 2):
        assert a.cidr.first > b.cidr.last or b.cidr.first > a.cidr.last, \
            f"{a.site} {a.role.value} {a.cidr} overlaps {b.site} {b.role.value} {b.cidr}"
    for s in subnets:
        if not s.pinned:
            assert s.cidr in plan.blocks[s.site], f"{s.site} {s.role.value} {s.cidr} outside its block"
    for sid, site in inv.sites.items():  # a tier-3 site's block lies in its district's (tier-2 ancestor's)
        district = next((a for a in inv.ancestors(sid) if inv.sites[a].tier == 2), None)
        if site.tier == 3 and sid in plan.blocks and district in plan.blocks:
            assert plan.blocks[sid] in plan.blocks[district], f"{sid}'s block outside {district}'s"
    tops = [b for sid, b in plan.blocks.items() if inv.sites[sid].tier < 3]
    for a, b in combinations(tops, 2):
        assert a.first > b.last or b.first > a.last, f"blocks {a} and {b} overlap"
    wards = [(sid, b) for sid, b in plan.blocks.items() if inv.sites[sid].tier == 3]
    for (sa, a), (sb, b) in combinations(wards, 2):
        assert a.first > b.last or b.first > a.last, f"the blocks of {sa} ({a}) and {sb} ({b}) overlap"
    return plan


def test_two_new_wards_get_blocks_of_their_own(inventory: Path) -> None:
    before = pipeline.plan(pipeline.load(EXAMPLE))
    for wid in ("hang-dao", "hang-ma"):
        (inventory / "sites" / f"{wid}.yml").write_text(WARD.format(id=wid), "utf-8")
    plan = laws(inventory)
    assert plan.blocks["hang-dao"] != plan.blocks["hang-ma"]
    for w in ("hang-dao", "hang-ma"):
        mgmt = plan.subnets[(w, NetworkRole.management)].cidr
        district = [s.cidr for (sid, _), s in plan.subnets.items() if sid == "hoan-kiem"]
        assert all(mgmt.first > d.last or d.first > mgmt.last for d in district), f"{w}: {mgmt} in the district's"
    # nothing locked moved
    assert {k: v for k, v in plan.blocks.items() if k in before.blocks} == before.blocks
    assert {k: s.cidr for k, s in plan.subnets.items() if k in before.subnets} == \
        {k: s.cidr for k, s in before.subnets.items()}


def test_a_locked_site_that_grows_a_subnet_keeps_the_locked_ones_and_overlaps_none(inventory: Path) -> None:
    lock = inventory / "ipplan.lock.yml"
    before = pipeline.plan(pipeline.load(EXAMPLE))
    # forget the ward's management subnet only: it must be placed anew, clear of the ward's locked subnets
    text = lock.read_text("utf-8")
    ward = text.split("\n  hang-trong:\n", 1)[1]
    line = next(x for x in ward.splitlines() if x.strip().startswith("management:") and "/" in x)
    edit(lock, "\n  hang-trong:\n" + ward.split(line, 1)[0] + line + "\n", "\n  hang-trong:\n" + ward.split(line, 1)[0])
    plan = laws(inventory)
    kept = {k: s.cidr for k, s in before.subnets.items() if k != ("hang-trong", NetworkRole.management)}
    assert {k: plan.subnets[k].cidr for k in kept} == kept


def test_a_lock_entry_that_is_not_free_is_refused(inventory: Path) -> None:
    lock = inventory / "ipplan.lock.yml"
    before = pipeline.plan(pipeline.load(EXAMPLE))
    ward, other = before.subnets[("hang-trong", NetworkRole.servers)], before.subnets[("hang-trong", NetworkRole.cameras)]
    # the ward's servers subnet locked onto its cameras subnet
    text = lock.read_text("utf-8")
    head, rest = text.split("\n  hang-trong:\n", 1)
    assert f"servers: {ward.cidr}" in rest
    lock.write_text(head + "\n  hang-trong:\n" + rest.replace(f"servers: {ward.cidr}", f"servers: {other.cidr}", 1),
                    "utf-8")
    with pytest.raises(InventoryError, match=f"locked servers subnet {other.cidr} of 'hang-trong' is not free"):
        pipeline.plan(pipeline.load(inventory))
