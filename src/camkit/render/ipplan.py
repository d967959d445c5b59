"""The `ipplan` family: the address plan as CSV, Markdown and NetBox-importable CSV."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from camkit.ipplan import Assignment
from camkit.render import Artifact, RenderContext, Renderer, csv_bytes, md_table

PREFIX_HEADER = ["site", "tier", "kind", "role", "vlan", "prefix", "gateway", "hosts", "capacity", "pinned"]
ADDRESS_HEADER = ["site", "role", "kind", "name", "address", "prefixlen", "gateway", "vlan"]


class IpPlanRenderer(Renderer):
    family = "ipplan"
    cost = 1.2
    description = "IP plan: blocks, subnets, transit links and every address (CSV, Markdown, NetBox CSV)"

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        inv, plan = ctx.inv, ctx.plan
        by_site: dict[str, list[Assignment]] = defaultdict(list)
        for a in plan.assignments.values():
            by_site[a.site].append(a)
        for rows in by_site.values():
            rows.sort(key=_addr_key)

        def prefix_rows(sid: str) -> list[list[object]]:
            site = inv.sites[sid]
            return [[sid, site.tier, site.kind.value, s.role.value, s.vlan, str(s.cidr), str(s.gateway), s.hosts,
                     s.capacity, "yes" if s.pinned else "no"] for s in plan.site_subnets(sid)]

        def address_rows(sid: str) -> list[list[object]]:
            return [[a.site, a.role.value, a.kind, a.key, a.ip, a.prefixlen, a.gateway, a.vlan] for a in by_site[sid]]

        for sid in ctx.sites():
            site = inv.sites[sid]
            yield Artifact(f"sites/{sid}/ipplan/addresses.csv", csv_bytes(ADDRESS_HEADER, address_rows(sid)), sid)
            lines = [f"# IP plan of {site.name} (`{sid}`)\n",
                     f"Tier {site.tier} {site.kind.value}, parent `{site.parent or '-'}`. "
                     f"Block: `{plan.blocks.get(sid, '-')}`."]
            ends = plan.transit_ends(sid)
            if ends:
                lines.append(f" Uplink transit: parent `{ends[0]}`, this site `{ends[1]}` ({plan.transit[sid]}).")
            lines.append("\n\n## Subnets\n\n")
            lines.append(md_table(["role", "vlan", "prefix", "gateway", "hosts", "capacity", "pinned"],
                                  [r[3:] for r in prefix_rows(sid)]))
            infra = [a for a in by_site[sid] if a.kind != "camera"]
            lines.append("\n## Servers, switches and gateways\n\n")
            lines.append(md_table(["name", "kind", "role", "address", "vlan"],
                                  [[a.key, a.kind, a.role.value, f"{a.ip}/{a.prefixlen}", a.vlan] for a in infra]))
            ncam = sum(1 for a in by_site[sid] if a.kind == "camera")
            lines.append(f"\n{ncam} camera addresses: see `addresses.csv`.\n")
            yield Artifact(f"sites/{sid}/ipplan/README.md", "".join(lines).encode("utf-8"), sid)

        if not ctx.city_scope:
            return
        sites = list(inv.sites)
        yield Artifact("ipplan/prefixes.csv", csv_bytes(PREFIX_HEADER, [r for sid in sites for r in prefix_rows(sid)]))
        yield Artifact("ipplan/addresses.csv", csv_bytes(ADDRESS_HEADER, [r for sid in sites for r in address_rows(sid)]))
        yield Artifact("ipplan/transit.csv", csv_bytes(
            ["site", "parent", "link", "parent_address", "site_address"],
            [[sid, inv.sites[sid].parent, str(plan.transit[sid]), *plan.transit_ends(sid)]  # type: ignore[misc]
             for sid in sites if sid in plan.transit]))
        # NetBox bulk import (IPAM > Prefixes / IP Addresses > Import, CSV)
        nb_prefixes = [[str(plan.blocks[sid]), "container", "false", f"{sid} block (tier {inv.sites[sid].tier})"]
                       for sid in sites if sid in plan.blocks]
        nb_prefixes += [[str(s.cidr), "active", "false", f"{s.site} {s.role.value} vlan {s.vlan}"]
                        for sid in sites for s in plan.site_subnets(sid)]
        nb_prefixes += [[str(plan.transit[sid]), "active", "true", f"{sid} uplink to {inv.sites[sid].parent}"]
                        for sid in sites if sid in plan.transit]
        yield Artifact("ipplan/netbox-prefixes.csv", csv_bytes(["prefix", "status", "is_pool", "description"], nb_prefixes))
        nb_ips = [[f"{a.ip}/{a.prefixlen}", "active", "vip" if a.kind in ("gateway", "service") else "", _dns(a),
                   f"{a.site} {a.kind} {a.key} ({a.role.value})"] for sid in sites for a in by_site[sid]]
        yield Artifact("ipplan/netbox-ip-addresses.csv",
                       csv_bytes(["address", "status", "role", "dns_name", "description"], nb_ips))
        city = inv.city
        summary = [f"# IP plan of {city.name}\n\n",
                   f"- address space: `{city.address_space}`; transit links: `{city.transit_space}`\n",
                   f"- Kubernetes pods `{city.kubernetes.pod_cidr}`, services `{city.kubernetes.service_cidr}` "
                   "(carved out of the address space)\n"]
        summary += [f"- reserved `{r.cidr}`: {r.reason}\n" for r in city.reserved]
        summary.append("\n## Networks per role\n\n")
        summary.append(md_table(["role", "vlan", "headroom %"],
                                [[r, getattr(city.networks, r).vlan, getattr(city.networks, r).headroom_percent]
                                 for r in ("cameras", "management", "servers", "storage", "operators")]))
        summary.append("\n## Sites\n\n")
        summary.append(md_table(
            ["site", "tier", "kind", "parent", "block", "subnets", "cameras", "transit"],
            [[sid, inv.sites[sid].tier, inv.sites[sid].kind.value, inv.sites[sid].parent or "-",
              str(plan.blocks.get(sid, "-")), len(plan.site_subnets(sid)), len(inv.cameras_by_site[sid]),
              str(plan.transit.get(sid, "-"))] for sid in sites]))
        yield Artifact("ipplan/README.md", "".join(summary).encode("utf-8"))


def _addr_key(a: Assignment) -> tuple[int, int]:
    from camkit.model import NetworkRole

    order = list(NetworkRole)
    parts = a.ip.split(".")
    return (order.index(a.role), int(parts[0]) << 24 | int(parts[1]) << 16 | int(parts[2]) << 8 | int(parts[3]))


def _dns(a: Assignment) -> str:
    if a.kind == "gateway":
        return ""
    if a.kind == "service":  # "<site>/<name>" -> "<name>.<site>" (a DNS name NetBox accepts)
        site, _, name = a.key.partition("/")
        return f"{name}.{site}"
    return a.key if a.role.value in ("servers", "cameras") else f"{a.key}.{a.role.value}"
