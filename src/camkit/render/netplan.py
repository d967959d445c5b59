"""The `netplan` family: one netplan file per server, from the profiles in `netplan/` and the plan.

camkit itself rejects duplicate or overlapping addresses (netplan does not); `netplan generate`
checks the files (tests and CI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import jinja2
import yaml
from netaddr import IPNetwork

from camkit.diagnostics import Diagnostic, InventoryError, Position
from camkit.model import NetworkRole, Server, ServerRole, Site, SiteKind
from camkit.render import Artifact, RenderContext, Renderer

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PROFILE_DIR = Path(__file__).resolve().parents[3] / "netplan"
VLAN_ORDER = [NetworkRole.servers, NetworkRole.management, NetworkRole.storage, NetworkRole.cameras,
              NetworkRole.operators]


def _env() -> jinja2.Environment:
    if not PROFILE_DIR.is_dir():
        raise InventoryError([Diagnostic(Position(str(PROFILE_DIR)), "netplan profiles not found",
                                         "install camkit from its repository (pip install -e .)")])
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(PROFILE_DIR)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


def server_context(ctx: RenderContext, site: Site, server: Server) -> dict[str, Any]:
    inv, plan = ctx.inv, ctx.plan
    host = site.hostname(server.name)
    is_gw = ServerRole.gateway in server.roles
    own = {a.role: a for a in plan.for_host(host) if a.kind == "server"}
    dns = [a.ip for h in inv.city.services.dns.servers if (a := plan.assignments.get((NetworkRole.servers, h)))]
    vlans = []
    for role in VLAN_ORDER:
        sub = plan.subnets.get((site.id, role))
        if sub is None:
            continue
        addresses = []
        if is_gw:
            addresses.append(f"{sub.gateway}/{sub.cidr.prefixlen}")
        if role in own:
            addresses.append(f"{own[role].ip}/{own[role].prefixlen}")
        if not addresses:
            continue
        routes, nameservers = [], []
        if role is NetworkRole.servers and not is_gw:
            routes.append({"to": inv.city.address_space, "via": str(sub.gateway)})
            nameservers = dns
        vlans.append({"name": f"vlan{sub.vlan}", "id": sub.vlan, "addresses": addresses, "routes": routes,
                      "nameservers": nameservers})
    nics = list(server.nics)
    wan = None
    if is_gw:
        wan_nic = nics.pop()
        assert wan_nic == server.uplink_nic
        addrs, routes = [], []
        ends = plan.transit_ends(site.id)
        if ends:
            addrs.append(f"{ends[1]}/31")
            routes.append({"to": inv.city.address_space, "via": ends[0]})
        for child in inv.children[site.id]:
            cends = plan.transit_ends(child)
            if cends is None or inv.sites[child].kind is SiteKind.private_system:
                continue  # private systems come through their WireGuard tunnel (wireguard family)
            addrs.append(f"{cends[0]}/31")
            if child in plan.blocks:
                routes.append({"to": str(plan.blocks[child]), "via": cends[1]})
            for (csid, _role), sub in plan.subnets.items():
                if csid == child and sub.pinned:  # pinned legacy subnets sit outside the child's block
                    routes.append({"to": str(sub.cidr), "via": cends[1]})
        wan = {"nic": wan_nic, "addresses": addrs, "routes": routes} if addrs else None
    return {"host": host, "site": site.id, "nics": nics, "trunk": nics[0], "members": nics, "vlans": vlans,
            "wan": wan}


def check_addresses(docs: dict[str, dict[str, Any]]) -> None:
    """Duplicate or overlapping addresses across all rendered hosts are errors (netplan won't see them)."""
    seen: dict[str, str] = {}
    nets: dict[str, tuple[IPNetwork, str]] = {}
    problems = []
    for host, doc in sorted(docs.items()):
        net = doc["network"]
        for kind in ("ethernets", "bonds", "vlans"):
            for ifname, body in (net.get(kind) or {}).items():
                for addr in body.get("addresses", []):
                    ip = IPNetwork(addr)
                    key = str(ip.ip)
                    if key in seen:
                        problems.append(Diagnostic(Position(f"netplan:{host}:{ifname}"),
                                                   f"address {key} is also configured on {seen[key]}",
                                                   "two hosts cannot share an address: check pinned ips"))
                    seen[key] = f"{host}:{ifname}"
                    nets.setdefault(str(ip.cidr), (ip.cidr, f"{host}:{ifname}"))
    # overlapping subnets: a sweep over the sorted intervals (the same subnet on many hosts is fine)
    ordered = sorted(nets.items(), key=lambda kv: (kv[1][0].first, -kv[1][0].last))
    reach: tuple[str, IPNetwork, str] | None = None  # the interval reaching furthest so far
    for b_cidr, (b, b_where) in ordered:
        if reach is not None and b.first <= reach[1].last:
            problems.append(Diagnostic(Position(f"netplan:{b_where}"),
                                       f"subnet {b_cidr} overlaps {reach[0]} on {reach[2]}"))
        if reach is None or b.last > reach[1].last:
            reach = (b_cidr, b, b_where)
    if problems:
        raise InventoryError(problems)


class NetplanRenderer(Renderer):
    family = "netplan"
    cost = 0.7
    description = "netplan per server (single NIC or bonded trunk, VLANs, gateway uplink), mode 600"

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        env = _env()
        docs: dict[str, dict[str, Any]] = {}
        out = []
        # all servers are checked together, even for a one-site render
        for sid, site in ctx.inv.sites.items():
            for server in site.servers:
                c = server_context(ctx, site, server)
                text = env.get_template(f"{server.netplan}.yaml.j2").render(**c)
                docs[c["host"]] = yaml.load(text, Loader=_LOADER)  # noqa: S506 - safe loader
                if ctx.includes(sid):
                    out.append(Artifact(f"sites/{sid}/netplan/{c['host']}.yaml", text.encode("utf-8"), sid, 0o600))
        check_addresses(docs)
        return out
