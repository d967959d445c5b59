"""The topology: one home for every site-camera relationship, and recording/analysis that ask the access model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from camkit import pipeline
from camkit.access import AccessModel
from camkit.topology import POSIX_TZ, Topology

from conftest import EXAMPLE, edit

SRC = Path(__file__).resolve().parents[1] / "src" / "camkit"

# A rule lives in the topology (or the access model it asks); a module that spells one of these re-derives it.
RULES = {
    "the city IOCs / the SSO's site": re.compile(r"SiteKind\.city_ioc"),
    "the police units": re.compile(r"SiteKind\.police_command"),
    "which RADIUS site serves a site": re.compile(r"radius_placement"),
    "the POSIX time zone": re.compile(r"POSIX_TZ|\"ICT-7\"|\"UTC0\""),
    "hot days": re.compile(r"(storage|pol)\.hot_days\s*(,|\)|if|else)|min\([^)]*hot_days"),
    "where a camera is recorded / analysed, what a VMS relays": re.compile(
        r"def (recording_site|analysis_site|relay_sources|service_scopes|visibility)\b"),
}
HOME = {"topology.py", "access.py", "model.py"}
# (file, rule): why it may mention it
ALLOWED = {
    ("loader.py", "which RADIUS site serves a site"): "passes the setting to topology.radius_site_of",
    ("loader.py", "the POSIX time zone"): "refuses a zone topology.POSIX_TZ does not know",
}


def test_no_module_re_derives_a_topology_rule() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in HOME:
            continue
        text = path.read_text("utf-8")
        for rule, pattern in RULES.items():
            if (path.name, rule) in ALLOWED:
                continue
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{rel}:{line}: re-derives '{rule}' ({m.group(0)!r}): ask camkit.topology")
    assert not found, "\n".join(found)


def test_the_guard_catches_a_copy(tmp_path: Path) -> None:
    # the patterns above match the copies this module replaced (so the guard can fail)
    copies = {
        "the city IOCs / the SSO's site": "iocs = [s.id for s in inv.sites.values() if s.kind is SiteKind.city_ioc]",
        "which RADIUS site serves a site": "if inv.city.services.radius_placement == 'tier2':",
        "the POSIX time zone": 'POSIX_TZ.get(city.timezone, "UTC0")',
        "hot days": "return retention if site.tier == 3 else min(inv.city.storage.hot_days, retention)",
        "where a camera is recorded / analysed, what a VMS relays": "def recording_site(inv, sid):",
    }
    for rule, text in copies.items():
        assert RULES[rule].search(text), rule


@pytest.fixture(scope="module")
def topo() -> Topology:
    inv = pipeline.load(EXAMPLE)
    return Topology(inv, AccessModel(inv))


def test_cameras_are_recorded_by_their_owner(topo: Topology) -> None:
    # police cameras on a ward's and a district's switch: the police VMS records them
    assert topo.recorded_at["ht-ca01"] == "police" and topo.inv.camera_index["ht-ca01"].site == "hang-trong"
    assert topo.recorded_at["hk-ca01"] == "police" and topo.inv.camera_index["hk-ca01"].site == "hoan-kiem"
    # a private system's cameras: the ward it publishes to
    assert topo.recorded_at["tn36-c01"] == "hang-bac"
    assert topo.publishers["toa-nha-hang-bac"][0] == "hang-bac"
    assert list(topo.pulled_elsewhere()) == [("police", "hang-trong", ["ht-ca01"]), ("police", "hoan-kiem", ["hk-ca01"])]


def test_every_camera_is_recorded_and_analysed_only_by_units_that_may_see_it(topo: Topology) -> None:
    inv, access = topo.inv, topo.access
    for cam in inv.cameras:
        seeing = {g.unit for g in access.who_can_see(cam)}
        assert topo.recorded_at[cam.id] in seeing, cam.id
        if cam.id in topo.analysed_at:
            assert topo.analysed_at[cam.id] in seeing, cam.id
    # the district has the GPUs nearest to the ward, but may not see the police camera there
    assert topo.analysed_at["ht-ca01"] == "police"
    assert "ht-ca01" not in topo.analysed.get("hoan-kiem", ())


def test_each_unit_that_may_see_a_camera_opens_it_at_its_own_vms(topo: Topology) -> None:
    inv, access = topo.inv, topo.access
    relayed: dict[str, set[tuple[str, bool]]] = {}
    for unit in inv.sites:
        for (holder, police_rule), cams in topo.relay_sources(unit):
            for c in cams:
                relayed.setdefault(c, set()).add((unit, police_rule))
    for cam in inv.cameras:
        for g in access.who_can_see(cam):
            if topo.is_private(g.unit):
                continue
            at_own = topo.recorded_at[cam.id] == g.unit or (g.unit, bool(g.condition)) in relayed.get(cam.id, set())
            assert at_own, f"{g.unit} may see {cam.id} but its VMS neither records nor relays it"
    # and nothing else: a unit relays only what it may see, under the prefix of the rule that grants it
    for c, pairs in relayed.items():
        grants = {(g.unit, bool(g.condition)) for g in access.who_can_see(inv.camera_index[c])}
        assert pairs <= grants, c


def test_radius_area_and_time_zone(topo: Topology) -> None:
    # wards use their district's RADIUS servers (radius_placement tier2); every site with switches is served
    served = {s for sites in topo.radius_area.values() for s in sites}
    assert served == {sid for sid, s in topo.inv.sites.items() if s.switches}
    assert topo.radius_site("hang-trong") == "hoan-kiem"
    assert topo.timezone == POSIX_TZ[topo.inv.city.timezone] == "ICT-7"


def test_an_unknown_time_zone_is_refused(inventory: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit(inventory / "city.yml", "timezone: Asia/Ho_Chi_Minh", "timezone: Mars/Olympus_Mons")
    res = cli("validate", str(inventory))
    assert res.exit_code == 2
    assert "city.timezone 'Mars/Olympus_Mons'" in res.output and "known zones:" in res.output
