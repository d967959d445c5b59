"""The IP plan: hierarchical, stable allocation of blocks, subnets, transit links and host addresses.

The city space is divided among tier-1 and tier-2 sites; each tier-2 block holds the blocks of its
wards and private systems. Each site gets one subnet per network role sized to its hosts plus the
headroom of city.yml. Everything handed out is recorded in `ipplan.lock.yml`, so adding or removing
a site or a camera never renumbers anything else; pinned (existing) subnets are kept as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable
from urllib.parse import urlsplit

import yaml
from netaddr import AddrFormatError, IPAddress, IPNetwork, IPSet
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from camkit.diagnostics import Collector, Diagnostic, InventoryError, Position
from camkit.model import NetworkRole, ServerRole, Site

if TYPE_CHECKING:
    from camkit.loader import Inventory

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

LOCK_NAME = "ipplan.lock.yml"
MAX_LOCK_BYTES = 64 << 20
ROLE_ORDER = [r.value for r in NetworkRole]
STORAGE_NET_ROLES = {ServerRole.storage, ServerRole.k8s_worker, ServerRole.k8s_control}


# --- lock file ----------------------------------------------------------------------------------


class LockSite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    block: str | None = None
    transit: str | None = None
    subnets: dict[NetworkRole, str] = Field(default_factory=dict)
    # host offsets inside each subnet; in the file one "<name> <offset>" line per host (fast to read)
    hosts: dict[NetworkRole, dict[str, int]] = Field(default_factory=dict)

    @field_validator("hosts", mode="before")
    @classmethod
    def _parse_lines(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        parsed: dict[object, object] = {}
        for role, body in value.items():
            if isinstance(body, str):
                table: dict[str, int] = {}
                for n, line in enumerate(body.splitlines(), 1):
                    if not line.strip():
                        continue
                    parts = line.split()
                    if len(parts) != 2 or not parts[1].isdigit():
                        raise ValueError(f"hosts.{role} line {n}: expected '<name> <offset>', got {line!r}")
                    table[parts[0]] = int(parts[1])
                parsed[role] = table
            else:
                parsed[role] = body
        return parsed


class LockFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    sites: dict[str, LockSite] = Field(default_factory=dict)


def read_lock(path: Path, name: str) -> LockFile:
    """Read the lock; it is machine-written, so it is parsed fast and checked by schema only."""
    from camkit.sources import SourceError, depth_check, diagnostics_of, read_text

    if not path.exists() and not path.is_symlink():
        return LockFile()
    problems: list[Diagnostic] = []
    try:
        text = read_text(path, MAX_LOCK_BYTES, name)  # a link, a FIFO or an oversized lock is refused, not read
        depth_check(text, name)
    except SourceError as exc:
        raise InventoryError(diagnostics_of(exc)) from exc
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - safe loader
        return LockFile.model_validate(data or {})
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(Diagnostic(Position(name), f"unreadable lock file: {exc}",
                                   "restore it from version control, or delete it to re-plan from scratch"))
    except ValidationError as exc:
        for err in exc.errors(include_url=False)[:20]:
            loc = ".".join(str(p) for p in err["loc"])
            problems.append(Diagnostic(Position(name), f"lock file {loc}: {err['msg']}",
                                       "restore it from version control; it is written by `camkit plan --write-lock`"))
    raise InventoryError(problems)


def dump_lock(lock: LockFile) -> str:
    body = lock.model_dump(mode="json", exclude_defaults=False)
    for site in body["sites"].values():
        site["subnets"] = dict(sorted(site["subnets"].items(), key=lambda kv: ROLE_ORDER.index(kv[0])))
        site["hosts"] = {role: _Block("".join(f"{k} {v}\n" for k, v in sorted(h.items()))) for role, h in
                         sorted(site["hosts"].items(), key=lambda kv: ROLE_ORDER.index(kv[0])) if h}
    header = ("# Written by `camkit plan --write-lock`. Keeps every allocation stable across runs:\n"
              "# commit it with the inventory. Remove a site's entry to re-plan that site on purpose.\n")
    return header + yaml.dump(body, Dumper=_LockDumper, sort_keys=False, allow_unicode=True, width=120,
                              default_flow_style=False)


class _Block(str):
    """A string dumped as a YAML literal block."""


class _LockDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


_LockDumper.add_representer(_Block, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style="|"))


# --- plan data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subnet:
    site: str
    role: NetworkRole
    cidr: IPNetwork
    vlan: int
    hosts: int  # addresses the model needs now
    pinned: bool
    reserved_head: int

    @property
    def gateway(self) -> IPAddress:
        return IPAddress(self.cidr.first + 1)

    @property
    def capacity(self) -> int:
        """Host addresses left for devices after network, broadcast, gateway and VRRP addresses."""
        return self.cidr.size - 2 - self.reserved_head


@dataclass(frozen=True)
class Assignment:
    key: str  # camera id, server hostname, switch hostname
    kind: str  # camera | server | switch | gateway
    site: str
    role: NetworkRole
    ip: str
    prefixlen: int
    gateway: str
    vlan: int


@dataclass
class Plan:
    blocks: dict[str, IPNetwork] = field(default_factory=dict)
    subnets: dict[tuple[str, NetworkRole], Subnet] = field(default_factory=dict)
    transit: dict[str, IPNetwork] = field(default_factory=dict)  # site -> /31 to its parent
    assignments: dict[tuple[NetworkRole, str], Assignment] = field(default_factory=dict)
    lock: LockFile = field(default_factory=LockFile)
    _services: dict[str, dict[str, str]] | None = field(default=None, repr=False, compare=False)

    def site_subnets(self, site_id: str) -> list[Subnet]:
        return [self.subnets[(site_id, r)] for r in NetworkRole if (site_id, r) in self.subnets]

    def camera_vlan(self, site_id: str, default: int) -> int:
        """The VLAN of the site's camera subnet; `default` (the city's camera VLAN) when it has none."""
        sub = self.subnets.get((site_id, NetworkRole.cameras))
        return sub.vlan if sub else default

    def camera_ip(self, camera_id: str) -> str | None:
        a = self.assignments.get((NetworkRole.cameras, camera_id))
        return a.ip if a else None

    def service_ip(self, site_id: str, name: str) -> str | None:
        """The planned address of a site's published service (`ingress`, `vms-<i>`), if it publishes it."""
        a = self.assignments.get((NetworkRole.servers, service_key(site_id, name)))
        return a.ip if a else None

    def services(self, site_id: str) -> dict[str, str]:
        """name -> planned address of every service the site publishes (ingress first, then VMS shards)."""
        if self._services is None:
            self._services = {}
            for (role, key), a in self.assignments.items():
                if role is NetworkRole.servers and a.kind == "service":
                    site, _, name = key.partition("/")
                    self._services.setdefault(site, {})[name] = a.ip
        return dict(self._services.get(site_id, {}))

    def vms_addresses(self, site_id: str) -> tuple[str, ...]:
        """The published addresses of the site's VMS shards, in shard order."""
        return tuple(ip for name, ip in self.services(site_id).items() if name.startswith(VMS_SERVICE_PREFIX))

    def for_host(self, key: str) -> list[Assignment]:
        return [self.assignments[(r, key)] for r in NetworkRole if (r, key) in self.assignments]

    def transit_ends(self, site_id: str) -> tuple[str, str] | None:
        """(parent end, site end) of a site's uplink /31."""
        net = self.transit.get(site_id)
        if net is None:
            return None
        return str(IPAddress(net.first)), str(IPAddress(net.first + 1))


# --- planning -----------------------------------------------------------------------------------


def prefix_for(hosts: int, headroom_percent: int, reserved_head: int, min_prefix: int, exact: int = 0) -> int:
    """Smallest subnet (largest prefix length, at most min_prefix) holding hosts plus headroom, plus `exact`
    addresses that get no headroom (published service addresses: the sizing already counts them)."""
    need = math.ceil(hosts * (100 + headroom_percent) / 100) + exact + reserved_head + 2
    bits = max(2, math.ceil(math.log2(need)))
    return min(32 - bits, min_prefix)


def block_prefix(sizes: Iterable[int], growth_percent: int) -> int:
    total = sum(sizes)
    total = math.ceil(total * (100 + growth_percent) / 100)
    return 32 - max(0, math.ceil(math.log2(max(total, 1))))


def host_needs(site: Site, cameras: int, services: int = 0) -> dict[NetworkRole, int]:
    return {
        NetworkRole.cameras: cameras,
        NetworkRole.management: len(site.servers) + len(site.switches),
        NetworkRole.servers: len(site.servers) + services,
        NetworkRole.storage: sum(1 for s in site.servers if STORAGE_NET_ROLES.intersection(s.roles)),
        NetworkRole.operators: site.operators,
    }


def _net(text: str, where: Position, what: str, out: Collector) -> IPNetwork | None:
    try:
        net = IPNetwork(text)
    except (AddrFormatError, ValueError, TypeError):
        out.add(where, f"{what} '{text}' is not an IPv4 network", "write it as a.b.c.d/len, e.g. 10.20.0.0/24")
        return None
    if net.version != 4:
        out.add(where, f"{what} '{text}' is not IPv4", "the plan is IPv4 only")
        return None
    if net.network != net.ip:
        out.add(where, f"{what} '{text}' has host bits set", f"did you mean {net.cidr}?")
        return None
    return net


def _first_fit(free: IPSet, prefix: int) -> IPNetwork | None:
    for cidr in free.iter_cidrs():
        if cidr.prefixlen <= prefix:
            return IPNetwork(f"{cidr.network}/{prefix}")
    return None


def _free_summary(free: IPSet, limit: int = 4) -> str:
    cidrs = sorted(free.iter_cidrs(), key=lambda c: (c.prefixlen, c.first))[:limit]
    if not cidrs:
        return "nothing is free"
    return "largest free: " + ", ".join(str(c) for c in cidrs)


def service_key(site_id: str, name: str) -> str:
    """The plan's (and the lock's) key of a published service address: no hostname contains '/'."""
    return f"{site_id}/{name}"


VMS_SERVICE_PREFIX = "vms-"


def vms_service(shard: int) -> str:
    """The published service name of a VMS shard (the address its LoadBalancer Service asks MetalLB for)."""
    return f"{VMS_SERVICE_PREFIX}{shard}"


def plan(inv: Inventory, positions: dict[str, Position] | None = None,
         published: dict[str, tuple[str, ...]] | None = None) -> Plan:
    """Compute the whole IP plan; raise InventoryError with every problem found.

    `published`: site -> names of the services it publishes (sizing.published_services); each gets an address
    in the site's servers subnet, where the nodes are (MetalLB answers ARP for it there), locked like a host."""
    published = published or {}
    positions = positions or getattr(inv, "positions", {})
    city = inv.city
    out = Collector()
    city_pos = lambda key: positions.get(f"city.{key}", Position(str(inv.root / "city.yml")))  # noqa: E731
    lock = inv.lock if isinstance(inv.lock, LockFile) else LockFile()
    lock_name = str(inv.root / LOCK_NAME)

    space = _net(city.address_space, city_pos("address_space"), "address_space", out)
    transit_space = _net(city.transit_space, city_pos("transit_space"), "transit_space", out)
    exclusions: list[tuple[IPNetwork, str, Position]] = []
    for i, r in enumerate(city.reserved):
        net = _net(r.cidr, city_pos(f"reserved.{i}"), "reserved range", out)
        if net is not None:
            exclusions.append((net, f"reserved ({r.reason})", city_pos(f"reserved.{i}")))
    for key in ("pod_cidr", "service_cidr"):
        net = _net(getattr(city.kubernetes, key), city_pos(f"kubernetes.{key}"), f"kubernetes.{key}", out)
        if net is not None:
            exclusions.append((net, f"Kubernetes {key.replace('_cidr', '')} range", city_pos(f"kubernetes.{key}")))
    out.raise_if_any()
    assert space is not None and transit_space is not None
    if space == transit_space or space.first <= transit_space.last and transit_space.first <= space.last:
        if not (transit_space in space):
            out.add(city_pos("transit_space"), f"transit_space {transit_space} overlaps address_space {space}",
                    "use a separate range, or one inside address_space that nothing else uses")
        else:
            exclusions.append((transit_space, "transit_space", city_pos("transit_space")))
    for net, why, where in exclusions:
        if net.first <= transit_space.last and transit_space.first <= net.last and why != "transit_space":
            out.add(where, f"{why} {net} overlaps transit_space {transit_space}", "move one of them")

    # pinned subnets: inside the space, clear of exclusions and of each other
    pinned: dict[tuple[str, NetworkRole], IPNetwork] = {}
    for site in inv.sites.values():
        for role, pin in sorted(site.networks.items(), key=lambda kv: kv[0].value):
            where = positions.get(f"site.{site.id}.networks.{role.value}", Position(site.id))
            net = _net(pin.subnet, where, f"pinned {role.value} subnet", out)
            if net is None:
                continue
            if net not in space:
                out.add(where, f"pinned subnet {net} of site '{site.id}' is outside address_space {space}",
                        "renumber the legacy network or widen address_space in city.yml")
                continue
            for other, why, _ in exclusions:
                if net.first <= other.last and other.first <= net.last:
                    out.add(where, f"pinned subnet {net} of site '{site.id}' overlaps the {why} {other}",
                            "Kubernetes and reserved ranges must never collide with site subnets")
            for (osite, orole), other in pinned.items():
                if net.first <= other.last and other.first <= net.last:
                    out.add(where, f"pinned subnet {net} of site '{site.id}' overlaps {other} pinned by site "
                            f"'{osite}' ({orole.value})", "two sites cannot keep the same addresses")
            pinned[(site.id, role)] = net
    out.raise_if_any()

    free = IPSet([space])
    for net, _, _ in exclusions:
        free.remove(net)
    for net in pinned.values():
        free.remove(net)

    result = Plan()
    new_lock = LockFile(version=1)
    cams = inv.cameras_by_site
    specs = {r: getattr(city.networks, r.value) for r in NetworkRole}
    head = city.addressing.reserved_head

    # required prefix per (site, role) for the roles not pinned
    need_hosts = {sid: host_needs(s, len(cams[sid]), len(published.get(sid, ()))) for sid, s in inv.sites.items()}
    need_prefix: dict[str, dict[NetworkRole, int]] = {}
    for sid, needs in need_hosts.items():
        need_prefix[sid] = {}
        for role, n in needs.items():
            if n == 0 or (sid, role) in pinned:
                continue
            spec = specs[role]
            exact = len(published.get(sid, ())) if role is NetworkRole.servers else 0
            need_prefix[sid][role] = prefix_for(n - exact, spec.headroom_percent, head, spec.min_prefix, exact)

    # block sizes: own subnets; tier-2 blocks also hold their tier-3 descendants
    tier3_of: dict[str, list[str]] = {sid: [] for sid in inv.sites}
    for sid, site in inv.sites.items():
        if site.tier == 3:
            t2 = inv.tier2_of(sid)
            if t2 is not None:
                tier3_of[t2].append(sid)

    def own_prefix(sid: str) -> int | None:
        sizes = [1 << (32 - p) for p in need_prefix[sid].values()]
        if not sizes:
            return None
        return block_prefix(sizes, city.addressing.site_growth_percent)

    block_need: dict[str, int | None] = {}
    for sid, site in inv.sites.items():
        if site.tier == 3:
            block_need[sid] = own_prefix(sid)
    for sid, site in inv.sites.items():
        if site.tier == 3:
            continue
        sizes = [1 << (32 - p) for p in need_prefix[sid].values()]
        if site.tier == 2:
            sizes += [1 << (32 - p) for c in tier3_of[sid] if (p := block_need[c]) is not None]
            block_need[sid] = block_prefix(sizes, city.addressing.tier2_growth_percent) if sizes else None
        else:
            block_need[sid] = block_prefix(sizes, city.addressing.site_growth_percent) if sizes else None

    def make(sid: str, role: NetworkRole, net: IPNetwork) -> Subnet:
        return Subnet(sid, role, net, specs[role].vlan, need_hosts[sid][role], False, head)

    def lock_net(sid: str, text: str, what: str) -> IPNetwork | None:
        net = _net(text, Position(lock_name), f"lock {sid} {what}", out)
        return net

    # 1. blocks of tier-1/2 sites from the city space (locked ones first)
    top = [sid for sid, s in inv.sites.items() if s.tier < 3]
    for sid in top:
        ls = lock.sites.get(sid)
        if ls and ls.block:
            net = lock_net(sid, ls.block, "block")
            if net is None:
                continue
            if net not in space or not _is_free(free, net):
                out.add(Position(lock_name), f"locked block {net} of site '{sid}' is outside the free address space "
                        "or overlaps another allocation", f"remove the '{sid}' entry from {LOCK_NAME} to re-plan it")
                continue
            free.remove(net)
            result.blocks[sid] = net
    new_top = sorted((sid for sid in top if sid not in result.blocks and block_need[sid] is not None),
                     key=lambda s: (block_need[s], s))
    for sid in new_top:
        prefix = block_need[sid]
        assert prefix is not None
        net = _first_fit(free, prefix)
        if net is None:
            out.add(positions.get(f"site.{sid}", Position(sid)),
                    f"address_space {space} is full: site '{sid}' needs a /{prefix} block",
                    f"{_free_summary(free)}; widen address_space in city.yml")
            continue
        free.remove(net)
        result.blocks[sid] = net

    # 2. inside each tier-2 block: tier-3 blocks; inside every block: the site's own subnets
    block_free: dict[str, IPSet] = {sid: IPSet([net]) for sid, net in result.blocks.items()}
    for sid, site in inv.sites.items():
        if site.tier != 2 or sid not in result.blocks:
            continue
        children = tier3_of[sid]
        for cid in children:
            ls = lock.sites.get(cid)
            if ls and ls.block:
                net = lock_net(cid, ls.block, "block")
                if net is None:
                    continue
                if net not in result.blocks[sid] or not _is_free(block_free[sid], net):
                    out.add(Position(lock_name), f"locked block {net} of '{cid}' is not free inside the block "
                            f"{result.blocks[sid]} of '{sid}'", f"remove the '{cid}' entry from {LOCK_NAME} to re-plan it")
                    continue
                block_free[sid].remove(net)
                result.blocks[cid] = net
        # the tier-2 site's own subnets come before new wards so they stay at the start of the block
        _place_subnets(sid, result.blocks[sid], block_free[sid], need_prefix[sid], lock, result, out, positions, make)
        for cid in sorted((c for c in children if c not in result.blocks and block_need[c] is not None),
                          key=lambda c: (block_need[c], c)):
            prefix = block_need[cid]
            assert prefix is not None
            net = _first_fit(block_free[sid], prefix)
            if net is None:
                out.add(positions.get(f"site.{cid}", Position(cid)),
                        f"the block {result.blocks[sid]} of '{sid}' is full: site '{cid}' needs a /{prefix}",
                        f"{_free_summary(block_free[sid])}; remove '{sid}' from {LOCK_NAME} to re-plan the "
                        "district with a bigger block (renumbers it), or free space in it")
                continue
            block_free[sid].remove(net)
            result.blocks[cid] = net
            block_free[cid] = IPSet([net])
    for sid, site in inv.sites.items():
        if site.tier == 2 or sid not in result.blocks:
            continue
        if sid not in block_free:
            block_free[sid] = IPSet([result.blocks[sid]])
        _place_subnets(sid, result.blocks[sid], block_free[sid], need_prefix[sid], lock, result, out, positions, make)
    out.raise_if_any()

    # 3. pinned subnets join the plan as they are
    for (sid, role), net in pinned.items():
        n = need_hosts[sid][role]
        sub = Subnet(sid, role, net, specs[role].vlan, n, True, head)
        if n > sub.capacity:
            out.add(positions.get(f"site.{sid}.networks.{role.value}", Position(sid)),
                    f"pinned {role.value} subnet {net} of '{sid}' holds {sub.capacity} hosts, {n} are needed",
                    "pin a larger subnet or remove the pin to let camkit allocate one")
        result.subnets[(sid, role)] = sub

    # 4. transit /31s
    tfree = IPSet([transit_space])
    for sid, site in inv.sites.items():
        ls = lock.sites.get(sid)
        if site.parent and ls and ls.transit:
            net = lock_net(sid, ls.transit, "transit")
            if net is not None and net.prefixlen == 31 and net in transit_space and _is_free(tfree, net):
                tfree.remove(net)
                result.transit[sid] = net
    for sid, site in inv.sites.items():
        if site.parent and sid not in result.transit:
            net = _first_fit(tfree, 31)
            if net is None:
                out.add(city_pos("transit_space"), f"transit_space {transit_space} is full: '{sid}' needs a /31",
                        "widen transit_space in city.yml")
                continue
            tfree.remove(net)
            result.transit[sid] = net
    out.raise_if_any()

    # 5. host addresses
    _assign_hosts(inv, result, lock, out, positions, published)
    out.raise_if_any()

    # the new lock records exactly what the plan holds
    for sid in inv.sites:
        ls = LockSite(
            block=str(result.blocks[sid]) if sid in result.blocks else None,
            transit=str(result.transit[sid]) if sid in result.transit else None,
            subnets={s.role: str(s.cidr) for s in result.site_subnets(sid) if not s.pinned},
            hosts={},
        )
        new_lock.sites[sid] = ls
        if sid in result.lock.sites:
            ls.hosts = {r: h for r, h in result.lock.sites[sid].hosts.items() if h}
    result.lock = new_lock
    return result


def _dotted(n: int) -> str:
    return f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def _is_free(free: IPSet, net: IPNetwork) -> bool:
    return IPSet([net]).issubset(free)


def _place_subnets(sid: str, block: IPNetwork, free: IPSet, needs: dict[NetworkRole, int], lock: LockFile,
                   result: Plan, out: Collector, positions: dict[str, Position],
                   make: Callable[[str, NetworkRole, IPNetwork], Subnet]) -> None:
    ls = lock.sites.get(sid)
    placed: dict[NetworkRole, IPNetwork] = {}
    for role, prefix in needs.items():
        text = ls.subnets.get(role) if ls else None
        if not text:
            continue
        net = IPNetwork(text)
        if net not in block or not _is_free(free, net):
            out.add(Position(LOCK_NAME), f"locked {role.value} subnet {net} of '{sid}' is not free inside its block {block}",
                    f"remove the '{sid}' entry from {LOCK_NAME} to re-plan the site")
            continue
        if net.prefixlen > prefix:
            out.add(positions.get(f"site.{sid}", Position(sid)),
                    f"site '{sid}' has outgrown its {role.value} subnet {net}: it needs a /{prefix}",
                    f"remove the '{sid}' {role.value} subnet from {LOCK_NAME} to move it to a larger one "
                    f"(its hosts are renumbered); {_free_summary(free)} in {block}")
            continue
        free.remove(net)
        placed[role] = net
    for role, prefix in sorted(needs.items(), key=lambda kv: (kv[1], ROLE_ORDER.index(kv[0].value))):
        if role in placed:
            continue
        net = _first_fit(free, prefix)
        if net is None:
            out.add(positions.get(f"site.{sid}", Position(sid)),
                    f"the block {block} of site '{sid}' is full: its {role.value} subnet needs a /{prefix}",
                    f"{_free_summary(free)}; remove '{sid}' from {LOCK_NAME} to re-plan it with a larger block")
            continue
        free.remove(net)
        placed[role] = net
    result.subnets.update({(sid, role): make(sid, role, net) for role, net in placed.items()})


def _assign_hosts(inv: Inventory, result: Plan, lock: LockFile, out: Collector,
                  positions: dict[str, Position], published: dict[str, tuple[str, ...]]) -> None:
    head = inv.city.addressing.reserved_head
    for sid, site in inv.sites.items():
        members: dict[NetworkRole, list[tuple[str, str]]] = {r: [] for r in NetworkRole}
        members[NetworkRole.cameras] = [(c.id, "camera") for c in inv.cameras_by_site[sid]]
        for server in site.servers:
            host = site.hostname(server.name)
            members[NetworkRole.servers].append((host, "server"))
            members[NetworkRole.management].append((host, "server"))
            if STORAGE_NET_ROLES.intersection(server.roles):
                members[NetworkRole.storage].append((host, "server"))
        for sw in site.switches:
            members[NetworkRole.management].append((site.hostname(sw.id), "switch"))
        members[NetworkRole.servers] += [(service_key(sid, name), "service") for name in published.get(sid, ())]
        gateway_host = next((site.hostname(s.name) for s in site.servers if ServerRole.gateway in s.roles), None)
        ls = lock.sites.get(sid)
        for role, hosts in members.items():
            sub = result.subnets.get((sid, role))
            if sub is None:
                continue
            if gateway_host:
                result.assignments[(role, f"{gateway_host}#gw")] = Assignment(
                    gateway_host, "gateway", sid, role, str(sub.gateway), sub.cidr.prefixlen, str(sub.gateway), sub.vlan)
            if not hosts:
                continue
            locked = (ls.hosts.get(role, {}) if ls else {}) if _same_subnet(ls, role, sub) else {}
            used: set[int] = set()
            offsets: dict[str, int] = {}
            last = sub.cidr.size - 2
            if role is NetworkRole.cameras:
                for cam in inv.cameras_by_site[sid]:
                    if cam.ip is None:
                        continue
                    where = positions.get(f"camera.{cam.id}", Position(sid))
                    try:
                        off = int(IPAddress(cam.ip)) - sub.cidr.first
                    except (AddrFormatError, ValueError):
                        out.add(where, f"camera '{cam.id}': ip '{cam.ip}' is not an IPv4 address")
                        continue
                    if not head < off <= last:
                        out.add(where, f"camera '{cam.id}': ip {cam.ip} is not a host address of the camera subnet "
                                f"{sub.cidr} of '{sid}' (gateway and VRRP addresses excluded)",
                                "pin the legacy subnet in the site file (networks.cameras.subnet) or drop the ip")
                    elif off in used:
                        out.add(where, f"camera '{cam.id}': ip {cam.ip} is used by another camera")
                    else:
                        offsets[cam.id] = off
                        used.add(off)
            for key, _ in hosts:
                off = locked.get(key)
                if key not in offsets and off is not None and head < off <= last and off not in used:
                    offsets[key] = off
                    used.add(off)
            nxt = head + 1
            for key, _ in hosts:
                if key in offsets:
                    continue
                while nxt in used:
                    nxt += 1
                if nxt > last:
                    out.add(positions.get(f"site.{sid}", Position(sid)),
                            f"{role.value} subnet {sub.cidr} of '{sid}' has no address left for '{key}'",
                            f"it holds {sub.capacity} hosts; remove the subnet from {LOCK_NAME} to re-plan it larger")
                    break
                offsets[key] = nxt
                used.add(nxt)
            base = sub.cidr.first
            gw = str(sub.gateway)
            for key, kind in hosts:
                if key in offsets:
                    result.assignments[(role, key)] = Assignment(
                        key, kind, sid, role, _dotted(base + offsets[key]), sub.cidr.prefixlen, gw, sub.vlan)
            if offsets:
                result.lock.sites.setdefault(sid, LockSite()).hosts[role] = dict(offsets)
            if role is NetworkRole.cameras:  # a stream_url points at the camera itself (with an ip: the loader checks)
                for cam in inv.cameras_by_site[sid]:
                    if cam.stream_url is None or cam.ip is not None or cam.id not in offsets:
                        continue
                    planned = _dotted(base + offsets[cam.id])
                    host = urlsplit(cam.stream_url).hostname or ""
                    if host != planned:
                        out.add(positions.get(f"camera.{cam.id}", Position(sid)),
                                f"camera '{cam.id}': stream_url points at {host[:40]!r}, not at the camera's planned "
                                f"address {planned}", "set the camera's ip and use it in the stream_url, or drop the "
                                "stream_url (the VMS pulls the camera itself; a relay or another host is not allowed)")


def _same_subnet(ls: LockSite | None, role: NetworkRole, sub: Subnet) -> bool:
    if ls is None:
        return False
    if sub.pinned:
        return True  # pinned subnets never move, so their host offsets stay valid
    return ls.subnets.get(role) == str(sub.cidr)
