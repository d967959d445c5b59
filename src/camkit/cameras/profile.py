"""The hardened profile of every camera: what `camkit cameras apply` sets and `audit` expects.

Built from the model, the IP plan and the flow matrix only (no YAML is read here). A profile never holds
a secret: account passwords are named by their place in the secrets store (`camera_accounts` of the
site's vault file) and resolved only by the applier, in memory.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any

from camkit.flows import RTSP, FlowMatrix, pull_port
from camkit.ipplan import Plan
from camkit.loader import Inventory, pulled_over_tls
from camkit.model import Camera, CameraModelSpec, NetworkRole, SiteKind
from camkit.sizing import camera_mbps

LEVELS = ("administrator", "operator", "user")
ONVIF_LEVEL = {"administrator": "Administrator", "operator": "Operator", "user": "User"}
# 802.1X EAP method numbers (IANA "EAP Method Types"): 13 = EAP-TLS
EAP_TLS = 13
# Main-stream resolution for a sensor size: the common 16:9 / 4:3 modes cameras offer
RESOLUTIONS = [(1.0, 1280, 720), (2.0, 1920, 1080), (3.0, 2304, 1296), (4.0, 2560, 1440), (5.0, 2592, 1944),
               (6.0, 3072, 2048), (8.0, 3840, 2160), (12.0, 4000, 3000)]


@lru_cache(maxsize=None)
def resolution(mp: float) -> tuple[int, int]:
    best = min(RESOLUTIONS, key=lambda r: (abs(r[0] - mp), -r[0]))
    return best[1], best[2]


def firmware_tuple(version: str) -> tuple[int, ...]:
    """'V5.7.23 build 240105' -> (5, 7, 23): the dotted numbers from the first digit on."""
    out: list[int] = []
    num = ""
    started = False
    for ch in version:
        if ch.isdigit():
            num += ch
            started = True
        elif started and ch == "." and num:
            out.append(int(num))
            num = ""
        elif started:
            break
    if num:
        out.append(int(num))
    return tuple(out)


def firmware_ok(actual: str, minimum: str) -> bool:
    a, m = firmware_tuple(actual), firmware_tuple(minimum)
    width = max(len(a), len(m))
    return a + (0,) * (width - len(a)) >= m + (0,) * (width - len(m))


@dataclass(frozen=True)
class Encoder:
    encoding: str  # H264 / H265
    width: int
    height: int
    fps: int
    bitrate_kbps: int  # cap: the sizing plan's per-camera figure (storage and uplinks were sized on it)
    gov_length: int


@dataclass(frozen=True)
class CameraProfile:
    id: str
    site: str
    address: str | None  # None: the camera has no planned address yet (planned camera on a private link)
    vendor: str
    model: str
    min_firmware: str | None
    default_accounts: tuple[str, ...]
    rtsps: bool
    advanced_security: bool
    dot1x: str | None  # eap-tls / mab / None
    dot1x_identity: str | None
    encoder: Encoder
    # the port the VMS pulls its main stream from over plain RTSP (`flows.pull_port`): GetStreamUri must serve
    # there; None when it is pulled over TLS (GetStreamUri reports the RTSP port, not the RTSPS one)
    stream_port: int | None = None
    # sources allowed for this camera alone: the VMS of its owner, when that records it from another site
    ip_filter_extra: tuple[str, ...] = ()

    def row(self) -> dict[str, Any]:
        d = {f: getattr(self, f) for f in CAMERA_FIELDS}
        d["default_accounts"] = list(self.default_accounts)
        if self.ip_filter_extra:
            d["ip_filter_extra"] = list(self.ip_filter_extra)
        else:
            del d["ip_filter_extra"]
        if self.stream_port is None:
            del d["stream_port"]
        d["encoder"] = dict(vars(self.encoder))
        return d


CAMERA_FIELDS = tuple(CameraProfile.__dataclass_fields__)


@dataclass(frozen=True)
class SiteCameraSettings:
    """What every camera of a site gets (the same for all of them)."""

    site: str
    accounts: dict[str, str]  # level -> user name
    password_store: str  # vault file + key template of the passwords
    password_length: int
    password_classes: tuple[str, ...]
    lockout: dict[str, int]
    protocols: dict[str, dict[str, Any]]  # HTTP/HTTPS/RTSP -> enabled, port
    discovery: str
    ip_filter: tuple[str, ...]  # CIDRs allowed to reach the camera (flow matrix sources)
    ntp: tuple[str, ...]
    timezone: str  # POSIX TZ
    timezone_name: str
    syslog: tuple[str, ...]
    data_location: str = "VN"
    cloud: bool = False
    cameras: list[CameraProfile] = field(default_factory=list)

    def common(self) -> dict[str, Any]:
        """Everything but the camera list (the same for every camera of the site)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items() if k != "cameras"}

    def as_json(self) -> dict[str, Any]:
        d = self.common()
        d["cameras"] = [c.row() for c in self.cameras]
        return d


def site_settings(inv: Inventory, plan: Plan, flows: FlowMatrix, sid: str) -> SiteCameraSettings:
    city = inv.city
    base = city.cameras
    ip_filter: list[str] = []
    for flow in flows.into(sid, NetworkRole.cameras.value):
        for addr in flow.src.addresses:
            cidr = addr if "/" in addr else f"{addr}/32"
            if cidr not in ip_filter:
                ip_filter.append(cidr)
    ntp = flows.service("ntp")
    syslog = flows.service("syslog")
    settings = SiteCameraSettings(
        site=sid,
        accounts={lvl: getattr(base.accounts, lvl) for lvl in LEVELS},
        password_store=f"{sid}.vault.yml: camera_accounts.<camera>.<level>",
        password_length=base.password_length,
        password_classes=tuple(base.password_classes),
        lockout={"failures": base.lockout.failures, "window_s": base.lockout.window_s,
                 "duration_s": base.lockout.duration_s},
        protocols={"HTTP": {"enabled": False, "port": 80}, "HTTPS": {"enabled": True, "port": 443},
                   "RTSP": {"enabled": True, "port": int(RTSP[1])}},
        discovery="NonDiscoverable",
        ip_filter=tuple(sorted(ip_filter)),
        ntp=tuple(ntp.addresses) if ntp else (),
        timezone=flows.topology.timezone,  # POSIX TZ, what ONVIF's SetSystemDateAndTime takes
        timezone_name=city.timezone,
        syslog=tuple(syslog.addresses) if (syslog and base.syslog) else (),
    )
    # cameras another unit's VMS records (its own, installed on this site's network): that VMS too, for them alone
    extra: dict[str, set[str]] = {}
    for at, where, _ in flows.topology.pulled_elsewhere():
        if where == sid:
            for flow in flows.into(sid, f"cameras-of-{at}"):
                for ip in flow.dst.addresses:
                    extra.setdefault(ip, set()).update(a if "/" in a else f"{a}/32" for a in flow.src.addresses)
    for cam in inv.cameras_by_site[sid]:
        prof = camera_profile(inv, plan, cam)
        if prof.address in extra:
            prof = dataclasses.replace(prof, ip_filter_extra=tuple(sorted(extra[prof.address] - set(ip_filter))))
        settings.cameras.append(prof)
    return settings


def camera_profile(inv: Inventory, plan: Plan, cam: Camera) -> CameraProfile:
    spec: CameraModelSpec | None = inv.models.get(f"{cam.vendor}/{cam.model}")
    w, h = resolution(cam.resolution_mp)
    base = inv.city.cameras
    return CameraProfile(
        id=cam.id,
        site=cam.site,
        address=plan.camera_ip(cam.id),
        vendor=cam.vendor,
        model=cam.model,
        min_firmware=spec.min_firmware if spec else None,
        default_accounts=tuple(spec.default_accounts) if spec else ("admin",),
        rtsps=bool(spec and spec.rtsps and base.rtsps),
        stream_port=None if (pulled_over_tls(cam, spec, inv.city) or inv.sites[cam.site].kind is SiteKind.private_system)
        else pull_port(cam, spec, inv.city),  # a private system's cameras are pushed by its recorder, not pulled
        advanced_security=bool(spec and spec.advanced_security),
        dot1x=cam.dot1x,
        dot1x_identity=cam.id if cam.dot1x == "eap-tls" else None,
        encoder=Encoder(
            encoding="H265" if cam.codec == "h265" else "H264",
            width=w, height=h, fps=cam.fps,
            bitrate_kbps=math.ceil(camera_mbps(cam) * 1000),
            gov_length=max(1, round(cam.fps * base.gop_seconds)),
        ),
    )
