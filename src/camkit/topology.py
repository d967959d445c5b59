"""The topology: every relationship between sites and cameras, derived once after load.

Where a camera is recorded and analysed, which RADIUS site serves a site's switches (and which sites a
RADIUS site serves), the city IOCs and the SSO's site, police units, hot days, the city's POSIX time zone,
which unit sees which camera at which VMS (visibility), what a VMS relays (relay sources), what a private
system publishes, and which VMS each service client reads (service scopes). The loader's checks, the flow
matrix, the PKI, sizing, every renderer and the stacks read these; none re-derives a rule.

Recording and analysis always ask the access model: a camera is recorded at its owner's VMS (a private
system's at its parent's), and analysed at the nearest site up from there that has GPUs *and* may see it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Mapping

from camkit.access import AccessModel
from camkit.loader import Inventory
from camkit.model import Camera, ServerRole, Site, SiteKind

# IANA zone -> POSIX TZ (what cameras and busybox crond read). A city whose zone is not listed is refused by
# the loader (`city.timezone`), never silently given UTC. Zones with daylight saving need their rule here.
POSIX_TZ: dict[str, str] = {
    "Asia/Ho_Chi_Minh": "ICT-7",
    "Asia/Bangkok": "ICT-7",
    "Asia/Vientiane": "ICT-7",
    "Asia/Phnom_Penh": "ICT-7",
    "Asia/Jakarta": "WIB-7",
    "Asia/Singapore": "SGT-8",
    "Asia/Kuala_Lumpur": "MYT-8",
    "Asia/Manila": "PST-8",
    "Asia/Tokyo": "JST-9",
    "Asia/Seoul": "KST-9",
    "UTC": "UTC0",
    "Etc/UTC": "UTC0",
}


def posix_timezone(name: str) -> str | None:
    """The POSIX TZ string of an IANA zone, or None when camkit does not know it."""
    return POSIX_TZ.get(name)


def has_radius(site: Site) -> bool:
    return any(ServerRole.radius in v.roles for v in site.servers)


def radius_site_of(sites: Mapping[str, Site], placement: str, sid: str) -> str | None:
    """The site whose RADIUS servers authenticate `sid`'s switch ports: itself when it runs one, else (placement
    `tier2`) its district/department when that runs one; None when no RADIUS server serves it. The loader
    calls this on the raw sites (before an Inventory exists), the topology on the inventory."""
    if has_radius(sites[sid]):
        return sid
    if placement == "tier2":
        seen: set[str] = set()
        hop = sites[sid].parent
        while hop and hop in sites and hop not in seen:
            seen.add(hop)
            if sites[hop].tier == 2:
                return hop if has_radius(sites[hop]) else None
            hop = sites[hop].parent
    return None


def has_gpus(site: Site) -> bool:
    return site.kind is not SiteKind.private_system and any(s.gpus for s in site.servers)


class Topology:
    """Computed once per inventory (the render context, the flow matrix, sizing and the CLI share one)."""

    def __init__(self, inv: Inventory, access: AccessModel | None = None):
        self.inv = inv
        self.access = access if access is not None else AccessModel(inv)

    @classmethod
    def of(cls, inv: Inventory) -> Topology:
        """The inventory's one topology (the plan sizes published services with it, the render reads it)."""
        got = inv.__dict__.get("_topology")
        if got is None:
            got = inv.__dict__["_topology"] = cls(inv)
        return got

    # --- sites ------------------------------------------------------------------------------------

    @cached_property
    def iocs(self) -> tuple[str, ...]:
        """The city IOCs (tier 1): central administration, the SSO, backups."""
        return tuple(s.id for s in self.inv.sites.values() if s.kind is SiteKind.city_ioc)

    @property
    def sso_site(self) -> str | None:
        """Where the city SSO (Keycloak) runs: the first IOC."""
        return self.iocs[0] if self.iocs else None

    @property
    def police_units(self) -> frozenset[str]:
        return self.access.police_units

    def is_private(self, sid: str) -> bool:
        return self.inv.sites[sid].kind is SiteKind.private_system

    @cached_property
    def timezone(self) -> str:
        """The city's POSIX TZ (the loader refused a zone camkit does not know)."""
        tz = posix_timezone(self.inv.city.timezone)
        assert tz is not None, f"unknown city.timezone {self.inv.city.timezone!r} passed the loader"
        return tz

    def hot_days(self, sid: str) -> int:
        """Days a site keeps on its own (hot) disks: all of its retention at tier 3, else the city's hot_days."""
        site = self.inv.sites[sid]
        retention = self.inv.city.tiers.of(site.tier).retention_days
        return retention if site.tier == 3 else min(self.inv.city.storage.hot_days, retention)

    def radius_site(self, sid: str) -> str | None:
        return radius_site_of(self.inv.sites, self.inv.city.services.radius_placement, sid)

    @cached_property
    def radius_area(self) -> dict[str, list[str]]:
        """RADIUS site -> the sites whose switches it serves (itself first when it has switches)."""
        area: dict[str, list[str]] = {sid: [] for sid, s in sorted(self.inv.sites.items()) if has_radius(s)}
        for sid, site in self.inv.sites.items():
            if site.switches and (rs := self.radius_site(sid)) is not None:
                area[rs].append(sid)
        return area

    # --- cameras: recording, analysis -------------------------------------------------------------

    def recording_site_of_unit(self, unit: str) -> str:
        """The VMS that records a unit's cameras: its own, or its parent's for a private system (it publishes)."""
        site = self.inv.sites[unit]
        return site.parent if site.kind is SiteKind.private_system and site.parent else unit

    @cached_property
    def recorded_at(self) -> dict[str, str]:
        """camera id -> the site whose VMS records it: the owner's VMS, if the owner may see it (always, by the
        access model's first rule; a camera no unit with a VMS may see is not recorded at all)."""
        out: dict[str, str] = {}
        memo: dict[tuple[str, str], str | None] = {}  # (unit, purpose): all the rule reads
        for cam in self.inv.cameras:
            key = (cam.unit, cam.purpose)
            if key not in memo:
                at = self.recording_site_of_unit(cam.unit)
                memo[key] = at if at in self.units_seeing(cam) else None
            if (rec := memo[key]) is not None:
                out[cam.id] = rec
        return out

    @cached_property
    def recorded(self) -> dict[str, tuple[str, ...]]:
        """recording site -> the camera ids its VMS records, sorted (every non-private site has an entry)."""
        out: dict[str, list[str]] = {sid: [] for sid in self.inv.sites if not self.is_private(sid)}
        for cid, at in self.recorded_at.items():
            out.setdefault(at, []).append(cid)
        return {sid: tuple(sorted(c)) for sid, c in out.items()}

    def units_seeing(self, cam: Camera) -> frozenset[str]:
        key = (cam.unit, cam.purpose)  # all the access rules read (see AccessModel.who_can_see)
        got = self._units_seeing.get(key)
        if got is None:
            got = self._units_seeing[key] = frozenset(g.unit for g in self.access.who_can_see(cam))
        return got

    @cached_property
    def _units_seeing(self) -> dict[tuple[str, str], frozenset[str]]:
        return {}

    @cached_property
    def analysed_at(self) -> dict[str, str]:
        """camera id (with analytics) -> the site whose IVA analyses it: the nearest site from its recording site
        up the tree that has GPUs and may see the camera (the access model decides, police rule included)."""
        out: dict[str, str] = {}
        memo: dict[tuple[str, str, str], str | None] = {}  # (recording site, unit, purpose): all the rule reads
        for cam in self.inv.cameras:
            rec = self.recorded_at.get(cam.id)
            if rec is None or not cam.analytics:
                continue
            key = (rec, cam.unit, cam.purpose)
            if key not in memo:
                seeing = self.units_seeing(cam)
                memo[key] = next((hop for hop in (rec, *self.inv.ancestors(rec))
                                  if hop in seeing and has_gpus(self.inv.sites[hop])), None)
            if (at := memo[key]) is not None:
                out[cam.id] = at
        return out

    @cached_property
    def analysed(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for cid, at in self.analysed_at.items():
            out.setdefault(at, []).append(cid)
        return {sid: tuple(sorted(c)) for sid, c in out.items()}

    def runs_iva(self, sid: str) -> bool:
        """A site runs an IVA when it analyses cameras (it has GPUs: see analysed_at)."""
        return bool(self.analysed.get(sid))

    # --- who watches what, where ------------------------------------------------------------------

    @cached_property
    def visible(self) -> dict[str, dict[tuple[str, bool], list[str]]]:
        """unit -> (site recording the camera, granted by the police rule) -> cameras the unit may see.
        Private systems are no viewing units (they have no VMS of their own)."""
        seen: dict[str, dict[tuple[str, bool], list[str]]] = {}
        for cam in self.inv.cameras:
            holder = self.recorded_at.get(cam.id)
            if holder is None:
                continue
            for g in self.access.who_can_see(cam):
                if not self.is_private(g.unit):
                    seen.setdefault(g.unit, {}).setdefault((holder, bool(g.condition)), []).append(cam.id)
        return seen

    def relay_sources(self, unit: str) -> list[tuple[tuple[str, bool], list[str]]]:
        """What a unit's VMS relays, in a fixed order: ((site recording the cameras, granted by the police rule),
        cameras) for every other recording site whose cameras the unit may see."""
        return [(key, cams) for key, cams in sorted(self.visible.get(unit, {}).items()) if key[0] != unit]

    @cached_property
    def relay_pairs(self) -> dict[str, dict[str, str]]:
        """viewer site -> {recording site of a camera the viewer may see: the first reason}."""
        pairs: dict[str, dict[str, str]] = {}
        for cam in self.inv.cameras:
            holder = self.recorded_at.get(cam.id)
            if holder is None:
                continue
            for g in self.access.who_can_see(cam):
                if g.unit != holder and not self.is_private(g.unit):
                    pairs.setdefault(g.unit, {}).setdefault(holder, _short(g.reason))
        return pairs

    @cached_property
    def service_scopes(self) -> dict[str, list[str]]:
        """unit -> the units whose VMS its service client may read: every site its VMS relays from, and its own
        VMS when it runs an IVA (Frigate reads the restream). One token per VMS read, each naming one prefix."""
        out: dict[str, list[str]] = {}
        for sid in self.recorded:
            units = {h for (h, _), _ in self.relay_sources(sid)}
            if self.runs_iva(sid):
                units.add(sid)
            if units:
                out[sid] = sorted(units)
        return out

    @cached_property
    def publishers(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """private system -> (the VMS it publishes to, its cameras that VMS records)."""
        out: dict[str, tuple[str, tuple[str, ...]]] = {}
        for sid, site in self.inv.sites.items():
            if site.kind is SiteKind.private_system and site.parent:
                at = self.recording_site_of_unit(sid)
                cams = tuple(sorted(c.id for c in self.inv.cameras_by_site[sid] if self.recorded_at.get(c.id) == at))
                out[sid] = (at, cams)
        return out

    def pulled_elsewhere(self) -> list[tuple[str, str, list[str]]]:
        """(recording site, camera site, cameras) where a VMS pulls cameras that sit at another site (a unit's
        cameras installed on a ward's network, e.g. police cameras): the flows and uplinks that needs."""
        return self._pulled_elsewhere

    @cached_property
    def _pulled_elsewhere(self) -> list[tuple[str, str, list[str]]]:
        pairs: dict[tuple[str, str], list[str]] = {}
        for cam in self.inv.cameras:
            at = self.recorded_at.get(cam.id)
            if at is not None and at != cam.site and not self.is_private(cam.site):
                pairs.setdefault((at, cam.site), []).append(cam.id)
        return [(at, where, sorted(cams)) for (at, where), cams in sorted(pairs.items())]

    def _meet(self, a: str, b: str) -> tuple[list[str], list[str], str | None]:
        up_a = [a, *self.inv.ancestors(a)]
        up_b = [b, *self.inv.ancestors(b)]
        return up_a, up_b, next((s for s in up_a if s in up_b), None)

    def tree_path(self, a: str, b: str) -> list[str]:
        """Sites between a and b along the tier tree, both ends included (separate trees meet at the city core)."""
        if a == b:
            return [a]
        up_a, up_b, common = self._meet(a, b)
        if common is None:
            return up_a + list(reversed(up_b))
        return up_a[: up_a.index(common) + 1] + list(reversed(up_b[: up_b.index(common)]))

    def links_between(self, a: str, b: str) -> list[str]:
        """The sites whose uplink a stream from a to b crosses (every hop of the path but the common ancestor)."""
        common = self._meet(a, b)[2]
        return [s for s in self.tree_path(a, b) if s != common]


def _short(reason: str) -> str:
    return reason.split(":")[0] if reason.startswith("shared by") else reason
