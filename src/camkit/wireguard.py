"""WireGuard tunnels for private systems: who terminates each tunnel, its addresses and allowed IPs.

A private system's tunnel ends on the gateway of its nearest ancestor that has one (its ward, else
its district). Tunnel addresses are the private site's transit /31 (hub = parent end). The spoke may
send only to the published VMS addresses it publishes to and the hub's tunnel address (the flow matrix allows nothing
else); the hub accepts from the spoke only the private site's own addresses.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from camkit.ipplan import Plan
from camkit.loader import Inventory
from camkit.model import ServerRole, SiteKind
from camkit.secrets import Store
from camkit.topology import Topology

PORT = 51820


@dataclass(frozen=True)
class Tunnel:
    site: str  # the private system
    spoke: str  # its server (tunnel endpoint)
    hub_site: str
    hub: str  # the gateway host that terminates the tunnel
    hub_address: str
    spoke_address: str
    spoke_allowed: tuple[str, ...]  # what the spoke may send to (through the tunnel)
    hub_allowed: tuple[str, ...]  # what the hub accepts from the spoke
    endpoint: str | None  # host:port of the hub on the Internet


def hub_of(inv: Inventory, sid: str) -> tuple[str, str] | None:
    for anc in inv.ancestors(sid):
        site = inv.sites[anc]
        for server in site.servers:
            if ServerRole.gateway in server.roles:
                return anc, site.hostname(server.name)
    return None


def tunnels(inv: Inventory, plan: Plan) -> list[Tunnel]:
    out = []
    for sid, site in inv.sites.items():
        if site.kind is not SiteKind.private_system or not site.servers or not site.parent:
            continue
        hub = hub_of(inv, sid)
        ends = plan.transit_ends(sid)
        if hub is None or ends is None:
            continue
        # what the spoke may send to: the published RTSPS addresses of the VMS it publishes to (the topology's)
        # and, when it has cameras to publish, the city SSO's ingress (its recorder's publish token)
        topo = Topology.of(inv)
        target, cams = topo.publishers.get(sid, (site.parent, ()))
        recorders = plan.vms_addresses(target)
        sso = plan.service_ip(topo.sso_site, "ingress") if cams and topo.sso_site else None
        if sso:
            recorders = [*recorders, sso]
        own = [str(s.cidr) for s in plan.site_subnets(sid)]
        out.append(Tunnel(
            site=sid, spoke=site.hostname(site.servers[0].name), hub_site=hub[0], hub=hub[1],
            hub_address=ends[0], spoke_address=ends[1],
            spoke_allowed=tuple([f"{ends[0]}/32"] + [f"{ip}/32" for ip in recorders]),
            hub_allowed=tuple([f"{ends[1]}/32"] + own),
            endpoint=inv.sites[hub[0]].uplink.public_endpoint))
    return out


def check(inv: Inventory, plan: Plan) -> None:
    """Every private system needs a hub gateway with a public endpoint (part of `camkit validate`)."""
    from camkit.diagnostics import Diagnostic, InventoryError, Position

    problems = []
    for sid, site in inv.sites.items():
        if site.kind is not SiteKind.private_system:
            continue
        where = inv.positions.get(f"site.{sid}", Position(sid))
        hub = hub_of(inv, sid)
        if not site.servers:
            problems.append(Diagnostic(where, f"private system '{sid}' has no server to end its tunnel",
                                       "give it a server (its NVR) in the site or its profile"))
        elif hub is None:
            problems.append(Diagnostic(where, f"private system '{sid}' has no ancestor with a gateway server",
                                       "its ward or district needs a server with role 'gateway' to end the tunnel"))
        elif not inv.sites[hub[0]].uplink.public_endpoint:
            problems.append(Diagnostic(inv.positions.get(f"site.{hub[0]}", Position(hub[0])),
                                       f"site '{hub[0]}' ends the WireGuard tunnel of '{sid}' but its uplink has no "
                                       "public_endpoint", "set uplink.public_endpoint: <host>:51820"))
    if problems:
        raise InventoryError(problems)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def public_key(private_b64: str) -> str:
    from cryptography.hazmat.primitives import serialization  # imported here: validate needs no key (0.25 s)
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private_b64))
    return _b64(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def ensure_keys(inv: Inventory, plan: Plan, store: Store) -> list[str]:
    """A key pair per tunnel endpoint; private keys in the vault, public keys in public/wireguard/."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    created = []
    hosts = set()
    for t in tunnels(inv, plan):
        hosts.update([(t.site, t.spoke), (t.hub_site, t.hub)])
    for sid, host in sorted(hosts):
        keys = store.doc(sid).setdefault("wireguard_keys", {})
        if host not in keys:
            raw = X25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
            keys[host] = _b64(raw)
            store._dirty.add(sid)
            created.append(f"WireGuard key {host}")
        store.write_public(f"wireguard/{host}.pub", (public_key(keys[host]) + "\n").encode())
    return created


def fill(text: str, inv: Inventory, store: Store, host: str) -> str:
    """Replace the key placeholders of a rendered config with the store's keys (install step)."""
    sid, _ = inv.hosts[host]
    text = text.replace("{{ camkit_wireguard_private_key }}", store.doc(sid)["wireguard_keys"][host])
    for pub in store.public("wireguard").glob("*.pub"):
        text = text.replace(f"{{{{ camkit_wireguard_public_keys['{pub.stem}'] }}}}", pub.read_text().strip())
    return text
