"""The flow matrix: every permitted network flow, derived from the model, the plan and the access model.

Nothing else may pass: the nftables, switch and Kubernetes policies are renderings of this list.
Each flow says why it exists (the master plan section or the component that needs it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from camkit.access import AccessModel
from camkit.ipplan import Plan
from camkit.loader import Inventory
from camkit.model import Camera, CameraModelSpec, City, NetworkRole, ServerRole, Site, SiteKind
from camkit.topology import Topology

# Ports, each with the component that listens (referenced by flows; one place to change them).
RTSP = ("tcp", "554")  # camera RTSP
RTSPS_CAMERA = ("tcp", "322")  # camera RTSP over TLS (ONVIF Streaming spec default)


def pull_port(cam: Camera, model: CameraModelSpec | None, city: City) -> int:
    """The port a VMS pulls this camera's main stream from: its stream_url's (the scheme's default when it names
    none), else RTSPS where it is pulled over TLS, else RTSP. The VMS values and the camera's profile read it
    (`camkit cameras audit` checks that the camera's GetStreamUri serves there)."""
    from urllib.parse import urlsplit

    from camkit.loader import pulled_over_tls

    if cam.stream_url:
        u = urlsplit(cam.stream_url)
        return u.port or int(RTSPS_CAMERA[1] if u.scheme == "rtsps" else RTSP[1])
    return int(RTSPS_CAMERA[1] if pulled_over_tls(cam, model, city) else RTSP[1])
ONVIF_HTTPS = ("tcp", "443")  # camera ONVIF / web over HTTPS only (hardened profile)
VMS_RTSPS = ("tcp", "8322")  # MediaMTX RTSPS: live view and relays between tiers
VMS_PLAYBACK = ("tcp", "9996")  # MediaMTX playback server over HTTPS: recorded video for operators
INGRESS_HTTPS = ("tcp", "443")  # Kubernetes ingress: VMS, IVA UI and APIs
NTP = ("udp", "123")
SYSLOG = ("udp", "514")
SYSLOG_TLS = ("tcp", "6514")
DNS_UDP = ("udp", "53")
DNS_TCP = ("tcp", "53")
RADIUS = ("udp", "1812-1813")
SSH = ("tcp", "22")
K8S_API = ("tcp", "6443")
S3_HTTPS = ("tcp", "443")  # Rook-Ceph RGW object store
WIREGUARD = ("udp", "51820")
ICMP_ECHO = ("icmp", "echo-request")
# RKE2 node-to-node (docs.rke2.io "Inbound network rules"): supervisor, etcd, kubelet, canal VXLAN, health
RKE2_TCP = ("tcp", "6443,9345,10250,2379-2381")
RKE2_UDP = ("udp", "8472")
CEPH = ("tcp", "3300,6789,6800-7300")
METALLB_TCP = ("tcp", "7946")  # MetalLB speaker memberlist (metallb.universe.tf, "Requirements")
METALLB_UDP = ("udp", "7946")
POSTGRES = ("tcp", "5432")


def is_camera_group(group: str) -> bool:
    """A site's camera subnet, or some of its cameras by address (those another unit's VMS records)."""
    return group == NetworkRole.cameras.value or group.startswith("cameras-of-")


@dataclass(frozen=True)
class Endpoint:
    """A named address group: a subnet of a site, or some of its hosts."""

    site: str
    group: str  # cameras, operators, management, recorders, radius, storage-nodes, servers, ...
    addresses: tuple[str, ...]  # CIDRs or host addresses

    @property
    def name(self) -> str:
        return f"{self.site}:{self.group}"

    @property
    def is_cameras(self) -> bool:
        return is_camera_group(self.group)

    @property
    def set_name(self) -> str:
        return f"{self.site}_{self.group}".replace("-", "_")


@dataclass(frozen=True)
class Flow:
    id: str
    src: Endpoint
    dst: Endpoint
    proto: str  # tcp, udp, icmp
    ports: str  # "554", "1812-1813", "6443,9345", or an ICMP type
    reason: str
    ref: str  # master plan section or component
    l2_local: bool = False  # stays inside one subnet: no gateway sees it
    # from the Internet to the destination host itself, on its uplink NIC: matched on that interface, not on a
    # source address (a private system's Internet address is whatever its ISP gives); no gateway forwards it
    via_uplink: bool = False

    def row(self) -> list[str]:
        return [self.id, self.src.name, ";".join(self.src.addresses), self.dst.name, ";".join(self.dst.addresses),
                self.proto, self.ports, self.reason, self.ref]


HEADER = ["id", "source", "source_addresses", "destination", "destination_addresses", "proto", "ports",
          "reason", "ref"]


class FlowMatrix:
    """Computes the flows once; renderers (matrix, nftables, ...) read it."""

    def __init__(self, inv: Inventory, plan: Plan, access: AccessModel, topology: Topology | None = None):
        self.inv, self.plan, self.access = inv, plan, access
        self.topology = topology if topology is not None else Topology(inv, access)
        self._hosts: dict[tuple[str, str, frozenset[ServerRole], NetworkRole], Endpoint | None] = {}

    # --- address groups ---------------------------------------------------------------------------

    def subnet(self, sid: str, role: NetworkRole) -> Endpoint | None:
        sub = self.plan.subnets.get((sid, role))
        return Endpoint(sid, role.value, (str(sub.cidr),)) if sub else None

    def hosts(self, sid: str, group: str, roles: set[ServerRole], net: NetworkRole = NetworkRole.servers) -> Endpoint | None:
        key = (sid, group, frozenset(roles), net)
        if key not in self._hosts:
            self._hosts[key] = self._hosts_of(sid, group, roles, net)
        return self._hosts[key]

    def _hosts_of(self, sid: str, group: str, roles: set[ServerRole], net: NetworkRole) -> Endpoint | None:
        site = self.inv.sites[sid]
        addrs = []
        for server in site.servers:
            if roles.intersection(server.roles):
                a = self.plan.assignments.get((net, site.hostname(server.name)))
                if a:
                    addrs.append(a.ip)
        return Endpoint(sid, group, tuple(addrs)) if addrs else None

    def recorders(self, sid: str) -> Endpoint | None:
        """The site's Kubernetes workers: VMS (MediaMTX), IVA and monitoring pods run there (SNAT to node)."""
        return self.hosts(sid, "recorders", {ServerRole.k8s_worker})

    def published(self, sid: str, group: str) -> Endpoint | None:
        """A site's published service addresses (the IP plan's, announced by MetalLB): `ingress` (HTTPS) or `vms`
        (every VMS shard's RTSPS address). Traffic to them is DNAT'd to pods on the node that announces them."""
        ip = self.plan.service_ip(sid, group)
        addrs = self.plan.vms_addresses(sid) if group == "vms" else ((ip,) if ip else ())
        return Endpoint(sid, group, addrs) if addrs else None

    def switches(self, sid: str) -> Endpoint | None:
        site = self.inv.sites[sid]
        addrs = [a.ip for sw in site.switches
                 if (a := self.plan.assignments.get((NetworkRole.management, site.hostname(sw.id))))]
        return Endpoint(sid, "switches", tuple(addrs)) if addrs else None

    def radius_site(self, sid: str) -> str | None:
        return self.topology.radius_site(sid)

    def cameras_of(self, sid: str, cams: list[str], owner: str) -> Endpoint | None:
        """Some cameras of a site, by address: those another unit's VMS records (its own cameras installed there)."""
        addrs = tuple(ip for c in cams if (ip := self.plan.camera_ip(c)) is not None)
        return Endpoint(sid, f"cameras-of-{owner}", addrs) if addrs else None

    def service(self, name: str) -> Endpoint | None:
        ref = getattr(self.inv.city.services, name)
        addrs, site = [], ""
        for host in ref.servers:
            sid, _ = self.inv.hosts[host]
            site = site or sid
            a = self.plan.assignments.get((NetworkRole.servers, host))
            if a:
                addrs.append(a.ip)
        return Endpoint(site, name, tuple(addrs)) if addrs else None

    # --- the flows --------------------------------------------------------------------------------

    @cached_property
    def flows(self) -> list[Flow]:
        out: list[Flow] = []
        ids: set[str] = set()
        private_only = False

        def add(src: Endpoint | None, dst: Endpoint | None, port: tuple[str, str], reason: str, ref: str,
                l2_local: bool = False, via_uplink: bool = False) -> None:
            if src is None or dst is None or not src.addresses or not dst.addresses:
                return
            if private_only and not (src.site == dst.site or reason.startswith("private system publishes")):
                return  # private systems reach nothing but their parent's recorder (VII.2.2.5)
            # content-derived ids: adding a site never renumbers the flows of another
            key = f"{src.name}|{dst.name}|{port[0]}|{port[1]}"
            fid = "F" + hashlib.sha256(key.encode()).hexdigest()[:8]
            if fid in ids:
                return
            ids.add(fid)
            out.append(Flow(fid, src, dst, port[0], port[1], reason, ref, l2_local, via_uplink))

        inv = self.inv
        ntp, dns, syslog = self.service("ntp"), self.service("dns"), self.service("syslog")
        topo = self.topology
        iocs = topo.iocs
        for sid, site in inv.sites.items():
            private_only = site.kind is SiteKind.private_system
            cams = self.subnet(sid, NetworkRole.cameras)
            rec = self.recorders(sid)
            mgmt = self.subnet(sid, NetworkRole.management)
            ops = self.subnet(sid, NetworkRole.operators)
            servers = self.hosts(sid, "servers", set(ServerRole))
            # cameras: recorded, managed, monitored; they reach only time and log servers
            add(rec, cams, RTSP, "VMS pulls camera streams (RTSP)", "VII.2.2.3.1 VMS recording")
            add(rec, cams, RTSPS_CAMERA, "VMS pulls camera streams (RTSPS where supported)", "VII.2.2.6 encryption")
            add(rec, cams, ONVIF_HTTPS, "VMS uses ONVIF over HTTPS (PTZ, events)", "VII.2.2.3.1 ONVIF, PTZ")
            add(mgmt, cams, ONVIF_HTTPS, "camera hardening and audit over ONVIF/HTTPS", "VII.2.2.4 b security check")
            add(rec, cams, ICMP_ECHO, "monitoring probes cameras", "VII.2.2.2 camera connection monitoring")
            add(cams, ntp, NTP, "cameras keep time from the city NTP servers", "724/QĐ-BTTTT time sync")
            add(cams, syslog, SYSLOG, "cameras send logs to the city collector", "724/QĐ-BTTTT logging")
            # access switches authenticate camera ports
            rs = self.radius_site(sid)
            if rs:
                add(self.switches(sid), self.hosts(rs, "radius", {ServerRole.radius}), RADIUS,
                    "switches authenticate camera ports (802.1X/MAB)", "VII.2.2.6 IEEE 802.1X/RADIUS")
            # operators use their own VMS and analytics only
            add(ops, self.published(sid, "ingress"), INGRESS_HTTPS, "operators use the VMS and IVA web UI and APIs",
                "VII.2.2.3 VMS/IVA")
            add(ops, self.published(sid, "vms"), VMS_RTSPS, "operators watch live video (RTSPS)",
                "VII.2.2.3.1 live view")
            add(ops, self.published(sid, "vms"), VMS_PLAYBACK, "operators play back recorded video (HTTPS)",
                "VII.2.2.3.1 playback")
            # servers: infrastructure services, management
            add(servers, ntp, NTP, "servers keep time", "CIS time sync")
            add(servers, dns, DNS_UDP, "servers resolve names", "infrastructure")
            add(servers, dns, DNS_TCP, "servers resolve names (TCP)", "infrastructure")
            add(servers, syslog, SYSLOG_TLS, "servers forward logs over TLS", "Decree 85/2016 logging")
            add(mgmt, servers, SSH, "local administration", "operations")
            for ioc in iocs:
                if ioc != sid:
                    add(self.subnet(ioc, NetworkRole.management), servers, SSH,
                        "central administration from the city IOC", "VII.2.2.4.2 managed centrally")
                    add(self.subnet(ioc, NetworkRole.management), rec, K8S_API,
                        "central cluster management from the city IOC", "VII.2.2.4.2 managed centrally")
            add(mgmt, rec, K8S_API, "local cluster administration", "operations")
            if sid == topo.sso_site:
                add(rec, self.hosts(sid, "sso-database", {ServerRole.infra}), POSTGRES,
                    "the SSO (Keycloak) keeps its realm in PostgreSQL on the infrastructure servers",
                    "VII.2.2.4.2 central identity", l2_local=True)
            if topo.sso_site is not None and topo.sso_site != sid:
                add(rec, self.published(topo.sso_site, "ingress"), INGRESS_HTTPS,
                    "VMS checks operators' tokens against the city SSO's signing keys (JWKS)",
                    "VII.2.2.4.2 central identity")
            # cluster internals (same subnet: host firewalls only)
            k8s = self.hosts(sid, "k8s-nodes", {ServerRole.k8s_control, ServerRole.k8s_worker})
            add(k8s, k8s, RKE2_TCP, "RKE2 control plane, etcd and kubelet", "component: RKE2", l2_local=True)
            add(k8s, k8s, RKE2_UDP, "canal VXLAN between nodes", "component: RKE2", l2_local=True)
            add(k8s, k8s, METALLB_TCP, "MetalLB speakers elect the node that announces each service address",
                "component: MetalLB (memberlist)", l2_local=True)
            add(k8s, k8s, METALLB_UDP, "MetalLB speakers elect the node that announces each service address",
                "component: MetalLB (memberlist)", l2_local=True)
            st = self.hosts(sid, "storage-nodes", {ServerRole.storage}, NetworkRole.storage)
            add(st, st, CEPH, "Ceph replication between storage nodes", "VII.2.2.4 storage redundancy",
                l2_local=True)
            # backups of tier 2 to the city data center
            if site.tier == 2 and inv.city.tiers.tier2.backup_to_city:
                for ioc in iocs:
                    add(self.hosts(sid, "storage-nodes", {ServerRole.storage}),
                        self.hosts(ioc, "object-store", {ServerRole.storage}), S3_HTTPS,
                        "tier-2 recordings and management data back up to the city", "VII.2.2.4 backup to the city")
            # private systems reach only their parent's recorder, through their tunnel
            if sid in topo.publishers:
                add(servers, self.published(topo.publishers[sid][0], "vms"), VMS_RTSPS,
                    "private system publishes its shared cameras to its ward/district recorder (tunnel)",
                    "VII.2.2.5 private cameras only after encryption")
                if topo.publishers[sid][1] and topo.sso_site is not None:
                    add(servers, self.published(topo.sso_site, "ingress"), INGRESS_HTTPS,
                        "private system publishes with a token: its recorder's client credentials at the city SSO "
                        "(publish on its own camera paths only), through its tunnel",
                        "VII.2.2.5 private cameras only after encryption")
        private_only = False
        # each private system's tunnel reaches its hub gateway from the Internet, on the hub's uplink only
        from camkit.wireguard import PORT as WG_PORT, tunnels

        for t in tunnels(inv, self.plan):
            hub_site = inv.sites[t.hub_site]
            hub = next(s for s in hub_site.servers if hub_site.hostname(s.name) == t.hub)
            add(Endpoint(t.site, "internet", ("0.0.0.0/0",)),
                Endpoint(t.hub_site, f"wireguard-hub-{hub.name}", tuple(server_ips(self.plan, hub_site, hub.name))),
                ("udp", str(WG_PORT)), f"the WireGuard tunnel of {t.site} from the Internet (the hub's uplink only)",
                "VII.2.2.5 private cameras only after encryption", via_uplink=True)
        # a unit's VMS records its cameras that sit on another site's network (e.g. police cameras at a ward)
        for at, where, cam_ids in topo.pulled_elsewhere():
            rec, owned = self.recorders(at), self.cameras_of(where, cam_ids, at)
            add(rec, owned, RTSP, f"the owner's VMS pulls its cameras at {where} (RTSP)", "VII.2.3 owner records")
            add(rec, owned, RTSPS_CAMERA, f"the owner's VMS pulls its cameras at {where} (RTSPS where supported)",
                "VII.2.2.6 encryption")
            add(rec, owned, ONVIF_HTTPS, f"the owner's VMS uses ONVIF of its cameras at {where}", "VII.2.2.3.1 ONVIF, PTZ")
            add(rec, owned, ICMP_ECHO, f"monitoring probes the owner's cameras at {where}",
                "VII.2.2.2 camera connection monitoring")
        # parent tiers and granted units pull streams from the VMS of the site that records the camera
        for viewer, holders in sorted(topo.relay_pairs.items()):
            vrec = self.recorders(viewer)
            for holder, reason in sorted(holders.items()):
                add(vrec, self.published(holder, "vms"), VMS_RTSPS, f"on-demand relay: {reason}",
                    "VII.2.2.4.2 distributed data, central access")
        return out

    # --- where each flow is enforced --------------------------------------------------------------

    def gateways(self, sid: str) -> list[str]:
        site = self.inv.sites[sid]
        return [site.hostname(s.name) for s in site.servers if ServerRole.gateway in s.roles]

    def path(self, a: str, b: str) -> list[str]:
        """Sites a packet crosses from site a to site b (both ends included): along the tier tree, and
        through the hub gateway for private systems (their WireGuard tunnel ends there)."""
        from camkit.wireguard import hub_of

        if a == b:
            return [a]  # inside one site: only that site's gateway, if any
        pre, post = [], []
        if self.inv.sites[a].kind is SiteKind.private_system and (hub := hub_of(self.inv, a)):
            pre, a = [a], hub[0]
        if self.inv.sites[b].kind is SiteKind.private_system and (hub := hub_of(self.inv, b)):
            post, b = [b], hub[0]
        if a == b:
            return pre + [a] + post
        return pre + self.topology.tree_path(a, b) + post

    @cached_property
    def by_gateway_site(self) -> dict[str, list[Flow]]:
        out: dict[str, list[Flow]] = {}
        for f in self.flows:
            if f.l2_local or f.via_uplink:
                continue
            for sid in self.path(f.src.site, f.dst.site):
                if self.gateways(sid):
                    out.setdefault(sid, []).append(f)
        return out

    def inbound(self, host_ip: str) -> list[Flow]:
        return self._inbound.get(host_ip, [])

    def into(self, site: str, group: str) -> list[Flow]:
        """Flows whose destination is a group of a site (e.g. the cameras of a ward)."""
        return self._into.get((site, group), [])

    def out_of(self, site: str, group: str) -> list[Flow]:
        """Flows whose source is a group of a site (e.g. what a district's recorders may reach)."""
        return self._out_of.get((site, group), [])

    def _by_end(self, end: str) -> dict[tuple[str, str], list[Flow]]:
        out: dict[tuple[str, str], list[Flow]] = {}
        for f in self.flows:
            ep = getattr(f, end)
            out.setdefault((ep.site, ep.group), []).append(f)
        return out

    @cached_property
    def _out_of(self) -> dict[tuple[str, str], list[Flow]]:
        return self._by_end("src")

    @cached_property
    def _into(self) -> dict[tuple[str, str], list[Flow]]:
        return self._by_end("dst")

    @cached_property
    def _inbound(self) -> dict[str, list[Flow]]:
        out: dict[str, list[Flow]] = {}
        for f in self.flows:
            for addr in f.dst.addresses:
                if "/" not in addr:
                    out.setdefault(addr, []).append(f)
        return out


def server_ips(plan: Plan, site: Site, name: str) -> list[str]:
    host = site.hostname(name)
    return [a.ip for a in plan.for_host(host) if a.kind == "server"]
