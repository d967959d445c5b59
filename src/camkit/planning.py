"""Planning rules of master plan VII.2.6 (plan stage; reads the inventory and the topology, writes nothing).

(1) "no duplication of position, angle of view, purpose and monitored object, except the city police's own
cameras": `duplicate-position`: two cameras of different units closer than `planning.duplicate_within_m`,
with the same purpose and, when both rows give a `heading`, looking the same way (within
`heading_within_deg`); a camera owned by a police unit is exempt.
(2) "share poles, posts and technical cabinets at one location": the optional `pole`, `cabinet` and `smarthub`
columns; `shared()` lists the ones carrying cameras of several units (the registry publishes the list), and
`shared-spread`: cameras given one such id farther apart than `shared_within_m` (the id is mistyped).
(5) every camera on the digital map at its real position: `far-from-site`: a camera farther from its site's
location than `max_distance_km` for the site's kind (a swapped or mistyped coordinate, or the wrong site).

Findings are warnings; `camkit validate --strict` fails on them, like the capacity findings.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from camkit.diagnostics import Diagnostic, Finding, Position
from camkit.loader import Inventory
from camkit.model import SHARED_INFRASTRUCTURE, Camera
from camkit.topology import Topology

RULES = ("duplicate-position", "far-from-site", "shared-spread")
M_PER_DEG_LAT = 111_320.0  # metres per degree of latitude (and of longitude at the equator)


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius 6,371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(a)))


def _heading_gap(a: float, b: float) -> float:
    d = abs(a - b) % 360
    return min(d, 360 - d)


@dataclass(frozen=True)
class Shared:
    """One pole, cabinet or smart hub carrying cameras of several units (VII.2.6 (2))."""

    kind: str  # pole | cabinet | smarthub
    id: str
    units: tuple[str, ...]
    cameras: tuple[str, ...]


def _by_asset(inv: Inventory) -> dict[tuple[str, str], list[Camera]]:
    """(pole | cabinet | smarthub, id) -> the cameras given it, in the inventory's order; sorted by kind and id."""
    groups: dict[tuple[str, str], list[Camera]] = defaultdict(list)
    for cam in inv.cameras:
        for kind in SHARED_INFRASTRUCTURE:
            asset = getattr(cam, kind)
            if asset is not None:
                groups[(kind, asset)].append(cam)
    return dict(sorted(groups.items()))


def shared(inv: Inventory) -> list[Shared]:
    """Poles, cabinets and smart hubs that cameras of more than one unit use, sorted by kind and id."""
    out = []
    for (kind, asset), cams in _by_asset(inv).items():
        units = sorted({c.unit for c in cams})
        if len(units) > 1:
            out.append(Shared(kind, asset, tuple(units), tuple(sorted(c.id for c in cams))))
    return out


def findings(inv: Inventory, topo: Topology | None = None) -> list[Finding]:
    topo = topo if topo is not None else Topology.of(inv)
    rules = inv.city.planning
    out: list[Finding] = []

    def where(cam: Camera) -> Position:
        return inv.positions.get("camera." + cam.id) or Position(str(inv.root))

    def add(rule: str, cam: Camera, message: str, hint: str) -> None:
        out.append(Finding(rule, cam.site, Diagnostic(where(cam), f"planning ({rule}): camera '{cam.id}' {message}",
                                                      hint)))

    # (5) far from its site: a flat-earth screen first (within 1 % over a city), haversine where it counts
    lat0 = math.radians((inv.city.area.min_lat + inv.city.area.max_lat) / 2)
    kx, ky = M_PER_DEG_LAT * math.cos(lat0), M_PER_DEG_LAT
    for sid, cams in inv.cameras_by_site.items():
        site = inv.sites[sid]
        limit = rules.max_distance_km.get(site.kind)
        if limit is None:
            continue
        slat, slon, screen = site.location.lat, site.location.lon, (limit * 1000 * 0.99) ** 2
        for cam in cams:
            if ((cam.lon - slon) * kx) ** 2 + ((cam.lat - slat) * ky) ** 2 < screen:
                continue
            d = metres(cam.lat, cam.lon, slat, slon)
            if d <= limit * 1000:
                continue
            add("far-from-site", cam,
                f"is {d / 1000:,.1f} km from the location of its site '{site.id}' (a {site.kind.value}: at most "
                f"{limit:g} km, city.yml planning.max_distance_km)",
                "check lat/lon (swapped or mistyped?), or file the camera under the site it is connected to")

    # (1) duplicates: a grid of cells one distance wide; each pair compared once, from its later camera
    within = rules.duplicate_within_m
    police = topo.police_units
    if within > 0:
        cell_x, cell_y = within / kx, within / ky
        grid: dict[tuple[int, int], list[Camera]] = defaultdict(list)
        screen = (within * 1.01) ** 2
        for cam in inv.cameras:  # sorted by (site, id): the order findings come in is fixed
            unit = cam.unit
            if unit in police:
                continue
            lat, lon, purpose = cam.lat, cam.lon, cam.purpose
            cx, cy = math.floor(lon / cell_x), math.floor(lat / cell_y)
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for other in grid.get((cx + dx, cy + dy), ()):
                        if other.purpose != purpose or other.unit == unit \
                                or ((other.lon - lon) * kx) ** 2 + ((other.lat - lat) * ky) ** 2 > screen:
                            continue
                        if cam.heading is not None and other.heading is not None \
                                and _heading_gap(cam.heading, other.heading) > rules.heading_within_deg:
                            continue
                        d = metres(cam.lat, cam.lon, other.lat, other.lon)
                        if d <= within:
                            add("duplicate-position", cam,
                                f"of unit '{cam.unit}' duplicates camera '{other.id}' of unit '{other.unit}' at "
                                f"{where(other)}: {d:.0f} m apart, both '{cam.purpose}'"
                                + (f", headings {cam.heading:g} and {other.heading:g}"
                                   if cam.heading is not None and other.heading is not None else ""),
                                "master plan VII.2.6 (1): share the existing camera (a `shares:` entry of its unit) "
                                "instead of a second one, or move or turn one of them and give both a heading")
            grid[(cx, cy)].append(cam)

    # (2) one pole, cabinet or smart hub is one place
    for (kind, asset), cams in _by_asset(inv).items():
        first = cams[0]
        for cam in cams[1:]:
            d = metres(cam.lat, cam.lon, first.lat, first.lon)
            limit = rules.shared_within_m.get(kind)  # type: ignore[call-overload]
            if limit is not None and d > limit:
                add("shared-spread", cam,
                    f"is on {kind} '{asset}' {d:,.0f} m from camera '{first.id}' on the same {kind} at {where(first)}",
                    f"cameras on one {kind} are at most {limit:g} m apart (city.yml planning.shared_within_m): "
                    f"correct the {kind} id or the coordinates")
    return out
