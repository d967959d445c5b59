"""The `registry` family: the city camera database for the digital map (GeoJSON) and site summaries."""

from __future__ import annotations

import json
from collections import Counter
from typing import Iterable

from camkit import planning
from camkit.model import SHARED_INFRASTRUCTURE, Camera, CameraStatus, CameraType, Purpose
from camkit.render import Artifact, RenderContext, Renderer, csv_bytes

# The city-wide camera schema of master plan VII.2.2.2 that the digital map reads. Its "stream URL" is where a map
# client opens the camera: the VMS that records it (`vms_site`) and the path there (`vms_path`, the same path at
# every VMS a viewer's unit relays it under its own prefix); never a camera address or a credential. The camera's
# management address (`ip`) only when city.yml asks for it (registry.management_addresses).
PROPERTIES = ["id", "name", "type", "purpose", "status", "site", "tier", "owner", "connection", "address",
              "height_m", "vms_site", "vms_path"]
# Planning columns a row may give (VII.2.6): published when given, so a map can show shared poles and headings
OPTIONAL = ["heading", *SHARED_INFRASTRUCTURE]


class RegistryRenderer(Renderer):
    family = "registry"
    cost = 1.4
    description = ("Camera registry: GeoJSON FeatureCollection for the city map, per-site summary CSV, shared "
                   "poles and cabinets")

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        inv, plan = ctx.inv, ctx.plan
        recorded_at = ctx.topology.recorded_at
        keys = PROPERTIES + (["ip"] if inv.city.registry.management_addresses else [])

        def feature(c: Camera) -> str:
            at = recorded_at.get(c.id)
            props = {
                "id": c.id, "name": c.name, "type": c.type, "purpose": c.purpose,
                "status": c.status, "site": c.site, "tier": inv.sites[c.site].tier, "owner": c.unit,
                "connection": c.connection, "address": c.address, "height_m": c.height_m,
                "vms_site": at, "vms_path": f"{at}/{c.id}" if at else None, "ip": plan.camera_ip(c.id),
            }
            geometry = {"type": "Point", "coordinates": [round(c.lon, 6), round(c.lat, 6)]}
            given = {k: getattr(c, k) for k in OPTIONAL if getattr(c, k) is not None}
            return json.dumps({"type": "Feature", "id": c.id, "geometry": geometry,
                               "properties": {**{k: props[k] for k in keys}, **given}}, ensure_ascii=False)

        cache: dict[str, str] = {}

        def cached(c: Camera) -> str:
            text = cache.get(c.id)
            if text is None:
                text = cache[c.id] = feature(c)
            return text

        def collection(cams: Iterable[Camera], name: str) -> bytes:
            # one feature per line keeps diffs of the registry readable
            body = ",\n".join(cached(c) for c in cams)
            head = json.dumps({"type": "FeatureCollection", "name": name}, ensure_ascii=False)[:-1]
            return (head + ', "features": [\n' + body + "\n]}\n").encode("utf-8")

        for sid in ctx.sites():
            yield Artifact(f"sites/{sid}/registry/cameras.geojson", collection(inv.cameras_by_site[sid], sid), sid)
        if not ctx.city_scope:
            return
        yield Artifact("registry/cameras.geojson", collection(inv.cameras, inv.city.id))
        header = ["site", "name", "tier", "kind", "parent", "cameras"]
        header += [t.value for t in CameraType] + [s.value for s in CameraStatus] + [p.value for p in Purpose]
        rows = []
        for sid, site in inv.sites.items():
            cams = inv.cameras_by_site[sid]
            types = Counter(c.type for c in cams)
            statuses = Counter(c.status for c in cams)
            purposes = Counter(c.purpose for c in cams)
            rows.append([sid, site.name, site.tier, site.kind.value, site.parent or "", len(cams),
                         *[types[t.value] for t in CameraType], *[statuses[s.value] for s in CameraStatus],
                         *[purposes[p.value] for p in Purpose]])
        yield Artifact("registry/sites.csv", csv_bytes(header, rows))
        # VII.2.6 (2): the poles, cabinets and smart hubs several units' cameras share
        yield Artifact("registry/shared-infrastructure.csv", csv_bytes(
            ["kind", "id", "units", "cameras"],
            [[a.kind, a.id, ";".join(a.units), ";".join(a.cameras)] for a in planning.shared(inv)]))
