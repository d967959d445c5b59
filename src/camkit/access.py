"""The access model: which unit (operations centre = site) may see which camera, and why.

Rules (master plan VII.2.2.3.1, VII.2.3):
- tier 1 sees every camera; police-owned cameras only under the police rule;
- a unit sees its own cameras and those of every site below it;
- a department OC sees the cameras of its sectors (camera purposes) city-wide;
- a site may share its cameras (optionally some purposes) with another unit explicitly;
- police-owned cameras are seen only by police units and by the city IOC under the police rule:
  no ancestor, share or sector grant applies to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from camkit.loader import Inventory
from camkit.model import Camera, SiteKind

POLICE_RULE = "police_rule"


@dataclass(frozen=True, order=True)
class Grant:
    unit: str
    reason: str
    condition: str = ""  # "police_rule": access follows the police regulations


class AccessModel:
    def __init__(self, inv: Inventory):
        self.inv = inv

    @cached_property
    def police_units(self) -> frozenset[str]:
        roots = [s.id for s in self.inv.sites.values() if s.kind is SiteKind.police_command]
        units = set(roots)
        for r in roots:
            units.update(self.inv.descendants(r))
        return frozenset(units)

    @cached_property
    def _ancestors(self) -> dict[str, tuple[str, ...]]:
        return {sid: tuple(self.inv.ancestors(sid)) for sid in self.inv.sites}

    @cached_property
    def _departments(self) -> list[tuple[str, frozenset[str]]]:
        return [(s.id, frozenset(p.value for p in s.sectors)) for s in self.inv.sites.values()
                if s.kind is SiteKind.department_oc and s.sectors]

    @cached_property
    def _shares(self) -> dict[str, list[tuple[str, frozenset[str], str]]]:
        out: dict[str, list[tuple[str, frozenset[str], str]]] = {}
        for s in self.inv.sites.values():
            for sh in s.shares:
                out.setdefault(s.id, []).append((sh.to, frozenset(p.value for p in sh.purposes), sh.reason))
        return out

    @cached_property
    def _tier1(self) -> list[str]:
        return [s.id for s in self.inv.sites.values() if s.tier == 1]

    @cached_property
    def _iocs(self) -> list[str]:
        return [s.id for s in self.inv.sites.values() if s.kind is SiteKind.city_ioc]

    def is_police_camera(self, cam: Camera) -> bool:
        return cam.unit in self.police_units

    def who_can_see(self, cam: Camera) -> list[Grant]:
        """Every unit that may see the camera, with the rule. The rules read only the camera's owning unit and
        purpose, so the answer is computed once per (owner, purpose) and shared (callers never change it): a
        city of 62,489 cameras has a few thousand such classes."""
        key = (cam.unit, cam.purpose)
        got = self._seen.get(key)
        if got is None:
            got = self._seen[key] = self._who_can_see(cam)
        return got

    @cached_property
    def _seen(self) -> dict[tuple[str, str], list[Grant]]:
        return {}

    def _who_can_see(self, cam: Camera) -> list[Grant]:
        grants: dict[str, Grant] = {}

        def add(unit: str, reason: str, condition: str = "") -> None:
            grants.setdefault(unit, Grant(unit, reason, condition))

        sites = self.inv.sites
        if self.is_police_camera(cam):
            add(cam.unit, "owner (police camera)")
            for unit in sorted(self.police_units):
                add(unit, "police unit")
            for ioc in self._iocs:
                add(ioc, "tier 1, police camera under the police rule", POLICE_RULE)
            return sorted(grants.values())
        owner = cam.unit
        add(owner, "owner")
        for anc in self._ancestors[owner]:
            add(anc, f"tier-{sites[anc].tier} parent of {owner}")
        for t1 in self._tier1:
            add(t1, "tier 1 sees every camera")
        for dept, sectors in self._departments:
            if cam.purpose in sectors:
                add(dept, f"department sector '{cam.purpose}' city-wide")
        for sharer in (owner, *self._ancestors[owner]):
            for to, purposes, why in self._shares.get(sharer, ()):
                if not purposes or cam.purpose in purposes:
                    add(to, f"shared by {sharer}: {why}")
                    for anc in self._ancestors[to]:
                        add(anc, f"tier-{sites[anc].tier} parent of {to} (share)")
        return sorted(grants.values())

    def visible_to(self, unit: str) -> list[tuple[Camera, Grant]]:
        out = []
        for cam in self.inv.cameras:
            for g in self.who_can_see(cam):
                if g.unit == unit:
                    out.append((cam, g))
                    break
        return out
