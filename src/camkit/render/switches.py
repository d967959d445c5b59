"""The `switches` family: access switch port configuration, one dialect class per vendor OS.

Camera ports: access port in the camera VLAN, 802.1X and/or MAB, port security limited to the
camera's MAC, IP source guard bound to its planned address, edge port with BPDU guard. Unused ports
are shut and parked in a dead VLAN; uplinks are trunks of the site VLANs. The RADIUS shared secret
is never written: the files carry the placeholder `{{ camkit_switch_radius_secret }}`, which the
Ansible apply step fills from the secrets store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Iterable

from camkit.model import PARKING_VLAN, Camera, NetworkRole, ServerRole, SwitchDialect
from camkit.render import Artifact, RenderContext, Renderer

SECRET = "{{ camkit_switch_radius_secret }}"


@dataclass(frozen=True)
class CameraPort:
    port: int
    camera: Camera
    ip: str | None
    methods: tuple[str, ...]  # ("dot1x",) or ("dot1x", "mab") in the configured order


@dataclass(frozen=True)
class SwitchPlan:
    host: str
    site: str
    ports: int
    uplinks: tuple[int, ...]
    camera_vlan: int
    mgmt_vlan: int
    mgmt_ip: str | None
    mgmt_prefixlen: int
    mgmt_gateway: str | None
    quarantine_vlan: int | None
    radius: tuple[str, ...]
    ntp: tuple[str, ...]
    syslog: tuple[str, ...]
    cameras: tuple[CameraPort, ...]

    @property
    def unused(self) -> list[int]:
        taken = {c.port for c in self.cameras} | set(self.uplinks)
        return [p for p in range(1, self.ports + 1) if p not in taken]

    @property
    def trunk_vlans(self) -> list[int]:
        return sorted({self.camera_vlan, self.mgmt_vlan} | ({self.quarantine_vlan} if self.quarantine_vlan else set()))


def _ascii(text: str, limit: int = 60) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in plain if c.isascii() and (c.isalnum() or c in " -_.:/")).strip()[:limit]


def _mask(prefixlen: int) -> str:
    bits = (0xFFFFFFFF << (32 - prefixlen)) & 0xFFFFFFFF
    return ".".join(str(bits >> s & 255) for s in (24, 16, 8, 0))


class Dialect(ABC):
    name: ClassVar[SwitchDialect]
    suffix: ClassVar[str] = ".cfg"

    @abstractmethod
    def render(self, sw: SwitchPlan) -> str:
        raise NotImplementedError

    @staticmethod
    def header(sw: SwitchPlan, comment: str) -> list[str]:
        return [f"{comment} camkit: access switch {sw.host} (site {sw.site}). Generated: do not edit.",
                f"{comment} {SECRET} is filled from the secrets store when the config is applied."]


class CiscoIosXe(Dialect):
    name = SwitchDialect.cisco_iosxe

    @staticmethod
    def mac(m: str) -> str:
        h = m.replace(":", "")
        return f"{h[0:4]}.{h[4:8]}.{h[8:12]}"

    def render(self, sw: SwitchPlan) -> str:
        out = self.header(sw, "!")
        out += [f"hostname {sw.host}", "no ip http server", "no ip http secure-server", "ip ssh version 2",
                "service password-encryption", "!", "aaa new-model",
                "aaa authentication dot1x default group camkit-radius",
                "aaa authorization network default group camkit-radius",
                "aaa accounting dot1x default start-stop group camkit-radius", "dot1x system-auth-control",
                "!"]
        for i, ip in enumerate(sw.radius, 1):
            out += [f"radius server camkit-{i}", f" address ipv4 {ip} auth-port 1812 acct-port 1813",
                    f" key {SECRET}", "!"]
        out += ["aaa group server radius camkit-radius"] + [f" server name camkit-{i}" for i in range(1, len(sw.radius) + 1)]
        out += ["!", "radius-server attribute 6 on-for-login-auth", "radius-server vsa send authentication", "!"]
        out += [f"vlan {sw.camera_vlan}", " name cameras", f"vlan {sw.mgmt_vlan}", " name management",
                f"vlan {PARKING_VLAN}", " name unused"]
        if sw.quarantine_vlan:
            out += [f"vlan {sw.quarantine_vlan}", " name quarantine"]
        out += ["!"]
        for ip in sw.ntp:
            out.append(f"ntp server {ip}")
        for ip in sw.syslog:
            out.append(f"logging host {ip}")
        if sw.mgmt_ip:
            out += ["!", f"interface Vlan{sw.mgmt_vlan}", f" ip address {sw.mgmt_ip} {_mask(sw.mgmt_prefixlen)}",
                    "!", f"ip route 0.0.0.0 0.0.0.0 {sw.mgmt_gateway}"]
        out.append("!")
        for cp in sw.cameras:
            cam = cp.camera
            out += [f"interface GigabitEthernet1/0/{cp.port}",
                    f" description camera {cam.id} {_ascii(cam.name)}",
                    " switchport mode access", f" switchport access vlan {sw.camera_vlan}", " switchport nonegotiate",
                    " switchport port-security", " switchport port-security maximum 1",
                    f" switchport port-security mac-address {self.mac(cam.mac)}",
                    " switchport port-security violation restrict",
                    " authentication host-mode single-host",
                    f" authentication order {' '.join(cp.methods)}",
                    f" authentication priority {' '.join(cp.methods)}",
                    " authentication port-control auto", " authentication violation restrict"]
            if sw.quarantine_vlan:
                out.append(f" authentication event fail action authorize vlan {sw.quarantine_vlan}")
            if "mab" in cp.methods:
                out.append(" mab")
            out += [" dot1x pae authenticator", " dot1x timeout tx-period 10", " spanning-tree portfast",
                    " spanning-tree bpduguard enable"]
            if cp.ip:
                out.append(" ip verify source port-security")
            out += [" no shutdown", "!"]
        for p in sw.unused:
            out += [f"interface GigabitEthernet1/0/{p}", " description unused", " switchport mode access",
                    f" switchport access vlan {PARKING_VLAN}", " shutdown", "!"]
        for p in sw.uplinks:
            out += [f"interface GigabitEthernet1/0/{p}", " description uplink", " switchport mode trunk",
                    f" switchport trunk allowed vlan {','.join(str(v) for v in sw.trunk_vlans)}",
                    " switchport nonegotiate", " no shutdown", "!"]
        for cp in sw.cameras:
            if cp.ip:
                out.append(f"ip source binding {self.mac(cp.camera.mac)} vlan {sw.camera_vlan} {cp.ip} "
                           f"interface GigabitEthernet1/0/{cp.port}")
        out += ["end", ""]
        return "\n".join(out)


class HuaweiVrp(Dialect):
    name = SwitchDialect.huawei_vrp

    @staticmethod
    def mac(m: str) -> str:
        h = m.replace(":", "")
        return f"{h[0:4]}-{h[4:8]}-{h[8:12]}"

    def render(self, sw: SwitchPlan) -> str:
        out = self.header(sw, "#")
        vlans = sorted({sw.camera_vlan, sw.mgmt_vlan, PARKING_VLAN} | ({sw.quarantine_vlan} if sw.quarantine_vlan else set()))
        out += [f"sysname {sw.host}", "#", "undo http server enable", "undo http secure-server enable",
                "stelnet server enable", "undo telnet server enable", "#",
                f"vlan batch {' '.join(str(v) for v in vlans)}", "#", "authentication unified-mode", "#",
                "radius-server template camkit", f" radius-server shared-key cipher {SECRET}"]
        for ip in sw.radius:
            out += [f" radius-server authentication {ip} 1812", f" radius-server accounting {ip} 1813"]
        out += ["#", "aaa", " authentication-scheme camkit", "  authentication-mode radius",
                " accounting-scheme camkit", "  accounting-mode radius", " domain default",
                "  authentication-scheme camkit", "  accounting-scheme camkit", "  radius-server camkit", "#",
                "dot1x-access-profile name camkit_dot1x", " dot1x authentication-method eap", "#",
                "mac-access-profile name camkit_mab", " mac-authen username macaddress format without-hyphen", "#",
                "authentication-profile name camkit_eaptls", " dot1x-access-profile camkit_dot1x",
                " access-domain default force", "#",
                "authentication-profile name camkit_mab", " dot1x-access-profile camkit_dot1x",
                " mac-access-profile camkit_mab", " access-domain default force"]
        if sw.quarantine_vlan:
            for prof in ("camkit_eaptls", "camkit_mab"):
                out += ["#", f"authentication-profile name {prof}",
                        f" authentication event authen-fail action authorize vlan {sw.quarantine_vlan}"]
        out += ["#"]
        for ip in sw.ntp:
            out.append(f"ntp-service unicast-server {ip}")
        for ip in sw.syslog:
            out.append(f"info-center loghost {ip}")
        if sw.mgmt_ip:
            out += ["#", f"interface Vlanif{sw.mgmt_vlan}", f" ip address {sw.mgmt_ip} {_mask(sw.mgmt_prefixlen)}",
                    "#", f"ip route-static 0.0.0.0 0.0.0.0 {sw.mgmt_gateway}"]
        out.append("#")
        for cp in sw.cameras:
            cam = cp.camera
            profile = "camkit_mab" if "mab" in cp.methods else "camkit_eaptls"
            out += [f"interface GigabitEthernet0/0/{cp.port}", f" description camera {cam.id} {_ascii(cam.name)}",
                    " port link-type access", f" port default vlan {sw.camera_vlan}", " port-security enable",
                    " port-security max-mac-num 1", " port-security protect-action restrict",
                    f" port-security mac-address sticky {self.mac(cam.mac)} vlan {sw.camera_vlan}",
                    f" authentication-profile {profile}", " stp edged-port enable", " stp bpdu-protection"]
            if cp.ip:
                out.append(" ip source check user-bind enable")
            out += ["#"]
        for p in sw.unused:
            out += [f"interface GigabitEthernet0/0/{p}", " description unused", " port link-type access",
                    f" port default vlan {PARKING_VLAN}", " shutdown", "#"]
        for p in sw.uplinks:
            out += [f"interface GigabitEthernet0/0/{p}", " description uplink", " port link-type trunk",
                    " undo port trunk allow-pass vlan 1",
                    f" port trunk allow-pass vlan {' '.join(str(v) for v in sw.trunk_vlans)}", "#"]
        for cp in sw.cameras:
            if cp.ip:
                out.append(f"user-bind static ip-address {cp.ip} mac-address {self.mac(cp.camera.mac)} "
                           f"interface GigabitEthernet0/0/{cp.port} vlan {sw.camera_vlan}")
        out += ["#", "return", ""]
        return "\n".join(out)


class ArubaCx(Dialect):
    name = SwitchDialect.aruba_cx

    def render(self, sw: SwitchPlan) -> str:
        out = self.header(sw, "!")
        out += [f"hostname {sw.host}", "ssh server vrf default", "no https-server vrf default", "!"]
        for ip in sw.radius:
            out.append(f"radius-server host {ip} key plaintext {SECRET} vrf default")
        out += ["aaa group server radius camkit"] + [f"    server {ip} vrf default" for ip in sw.radius]
        out += ["aaa authentication port-access dot1x authenticator", "    radius server-group camkit", "    enable",
                "aaa authentication port-access mac-auth", "    radius server-group camkit", "    enable", "!"]
        for vid, name in ((sw.camera_vlan, "cameras"), (sw.mgmt_vlan, "management"), (PARKING_VLAN, "unused")):
            out += [f"vlan {vid}", f"    name {name}"]
        if sw.quarantine_vlan:
            out += [f"vlan {sw.quarantine_vlan}", "    name quarantine"]
        out.append("!")
        for ip in sw.ntp:
            out.append(f"ntp server {ip}")
        for ip in sw.syslog:
            out.append(f"logging {ip} vrf default")
        if sw.mgmt_ip:
            out += ["!", f"interface vlan {sw.mgmt_vlan}", f"    ip address {sw.mgmt_ip}/{sw.mgmt_prefixlen}",
                    "!", f"ip route 0.0.0.0/0 {sw.mgmt_gateway}"]
        out.append("!")
        for cp in sw.cameras:
            cam = cp.camera
            precedence = " ".join("mac-auth" if m == "mab" else "dot1x" for m in cp.methods)
            out += [f"interface 1/1/{cp.port}", f"    description camera {cam.id} {_ascii(cam.name)}", "    no shutdown",
                    "    no routing", f"    vlan access {sw.camera_vlan}", "    spanning-tree bpdu-guard",
                    "    spanning-tree port-type admin-edge", "    port-access port-security enable",
                    "    port-access port-security client-limit 1",
                    f"    port-access port-security mac-address {cam.mac}",
                    f"    aaa authentication port-access auth-precedence {precedence}",
                    "    aaa authentication port-access client-limit 1",
                    "    aaa authentication port-access dot1x authenticator", "        enable"]
            if "mab" in cp.methods:
                out += ["    aaa authentication port-access mac-auth", "        enable"]
            if cp.ip:
                out.append("    ip source-lockdown")
            out.append("!")
        for p in sw.unused:
            out += [f"interface 1/1/{p}", "    description unused", "    shutdown", "    no routing",
                    f"    vlan access {PARKING_VLAN}", "!"]
        for p in sw.uplinks:
            out += [f"interface 1/1/{p}", "    description uplink", "    no shutdown", "    no routing",
                    "    vlan trunk native 999", f"    vlan trunk allowed {','.join(str(v) for v in sw.trunk_vlans)}", "!"]
        for cp in sw.cameras:
            if cp.ip:
                out.append(f"ip source-binding {sw.camera_vlan} ip {cp.ip} mac {cp.camera.mac} interface 1/1/{cp.port}")
        out += [""]
        return "\n".join(out)


DIALECTS: dict[SwitchDialect, Dialect] = {d.name: d for d in (CiscoIosXe(), HuaweiVrp(), ArubaCx())}


class SwitchRenderer(Renderer):
    family = "switches"
    cost = 0.7
    reads = ('flows',)
    description = "access switch configs (Cisco IOS-XE, Huawei VRP, Aruba-CX): 802.1X/MAB, port security, IP binding"

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        inv, plan, matrix = ctx.inv, ctx.plan, ctx.flows
        city = inv.city
        order = tuple(city.security.port_auth_order)
        ntp = tuple(a.ip for h in city.services.ntp.servers if (a := plan.assignments.get((NetworkRole.servers, h))))
        syslog = tuple(a.ip for h in city.services.syslog.servers
                       if (a := plan.assignments.get((NetworkRole.servers, h))))
        for sid in ctx.sites():
            site = inv.sites[sid]
            if not site.switches:
                continue
            rs = matrix.radius_site(sid)
            radius = matrix.hosts(rs, "radius", {ServerRole.radius}) if rs else None
            by_switch: dict[str, list[Camera]] = {}
            for cam in inv.cameras_by_site[sid]:
                if cam.switch:
                    by_switch.setdefault(cam.switch, []).append(cam)
            for sw in site.switches:
                host = site.hostname(sw.id)
                mgmt = plan.assignments.get((NetworkRole.management, host))
                ports = tuple(sorted(
                    (CameraPort(c.port or 0, c, plan.camera_ip(c.id),
                                ("dot1x",) if c.dot1x == "eap-tls" else order) for c in by_switch.get(sw.id, [])),
                    key=lambda cp: cp.port))
                spec = SwitchPlan(
                    host=host, site=sid, ports=sw.ports, uplinks=tuple(sw.uplink_ports),
                    camera_vlan=plan.camera_vlan(sid, city.networks.cameras.vlan),
                    mgmt_vlan=city.networks.management.vlan, mgmt_ip=mgmt.ip if mgmt else None,
                    mgmt_prefixlen=mgmt.prefixlen if mgmt else 32, mgmt_gateway=mgmt.gateway if mgmt else None,
                    quarantine_vlan=city.services.quarantine_vlan,
                    radius=radius.addresses if radius else (), ntp=ntp, syslog=syslog, cameras=ports)
                dialect = DIALECTS[sw.dialect]
                text = dialect.render(spec)
                yield Artifact(f"sites/{sid}/switches/{host}{dialect.suffix}", text.encode("utf-8"), sid)
