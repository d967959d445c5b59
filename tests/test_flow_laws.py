"""Flows the platform needs, not only those it must not have (issue 21): for every camera, its recording VMS
reaches it at the port it is pulled from, and every unit that may see it relays from that VMS. Checked on the
example and on a copy where the police command has no camera of its own, so that its relays exist only for the
police cameras standing on a ward's and a district's networks (owner != hosting site)."""

from __future__ import annotations

from pathlib import Path

import netaddr
import pytest

from camkit import pipeline
from camkit.access import AccessModel
from camkit.flows import VMS_RTSPS, FlowMatrix, pull_port
from camkit.topology import Topology

from conftest import EXAMPLE


def required_flows_hold(inv_dir: Path) -> None:
    inv = pipeline.load(inv_dir)
    plan = pipeline.plan(inv)
    access = AccessModel(inv)
    topo = Topology(inv, access)
    flows = FlowMatrix(inv, plan, access, topo).flows
    missing = []
    for cam in inv.cameras:
        holder = topo.recorded_at.get(cam.id)
        ip = plan.camera_ip(cam.id)
        if holder is None or ip is None or topo.is_private(cam.site):
            continue
        port = str(pull_port(cam, inv.models.get(f"{cam.vendor}/{cam.model}"), inv.city))
        if not any(f.src.site == holder and f.src.group == "recorders" and f.ports == port
                   and any(ip in netaddr.IPNetwork(a if "/" in a else a + "/32") for a in f.dst.addresses)
                   for f in flows):
            missing.append(f"{holder} recorders -> {cam.id} ({ip}) tcp {port}")
        for g in access.who_can_see(cam):
            if g.unit == holder or topo.is_private(g.unit):
                continue
            if not any(f.src.site == g.unit and f.src.group == "recorders" and f.dst.site == holder
                       and f.ports == VMS_RTSPS[1] for f in flows):
                missing.append(f"{g.unit} recorders -> {holder} VMS tcp {VMS_RTSPS[1]} (relay of {cam.id})")
    assert not missing, "\n".join(sorted(set(missing)))


def test_every_camera_is_pulled_by_its_recorder_and_relayed_to_every_unit_that_may_see_it() -> None:
    required_flows_hold(EXAMPLE)


@pytest.fixture
def police_without_cameras(inventory: Path) -> Path:
    (inventory / "cameras" / "police.csv").unlink()
    return inventory


def test_relays_of_cameras_whose_owner_is_not_their_site(police_without_cameras: Path) -> None:
    inv = pipeline.load(police_without_cameras)
    assert not inv.cameras_by_site.get("police") and any(c.unit == "police" for c in inv.cameras)
    required_flows_hold(police_without_cameras)
