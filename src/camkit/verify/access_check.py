"""Who can watch each camera, proven from the rendered artifacts rather than from the model.

Reads what a deployment would load — each site's VMS values (recorded paths, relays and their sources), the
SSO realm (the `mediamtx_permissions` of every unit's roles), each IVA's inputs and the flow matrix — and
checks, for every camera, that the units whose SSO permissions read a path carrying it at any VMS are
exactly those the access model names (`camkit access who-can-see`), that what only the police rule grants
is read under the `<unit>.police-rule/` prefix, that every relay pulls from the VMS that records the camera
at an address the flow matrix lets the relaying VMS reach, that every VMS pulling a camera may reach its
address and port (flow matrix) and is admitted by the camera's IP filter (`cameras/profiles.json`), and that an
IVA analyses only cameras its unit may see, through a path its own VMS serves. The model is used for the
expected side only.

The network under each relay, JWKS and token URL and IVA input is proven from three rendered layers: the flow
matrix (`firewall/flows.json`), the forward chains of the target site's Kubernetes workers (`nftables/<host>.nft`:
the published-service rules a DNAT'd connection must pass) and the NetworkPolicies of both ends (each chart's
`networkPolicy` values, which the chart renders one rule to one object: `camkit.k8s.netpol`). A JWKS or token URL
must name a site's published ingress address.

Limits (said in the README): the values files are read, not `helm template` output (tests/test_charts.py proves
the NetworkPolicy rendering on the example), and MediaMTX, Keycloak, MetalLB and a Kubernetes API server do not
run here.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

import yaml

from camkit.access import AccessModel
from camkit.flows import INGRESS_HTTPS, VMS_RTSPS, is_camera_group
from camkit.k8s import NAMESPACES
from camkit.k8s.netpol import Policies, component_labels
from camkit.loader import Inventory
from camkit.model import ServerRole
from camkit.render.helm_values import INGRESS_CONTROLLER_PEER

_LITERAL = re.compile(r"^~\^((?:[A-Za-z0-9_-]|\\\.)+)/$")


def read_values(content: bytes) -> Any:
    """A camkit values file: comment lines, then JSON (a YAML subset)."""
    text = content.decode("utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return json.loads(body)


@dataclass
class Reader:
    """One permission of one SSO group (unit, role) as MediaMTX applies it to a path."""

    unit: str
    role: str
    pattern: str

    def matches(self, path: str) -> bool:
        if self.pattern.startswith("~"):
            return re.search(self.pattern[1:], path) is not None
        return self.pattern == path


@dataclass
class Report:
    cameras: int = 0
    paths: int = 0
    relays: int = 0
    violations: list[str] = field(default_factory=list)
    readers: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # camera -> unit -> "vms:path"

    @property
    def ok(self) -> bool:
        return not self.violations


def _readers(realm: Mapping[str, Any]) -> tuple[dict[str, dict[str, str]], list[Reader]]:
    """Read permissions of every group: by the literal first path segment they read (`~^<segment>/`, which
    matches every path under it: prefix -> unit -> a role), and the others (matched as MediaMTX does)."""
    by_prefix: dict[str, dict[str, str]] = {}
    other: list[Reader] = []

    def walk(group: Mapping[str, Any], unit: str | None) -> None:
        unit = (group.get("attributes", {}).get("camkit_site") or [unit])[0]
        perms = group.get("attributes", {}).get("mediamtx_permissions", [])
        for raw in perms:
            p = json.loads(raw)
            if p.get("action") != "read":
                continue
            r = Reader(unit or "?", group["name"], p.get("path", ""))
            m = _LITERAL.match(r.pattern)
            if m:
                by_prefix.setdefault(m.group(1).replace("\\.", "."), {}).setdefault(r.unit, r.role)
            else:
                other.append(r)
        for sub in group.get("subGroups", []):
            walk(sub, unit)

    for g in realm.get("groups", []):
        walk(g, None)
    return by_prefix, other


def check(inv: Inventory, files: Mapping[str, bytes]) -> Report:
    """`files`: the rendered tree of a city, path (relative to build/<city>/) -> content."""
    access = AccessModel(inv)
    rep = Report()
    vms: dict[str, Any] = {}
    iva: dict[str, Any] = {}
    realm: Mapping[str, Any] = {}
    profiles: dict[str, Any] = {}
    rulesets: dict[str, bytes] = {}  # host -> its rendered nftables ruleset
    for path, content in files.items():
        parts = path.split("/")
        if len(parts) == 4 and parts[0] == "sites" and parts[2] == "cameras" and parts[3] == "profiles.json":
            profiles[parts[1]] = json.loads(content)
        if len(parts) == 4 and parts[0] == "sites" and parts[2] == "helm":
            if parts[3] == "vms.values.yaml":
                vms[parts[1]] = read_values(content)
            elif parts[3] == "iva.values.yaml":
                iva[parts[1]] = read_values(content)
            elif parts[3] == "sso.values.yaml":
                realm = read_values(content)["realm"]
        if len(parts) == 4 and parts[0] == "sites" and parts[2] == "nftables" and parts[3].endswith(".nft"):
            rulesets[parts[3].removesuffix(".nft")] = content
    if not realm:
        rep.violations.append("no SSO realm in the build (sites/<ioc>/helm/sso.values.yaml): nothing grants access")
    by_prefix, other = _readers(realm)
    flows = json.loads(files["firewall/flows.json"]) if "firewall/flows.json" in files else {"flows": []}
    relay_ok: set[tuple[str, str, str]] = set()  # (viewer site, holder site, holder address) allowed on VMS_RTSPS
    recorders: dict[str, set[str]] = {}  # site -> its recorders' addresses (what a VMS pod's traffic comes from)
    to_cameras: dict[tuple[str, str], list[Range]] = {}  # (recording site, tcp port) -> camera networks it reaches
    push_ok: set[tuple[str, str, str]] = set()  # (private system, target site, address) allowed on VMS_RTSPS
    reach: dict[str, list[tuple[Range, int]]] = {}  # site -> (address range, tcp port) its recorders may reach
    for f in flows["flows"]:
        site, src_group = f["source"].split(":", 1)
        if src_group == "servers" and (f["proto"], f["ports"]) == VMS_RTSPS and f["destination"].endswith(":vms"):
            push_ok.update((site, f["destination"].split(":", 1)[0], a) for a in f["destination_addresses"])
        if src_group != "recorders":
            continue
        holder, dst_group = f["destination"].split(":", 1)
        recorders.setdefault(site, set()).update(f["source_addresses"])
        if f["proto"] == "tcp" and is_camera_group(dst_group):
            to_cameras.setdefault((site, f["ports"]), []).extend(_range(a) for a in f["destination_addresses"])
        if (f["proto"], f["ports"]) == VMS_RTSPS and dst_group == "vms":
            relay_ok.update((site, holder, a) for a in f["destination_addresses"])
        if f["proto"] == "tcp":
            reach.setdefault(site, []).extend((_range(a), port) for a in f["destination_addresses"]
                                              for port in _ports(f["ports"]))

    # the camera IP filters of the cameras family: what each camera admits
    admits: dict[str, list[Range]] = {}
    for prof in profiles.values():
        common = [_range(a) for a in prof.get("ip_filter", [])]
        for c in prof.get("cameras", []):
            extra = c.get("ip_filter_extra")
            admits[c["id"]] = common + [_range(a) for a in extra] if extra else common
    sources = {site: sorted((a, _range(a)[0]) for a in addrs) for site, addrs in recorders.items()}

    # every path of every VMS that carries a camera: (vms site, path) -> camera
    recorded: dict[str, dict[str, str]] = {}  # vms site -> camera -> path
    carried: dict[str, list[tuple[str, str]]] = {}  # camera -> [(vms site, path)]
    net = _Network(inv, vms, iva, rulesets, sources, reach)
    for site, v in sorted(vms.items()):
        own = recorded.setdefault(site, {})
        for shard in v.get("shards", []):
            for cam in shard.get("cameras", []):
                cid = cam["path"].rsplit("/", 1)[-1]
                own[cid] = cam["path"]
                carried.setdefault(cid, []).append((site, cam["path"]))
                if "hostPath" in cam:
                    rep.violations += _pull_reaches(cid, site, cam["hostPath"], sources.get(site, []),
                                                    to_cameras, admits.get(cid) if profiles else None,
                                                    net.policies("vms", site))
    served: dict[str, set[str]] = {site: set(own.values()) for site, own in recorded.items()}
    rep.violations += net.urls()
    # what each published VMS address serves: (site, address) -> the cameras of the shard behind it
    published: dict[tuple[str, str], set[str]] = {}
    for site, v in vms.items():
        for shard in v.get("shards", []):
            if shard.get("address"):
                published[(site, shard["address"])] = {c["path"].rsplit("/", 1)[-1] for c in shard.get("cameras", [])}
    for site, v in sorted(vms.items()):
        for shard in v.get("shards", []):
            for relay in shard.get("relays", []):
                rep.relays += 1
                holder, prefix, addr = relay["site"], relay["prefix"], relay["address"]
                source = recorded.get(holder)
                if source is None:
                    rep.violations.append(f"{site}: relay '{prefix}/{holder}/...' pulls from {holder}, which runs no VMS")
                    continue
                if (site, holder, addr) not in relay_ok:
                    rep.violations.append(
                        f"{site}: relay '{prefix}/{holder}/...' targets {addr}:{VMS_RTSPS[1]}, which the flow matrix "
                        f"does not let {site}'s VMS reach as {holder}'s VMS")
                rep.violations += net.relay(site, holder, addr, prefix)
                behind = published.get((holder, addr))
                if behind is None:
                    rep.violations.append(
                        f"{site}: relay '{prefix}/{holder}/...' targets {addr}:{VMS_RTSPS[1]}, where no shard of "
                        f"{holder}'s VMS is published")
                cams = relay["cameras"] or sorted(behind if behind is not None else source)
                for cid in cams:
                    if cid not in source:
                        rep.violations.append(f"camera '{cid}': {site} relays it from {holder}, whose VMS does not "
                                              "record it")
                        continue
                    if behind is not None and cid not in behind:
                        rep.violations.append(f"camera '{cid}': {site} relays it from {addr}, but the {holder} VMS "
                                              "shard published there does not record it")
                    path = f"{prefix}/{holder}/{cid}"
                    served[site].add(path)
                    carried.setdefault(cid, []).append((site, path))

    index = inv.camera_index
    rep.violations += _publishers(index, vms, realm, files, published, push_ok, served)
    for cid in sorted(index):
        cam = index[cid]
        rep.cameras += 1
        grants = {g.unit: g for g in access.who_can_see(cam) if g.unit in inv.sites
                  and inv.sites[g.unit].kind.value != "private_system"}
        readers: dict[str, set[str]] = {}
        for site, path in carried.get(cid, []):
            rep.paths += 1
            first = path.split("/", 1)[0]
            matched = [(u, role) for u, role in by_prefix.get(first, {}).items()]
            matched += [(r.unit, r.role) for r in other if r.matches(path)]
            for unit, role in matched:
                readers.setdefault(unit, set()).add(f"{site}:{path}")
                g = grants.get(unit)
                if g is not None and g.condition and not first.endswith(".police-rule"):
                    rep.violations.append(f"camera '{cid}': {unit} may see it only under the police rule but "
                                          f"its role '{role}' reads it at {site} as '{path}'")
        rep.readers[cid] = readers
        for unit in sorted(readers.keys() - grants.keys()):
            rep.violations.append(f"camera '{cid}': unit {unit} can watch it ({', '.join(sorted(readers[unit]))}) "
                                  "but the access model does not let it see the camera")
        if not carried.get(cid):
            if cam.status != "planned":
                rep.violations.append(f"camera '{cid}' ({cam.status}) is carried by no VMS path: nobody can watch it")
            continue
        for unit in sorted(grants.keys() - readers.keys()):
            rep.violations.append(f"camera '{cid}': unit {unit} may see it ({grants[unit].reason}) but no SSO "
                                  "permission of its roles reads any VMS path carrying it")
    # IVA inputs: a path its own VMS serves, of a camera its unit may see
    for site, v in sorted(iva.items()):
        if any(shard.get("cameras") for shard in v.get("shards", [])):
            rep.violations += _iva_reads_vms(site, net.policies("iva", site), net.policies("vms", site))
        for shard in v.get("shards", []):
            for cam in shard.get("cameras", []):
                cid = cam["name"]
                c = index.get(cid)
                if c is None:
                    rep.violations.append(f"{site}: IVA input '{cid}' is not a camera")
                    continue
                if site not in {g.unit for g in access.who_can_see(c)}:
                    rep.violations.append(f"camera '{cid}': the IVA of {site} analyses it but {site} may not see it")
                if cam["path"] not in served.get(site, set()):
                    rep.violations.append(f"camera '{cid}': the IVA of {site} reads '{cam['path']}', a path "
                                          f"{site}'s VMS does not serve")
    return rep


Range = tuple[int, int]


def _permits(pattern: str, path: str) -> bool:
    """MediaMTX's match of a permission path: '' is every path, '~...' a regular expression, else the path."""
    if not pattern:
        return True
    if pattern.startswith("~"):
        return re.search(pattern[1:], path) is not None
    return pattern == path


def _publishers(index: Mapping[str, Any], vms: Mapping[str, Any], realm: Mapping[str, Any],
                files: Mapping[str, bytes], published: Mapping[tuple[str, str], set[str]],
                push_ok: set[tuple[str, str, str]], served: Mapping[str, set[str]]) -> list[str]:
    """A path a VMS takes from a publisher: only its private system's publish scope may publish it, and the
    system's rendered publisher pushes it to a published address of that shard that the flow matrix lets it reach.
    No other permission in the realm publishes anything."""
    out: list[str] = []
    grants: list[tuple[str, str]] = []  # (who, publish path pattern)
    for sc in realm.get("clientScopes", []):
        for m in sc.get("protocolMappers", []):
            cfg = m.get("config", {})
            if cfg.get("claim.name") == "mediamtx_permissions":
                grants += [(f"client scope {sc['name']}", p.get("path", ""))
                           for p in json.loads(cfg.get("claim.value", "[]")) if p.get("action") == "publish"]

    def roles(group: Mapping[str, Any]) -> None:
        for value in group.get("attributes", {}).get("mediamtx_permissions", []):
            perm = json.loads(value)
            if perm.get("action") == "publish":
                grants.append((f"group {group['name']}", perm.get("path", "")))
        for sub in group.get("subGroups", []):
            roles(sub)

    for g in realm.get("groups", []):
        roles(g)
    pushes: dict[str, dict[str, str]] = {}  # private system -> camera -> push URL (its publisher template)
    tunnels: dict[str, dict[int, tuple[str, int, bool]]] = {}  # private system -> its stunnel.conf (_tunnels)
    for site, v in sorted(vms.items()):
        for shard in v.get("shards", []):
            for cam in shard.get("cameras", []):
                if not cam.get("publisher"):
                    continue
                cid, path = cam["path"].rsplit("/", 1)[-1], cam["path"]
                ps = index[cid].site if cid in index else "?"
                who = sorted({w for w, pat in grants if _permits(pat, path)})
                if who != [f"client scope vms-publish-{ps}"]:
                    out.append(f"camera '{cid}': {site} takes '{path}' from a publisher, but "
                               + (f"{', '.join(who)} may publish it" if who else "no permission publishes it: it never "
                                  "arrives"))
                if ps not in pushes:
                    tmpl = files.get(f"sites/{ps}/publisher/mediamtx.yml.tmpl")
                    conf = yaml.safe_load(tmpl) if tmpl else {}
                    pushes[ps] = {name: str(p.get("runOnReady", "")).split()[-1] if p.get("runOnReady") else ""
                                  for name, p in (conf.get("paths") or {}).items()}
                    tunnels[ps] = _tunnels(_text(files.get(f"sites/{ps}/publisher/stunnel.conf")))
                url = pushes[ps].get(cid)
                if not url:
                    out.append(f"camera '{cid}': the publisher of {ps} does not push it to {site}")
                    continue
                u = urlsplit(url)
                # ffmpeg pushes plain RTSP to a loopback TLS tunnel (it cannot pin a certificate): follow it
                tunnel = tunnels[ps].get(u.port or 0) if (u.scheme, u.hostname) == ("rtsp", "127.0.0.1") else None
                if tunnel is None:
                    out.append(f"camera '{cid}': {ps} pushes it to {u.scheme}://{u.netloc}{u.path}, not through a TLS "
                               "tunnel of its stunnel.conf")
                    continue
                host, port, pinned = tunnel
                if u.path != f"/{path}" or port != int(VMS_RTSPS[1]):
                    out.append(f"camera '{cid}': {ps} pushes it to rtsps://{host}:{port}{u.path}, not to "
                               f"rtsps://...:{VMS_RTSPS[1]}/{path}")
                if not pinned:
                    out.append(f"camera '{cid}': {ps}'s tunnel to {host} does not pin {site}'s VMS certificate "
                               "(client, verifyPeer = yes and a CAfile)")
                if cid not in published.get((site, host), set()):
                    out.append(f"camera '{cid}': {ps} pushes it to {host}, where no {site} VMS shard that "
                               "records it is published")
                if (ps, site, host) not in push_ok:
                    out.append(f"camera '{cid}': the flow matrix does not let {ps} reach {host}:{VMS_RTSPS[1]}")
    taken = {c["path"] for v in vms.values() for sh in v.get("shards", []) for c in sh.get("cameras", [])
             if c.get("publisher")}
    others = sorted({p for paths in served.values() for p in paths} - taken)  # pulled cameras and relays
    for who, pat in grants:
        if not any(_permits(pat, p) for p in taken):
            out.append(f"{who} may publish '{pat}', which no VMS takes from a publisher")
        hit = next((p for p in others if _permits(pat, p)), None)
        if hit is not None:
            out.append(f"{who} may publish '{pat}', which covers '{hit}', a path its VMS pulls or relays: a "
                       "publisher could replace that camera's stream")
    return out


def _text(content: bytes | str | None) -> str:
    return content.decode() if isinstance(content, bytes) else (content or "")


def _tunnels(conf: str) -> dict[int, tuple[str, int, bool]]:
    """An stunnel.conf's client sections: loopback port accepted -> (host, port connected to, peer pinned)."""
    sections: list[dict[str, str]] = []
    for raw in conf.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            sections.append({})
        elif "=" in line and sections:
            key, _, value = line.partition("=")
            sections[-1][key.strip()] = value.strip()
    out = {}
    for sec in sections:
        accept, connect = sec.get("accept", ""), sec.get("connect", "")
        a_host, _, a_port = accept.rpartition(":")
        c_host, _, c_port = connect.rpartition(":")
        if sec.get("client") != "yes" or a_host != "127.0.0.1" or not a_port.isdigit() or not c_port.isdigit():
            continue
        out[int(a_port)] = (c_host, int(c_port), sec.get("verifyPeer") == "yes" and bool(sec.get("CAfile")))
    return out


def _range(cidr: str) -> Range:
    """An IPv4 address or network as (first, last) integers (fast enough for 60,000 cameras)."""
    net = ipaddress.ip_network(cidr, strict=False)
    return int(net.network_address), int(net.broadcast_address)


def _ip(text: str) -> int | None:
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        return None


def _pull_reaches(cid: str, site: str, host_path: str, sources: list[tuple[str, int]],
                  to_cameras: Mapping[tuple[str, str], list[Range]], admitted: list[Range] | None,
                  policies: Policies) -> list[str]:
    """A VMS pulling a camera: the flow matrix lets its recorders reach the camera's address and port, its
    NetworkPolicies let its pods out to it, and the camera's IP filter (cameras family) admits every address the
    VMS may come from."""
    host, _, rest = host_path.partition(":")
    port = rest.split("/", 1)[0]
    ip = _ip(host)
    if ip is None:
        return []  # a legacy stream URL by name: resolved at run time, nothing to prove here
    out = []
    if not any(a <= ip <= b for a, b in to_cameras.get((site, port), ())):
        out.append(f"camera '{cid}': {site}'s VMS pulls it from {host}:{port}, but the flow matrix lets {site}'s "
                   "recorders reach no such address and port")
    if not policies.egress_to_address("vms", ip, int(port)):
        out.append(f"camera '{cid}': {site}'s VMS pulls it from {host}:{port}, but its NetworkPolicies let no VMS "
                   "pod out to that address and port")
    if admitted is not None:
        refused = sorted(t for t, n in sources if not any(a <= n <= b for a, b in admitted))
        if refused:
            out.append(f"camera '{cid}': its IP filter refuses {site}'s VMS ({', '.join(refused)}), which pulls it")
    return out


def read_by_check(rel: str) -> bool:
    """Whether the check reads this rendered file (a path relative to build/<city>/)."""
    return (rel == "firewall/flows.json"
            or rel.startswith("sites/") and ("/helm/" in rel
                                             or rel.endswith(("/publisher/mediamtx.yml.tmpl", "/publisher/stunnel.conf",
                                                              "/cameras/profiles.json"))
                                             or ("/nftables/" in rel and rel.endswith(".nft"))))


def files_of(build: Path) -> dict[str, bytes]:
    """The rendered tree of one city folder (build/<city>/), the files the check reads."""
    out: dict[str, bytes] = {}
    for p in sorted(build.rglob("*")):
        rel = p.relative_to(build).as_posix()
        if p.is_file() and not p.is_symlink() and read_by_check(rel):
            out[rel] = p.read_bytes()
    return out


def explain(inv: Inventory, files: Mapping[str, bytes], camera: str, rep: Report | None = None) -> list[str]:
    """One camera's chain: grants, VMS paths carrying it, the SSO groups reading them, IVA inputs."""
    rep = rep or check(inv, files)
    cam = inv.camera_index[camera]
    lines = [f"camera {camera}: site {cam.site}, owner {cam.unit}, purpose {cam.purpose}"]
    for g in AccessModel(inv).who_can_see(cam):
        lines.append(f"  may see: {g.unit} ({g.reason}{', ' + g.condition if g.condition else ''})")
    for unit, paths in sorted(rep.readers.get(camera, {}).items()):
        lines.append(f"  reads: {unit} at {', '.join(sorted(paths))}")
    for path, content in sorted(files.items()):
        if path.endswith("/helm/iva.values.yaml") and f'"name": "{camera}"' in content.decode("utf-8"):
            lines.append(f"  analysed: by the IVA of {path.split('/')[1]}")
    return lines



def _ports(spec: str) -> list[int]:
    """'8322', '6443,9345', '6800-7300' -> the ports (ranges of the flow matrix are short)."""
    out: list[int] = []
    for part in spec.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit():
            out += range(int(lo), int(hi if hi.isdigit() else lo) + 1)
    return out


_NFT_SET = re.compile(r"^\tset (\S+) \{$")
_NFT_ELEMENTS = re.compile(r"^\t\telements = \{ (.*) \}$")
_NFT_PUBLISHED = re.compile(r"^\t\tip saddr @(\S+) ct original ip daddr @(\S+) tcp dport (\{ [^}]* \}|\S+) .*\baccept\b")


def published_accepts(ruleset: str) -> list[tuple[list[Range], list[Range], list[int]]]:
    """The forward chain's accepts of published-service connections in a ruleset camkit rendered: (source ranges,
    original destination ranges, tcp ports). Only the forward chain is read; other forms are not accepts of this
    kind."""
    sets: dict[str, list[Range]] = {}
    out = []
    name, chain = None, ""
    for line in ruleset.splitlines():
        if m := _NFT_SET.match(line):
            name = m.group(1)
        elif name and (m := _NFT_ELEMENTS.match(line)):
            sets[name] = [_range(a.strip()) for a in m.group(1).split(",")]
            name = None
        elif line.startswith("\tchain "):
            chain = line.split()[1]
        elif chain == "forward" and (m := _NFT_PUBLISHED.match(line)):
            out.append((sets.get(m.group(1), []), sets.get(m.group(2), []), _ports(m.group(3).strip("{} "))))
    return out


_MAX = 2**32


def _merged(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, overlapping or touching ranges joined: one bisect then answers 'is this address in any'."""
    out: list[Range] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _within(ip: int, ranges: list[Range]) -> bool:
    return any(a <= ip <= b for a, b in ranges)


@dataclass
class _Network:
    """The network layers under a connection to a site's published address: flow matrix, the site's workers'
    forward chains, and the NetworkPolicies of the client and server pods."""

    inv: Inventory
    vms: Mapping[str, Any]
    iva: Mapping[str, Any]
    rulesets: Mapping[str, bytes]
    sources: Mapping[str, list[tuple[str, int]]]  # site -> its recorders (address, as integer)
    reach: Mapping[str, list[tuple[Range, int]]]
    _accepts: dict[str, list[tuple[list[Range], list[Range], list[int]]]] = field(default_factory=dict)
    _policies: dict[tuple[str, str], Policies] = field(default_factory=dict)
    _sources_to: dict[tuple[str, int, int], list[Range] | None] = field(default_factory=dict)
    _workers: dict[str, list[str]] = field(default_factory=dict)

    def policies(self, chart: str, site: str) -> Policies:
        """The NetworkPolicies of a site's chart release (none rendered: nothing is allowed)."""
        key = (chart, site)
        if key not in self._policies:
            self._policies[key] = Policies(chart, (self.vms if chart == "vms" else self.iva).get(site, {}))
        return self._policies[key]

    def workers(self, site: str) -> list[str]:
        if site not in self._workers:
            s = self.inv.sites[site]
            self._workers[site] = [s.hostname(v.name) for v in s.servers if ServerRole.k8s_worker in v.roles]
        return self._workers[site]

    def forward_refusals(self, site: str, src: str, ip: int, port: int) -> list[str]:
        """The workers of `site` whose forward chain does not accept `src` to the published `ip`:`port` (any worker
        may be the one MetalLB has announce the address)."""
        n = _range(src)[0]
        out = []
        for host in self.workers(site):
            accepted = self._accepted_sources(host, ip, port)
            if accepted is None:
                out.append(f"{host} (no ruleset rendered)")
                continue
            i = bisect.bisect_right(accepted, (n, _MAX)) - 1
            if i < 0 or accepted[i][1] < n:
                out.append(host)
        return out

    def _accepted_sources(self, host: str, ip: int, port: int) -> list[Range] | None:
        """The source ranges `host`'s forward chain accepts to the published `ip`:`port`, sorted (None: no ruleset)."""
        key = (host, ip, port)
        if key not in self._sources_to:
            if host not in self.rulesets:
                self._sources_to[key] = None
            else:
                if host not in self._accepts:
                    self._accepts[host] = published_accepts(_text(self.rulesets[host]))
                self._sources_to[key] = _merged(r for src, dst, ports in self._accepts[host]
                                                if port in ports and _within(ip, dst) for r in src)
        return self._sources_to[key]

    def relay(self, site: str, holder: str, addr: str, prefix: str) -> list[str]:
        out = []
        ip, port = _range(addr)[0], int(VMS_RTSPS[1])
        what = f"{site}: relay '{prefix}/{holder}/...' to {addr}:{port}"
        if not self.policies("vms", site).egress_to_address("vms", ip, port):
            out.append(f"{what}: {site}'s VMS NetworkPolicies let no VMS pod out to it")
        holder_pol = self.policies("vms", holder)
        for src, n in self.sources.get(site, []):
            if not holder_pol.ingress_from_address("vms", n, port):
                out.append(f"{what}: {holder}'s VMS NetworkPolicies do not admit {site}'s recorder {src}")
            refused = self.forward_refusals(holder, src, ip, port)
            if refused:
                out.append(f"{what}: the forward chain of {', '.join(refused)} drops {site}'s recorder {src}")
        return out

    def urls(self) -> list[str]:
        """Every JWKS and token URL a VMS or IVA uses: a published ingress address its recorders may reach (flow
        matrix), that its NetworkPolicies let its pods out to, and that the ingress site's workers forward."""
        ingress = {v["publish"]["ingress"]: site for site, v in self.vms.items()
                   if (v.get("publish") or {}).get("ingress")}
        out = []
        for chart, charts in (("vms", self.vms), ("iva", self.iva)):
            for site, v in sorted(charts.items()):
                urls = [("token URL", (v.get("tokens") or {}).get("url"))]
                if chart == "vms":
                    urls.insert(0, ("JWKS URL", (v.get("auth") or {}).get("jwks")))
                pol = self.policies(chart, site)
                for what, url in urls:
                    if not url:
                        continue
                    u = urlsplit(url)
                    host, port = u.hostname or "", u.port or int(INGRESS_HTTPS[1])
                    ip = _ip(host)
                    where = f"{site}: the {chart.upper()}'s {what} {host}:{port}"
                    if ip is None or host not in ingress:
                        out.append(f"{where} is not a site's published ingress address")
                        continue
                    if ingress[host] == site:
                        # its own cluster's address: kube-proxy sends pods straight to the ingress controller's pods
                        # (no node forward chain, no flow between sites); only the NetworkPolicy egress decides
                        if not pol.egress_to_pods(chart, INGRESS_CONTROLLER_PEER["namespace"],
                                                  component_labels(INGRESS_CONTROLLER_PEER["component"]), port):
                            out.append(f"{where}: its NetworkPolicies do not let a {chart.upper()} pod reach the "
                                       "ingress controller of its own cluster")
                        continue
                    if not any(_within(ip, [r]) and p == port for r, p in self.reach.get(site, [])):
                        out.append(f"{where}: the flow matrix does not let {site}'s recorders reach it")
                    if not pol.egress_to_address(chart, ip, port):
                        out.append(f"{where}: its NetworkPolicies let no {chart.upper()} pod out to it")
                    for src, _ in self.sources.get(site, []):
                        refused = self.forward_refusals(ingress[host], src, ip, port)
                        if refused:
                            out.append(f"{where}: the forward chain of {', '.join(refused)} drops {site}'s "
                                       f"recorder {src}")
        return out


def _iva_reads_vms(site: str, iva: Policies, vms: Policies) -> list[str]:
    """The IVA reads its VMS's restream inside the cluster: its egress and the VMS's ingress both allow it."""
    port, out = int(VMS_RTSPS[1]), []
    if not iva.egress_to_pods("iva", NAMESPACES["vms"], component_labels("vms"), port):
        out.append(f"{site}: the IVA's NetworkPolicies do not let it read its VMS ({NAMESPACES['vms']}:{port})")
    if not vms.ingress_from_pods("vms", NAMESPACES["iva"], component_labels("iva"), port):
        out.append(f"{site}: the VMS's NetworkPolicies do not admit its IVA on {port}")
    return out
