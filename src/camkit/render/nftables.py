"""The `nftables` family: one ruleset per server, from the flow matrix.

Kubernetes workers also filter what reaches pods through the site's published service addresses (MetalLB
announces them, kube-proxy DNATs them to pods): the forward chain accepts those connections only from the flow
matrix's sources, matched on the original destination address.

Every file holds one `inet camkit` table with drop policies on input and forward; loading it
replaces only that table (Kubernetes' own iptables-nft tables are left alone).
"""

from __future__ import annotations

from typing import Callable, Iterable

from camkit.flows import Endpoint, Flow
from camkit.model import ServerRole
from camkit.render import Artifact, RenderContext, Renderer

LOG_RATE = "limit rate 5/second burst 10 packets"
# RKE2's default CNI, canal (docs.rke2.io "Network Options"): Calico names each pod's host-side veth cali<hash>,
# flannel carries pod traffic between nodes over the VXLAN device flannel.1.
CNI_POD_IFACES = "cali*"
CNI_OVERLAY_IFACE = "flannel.1"


def _port_spec(f: Flow) -> str:
    ports = f.ports.split(",")
    return ports[0] if len(ports) == 1 else "{ " + ", ".join(ports) + " }"


def _match(f: Flow) -> str:
    if f.proto == "icmp":
        return f"icmp type {f.ports}"
    return f"{f.proto} dport {_port_spec(f)}"


def _published_match(f: Flow) -> str:
    """A flow to a published service address, after kube-proxy DNAT'd it to a pod: matched on the connection's
    original destination address and on the port (the Services map each published port to the same pod port),
    so a pod is reached only the way the flow matrix allows. (`ct original proto-dst` would need `meta l4proto`,
    which nft lists by number on hosts without /etc/protocols, and `camkit verify` compares listings.)"""
    return f"ct original ip daddr @{f.dst.set_name} {_match(f)}"


def _comment(f: Flow) -> str:
    text = f"{f.id} {f.reason}".replace('"', "'")
    text = text.encode("ascii", "replace").decode()
    return text[:120]


def _set(ep: Endpoint) -> list[str]:
    elements = ", ".join(sorted(set(ep.addresses), key=_addr_key))
    return [f"\tset {ep.set_name} {{", "\t\ttype ipv4_addr", "\t\tflags interval",
            f"\t\telements = {{ {elements} }}", "\t}"]


def _addr_key(a: str) -> tuple[int, ...]:
    ip = a.split("/")[0]
    return tuple(int(x) for x in ip.split("."))


def _accepts(flows: list[Flow], match: Callable[[Flow], str], uplink: str | None = None) -> list[str]:
    """One accept rule per source set and match (flows that differ only in their reason share a rule). A flow from
    the Internet on the host's uplink is matched on that interface instead of a source set."""
    seen: set[tuple[str, str]] = set()
    out = []
    for f in flows:
        m = match(f)
        src = f'iifname "{uplink}"' if f.via_uplink else f"ip saddr @{f.src.set_name}"
        if f.via_uplink and uplink is None:
            continue  # not a gateway: no uplink to accept it on
        if (src, m) not in seen:
            seen.add((src, m))
            out.append(f'\t\t{src} {m} counter accept comment "{_comment(f)}"')
    return out


def ruleset(host: str, site_id: str, inbound: list[Flow], forward: list[Flow], k8s: bool, pod_cidr: str,
            published: list[Flow] | None = None, uplink: str | None = None) -> str:
    published = published or []
    sets: dict[str, Endpoint] = {}
    for f in inbound:
        if not f.via_uplink:
            sets.setdefault(f.src.set_name, f.src)
    for f in [*forward, *published]:
        sets.setdefault(f.src.set_name, f.src)
        sets.setdefault(f.dst.set_name, f.dst)
    lines = [
        "#!/usr/sbin/nft -f",
        f"# camkit ruleset of {host} (site {site_id}). Generated from the flow matrix: do not edit.",
        "# Loading it replaces only the 'inet camkit' table.",
        "table inet camkit",
        "delete table inet camkit",
        "",
        "table inet camkit {",
    ]
    for name in sorted(sets):
        lines += _set(sets[name])
    lines += [
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        "\t\tct state established,related accept",
        "\t\tct state invalid drop",
        '\t\tiif "lo" accept',
    ]
    lines += _accepts(inbound, _match, uplink)
    lines += [
        f'\t\t{LOG_RATE} log prefix "camkit {site_id[:40]} in drop: " level info',
        "\t\tcounter drop",
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy drop;",
        "\t\tct state established,related accept",
        "\t\tct state invalid drop",
    ]
    if k8s:
        # pods' own traffic (this node's, or another node's over the overlay) is filtered by the NetworkPolicies;
        # traffic *to* pods from outside the cluster only as a published service flow below (no blanket accept of
        # the pod and service ranges: a DNAT'd port, NodePorts included, is otherwise dropped)
        lines += [
            f'\t\tiifname "{CNI_POD_IFACES}" ip saddr {pod_cidr} accept comment "from this node\'s pods (NetworkPolicies filter)"',
            f'\t\tiifname "{CNI_OVERLAY_IFACE}" ip saddr {pod_cidr} accept comment "from other nodes\' pods (canal VXLAN)"',
        ]
        lines += _accepts(published, _published_match)
    lines += _accepts(forward, lambda f: f"ip daddr @{f.dst.set_name} {_match(f)}")
    lines += [
        f'\t\t{LOG_RATE} log prefix "camkit {site_id[:40]} fwd drop: " level info',
        "\t\tcounter drop",
        "\t}",
        "\tchain output {",
        "\t\ttype filter hook output priority filter; policy accept;",
        "\t}",
        "}",
        "",
    ]
    return "\n".join(lines)


class NftablesRenderer(Renderer):
    family = "nftables"
    cost = 0.4
    reads = ('flows',)
    description = "nftables ruleset per server: drop policy, one rule per permitted flow, logged drops"

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        matrix, inv, plan = ctx.flows, ctx.inv, ctx.plan
        pod = inv.city.kubernetes.pod_cidr
        for sid in ctx.sites():
            site = inv.sites[sid]
            crossing = matrix.by_gateway_site.get(sid, [])
            for server in site.servers:
                host = site.hostname(server.name)
                inbound: list[Flow] = []
                for a in plan.for_host(host):
                    if a.kind == "server":
                        inbound += matrix.inbound(a.ip)
                inbound.sort(key=lambda f: f.id)
                is_gw = ServerRole.gateway in server.roles
                k8s = bool({ServerRole.k8s_worker, ServerRole.k8s_control}.intersection(server.roles))
                published = sorted((f for g in ("vms", "ingress") for f in matrix.into(sid, g)),
                                   key=lambda f: f.id) if ServerRole.k8s_worker in server.roles else []
                text = ruleset(host, sid, inbound, crossing if is_gw else [], k8s, pod, published, server.uplink_nic)
                yield Artifact(f"sites/{sid}/nftables/{host}.nft", text.encode("utf-8"), sid)
