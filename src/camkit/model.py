"""The typed, immutable city model every planner and renderer reads.

One pydantic model per inventory document (city.yml, profiles/*.yml, sites/*.yml, camera CSV rows).
Unknown keys are errors. Cross-document rules live in `camkit.loader`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from camkit.sources import CONTROL, CONTROL_HINT

SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
Slug = Annotated[str, Field(pattern=SLUG, description="lower-case id: letters, digits, '-' (max 63)")]
# A pole, cabinet or smart hub as the city's asset registers number them (e.g. "HK-CD-0123"): case kept
InfraId = Annotated[str, Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$",
                               description="asset id: letters, digits, '.', '_', '/', '-' (max 64)")]
# An RTSP path and query as RFC 3986 allows them (pchar, "/", "?"): never a bare "/", no spaces, no escapes
RTSP_PATH_PATTERN = r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]+)?$"
RTSP_PATH_MAX = 256
# an ONVIF profile token as the stream lock records it; never with a spreadsheet's formula character first
PROFILE_TOKEN_PATTERN = r"^([\w.:][\w.:-]*)?$"
ProfileId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="profile id, e.g. 'ward'")]


def _refuse_control(v: object) -> None:
    """Free text reaches YAML, Pulumi stacks, switch configs and terminals: no control character (sources.CONTROL)."""
    if isinstance(v, str):
        if m := CONTROL.search(v):
            raise ValueError(f"character {m.group()!r} at position {m.start() + 1} is not allowed ({CONTROL_HINT})")
    elif isinstance(v, (list, tuple)):
        for e in v:
            _refuse_control(e)


class Frozen(BaseModel):
    """Unknown keys refused, instances immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Strict(Frozen):
    """A document's model: also no control character in any text value (checked field by field)."""

    @field_validator("*", mode="before")
    @classmethod
    def _printable(cls, v: object) -> object:
        _refuse_control(v)
        return v


# --- enumerations (values are the inventory spelling) -------------------------------------------


class SiteKind(str, Enum):
    city_ioc = "city_ioc"
    police_command = "police_command"
    district_oc = "district_oc"
    department_oc = "department_oc"
    ward = "ward"
    private_system = "private_system"


TIER_OF_KIND: dict[SiteKind, int] = {
    SiteKind.city_ioc: 1,
    SiteKind.police_command: 1,
    SiteKind.district_oc: 2,
    SiteKind.department_oc: 2,
    SiteKind.ward: 3,
    SiteKind.private_system: 3,
}


class UplinkType(str, Enum):
    private_fiber = "private_fiber"
    leased_line = "leased_line"
    internet_vpn = "internet_vpn"
    cellular = "cellular"  # 4G/5G


WIRED_CONNECTIONS = {UplinkType.private_fiber, UplinkType.leased_line}
PARKING_VLAN = 999  # unused switch ports: shut and in a VLAN that goes nowhere (no role may use it)


class ServerRole(str, Enum):
    k8s_control = "k8s_control"
    k8s_worker = "k8s_worker"
    gpu = "gpu"
    storage = "storage"
    gateway = "gateway"
    radius = "radius"
    infra = "infra"  # NTP, DNS, syslog collector


class NetworkRole(str, Enum):
    cameras = "cameras"
    management = "management"
    servers = "servers"
    storage = "storage"
    operators = "operators"


class CameraType(str, Enum):
    ptz = "ptz"
    fixed = "fixed"


class Purpose(str, Enum):
    security = "security"
    traffic = "traffic"
    defense = "defense"
    environment = "environment"
    urban_order = "urban_order"


class CameraStatus(str, Enum):
    active = "active"
    broken = "broken"
    planned = "planned"


class Codec(str, Enum):
    h264 = "h264"
    h265 = "h265"


class Dot1xMode(str, Enum):
    eap_tls = "eap-tls"
    mab = "mab"


class SwitchDialect(str, Enum):
    cisco_iosxe = "cisco-iosxe"
    huawei_vrp = "huawei-vrp"
    aruba_cx = "aruba-cx"


class Analytic(str, Enum):
    """Analytics named in master plan VII.2.2.3.2 (basic, security and traffic sets)."""

    intrusion = "intrusion"
    motion = "motion"
    crowd = "crowd"
    counting = "counting"
    left_object = "left_object"
    missing_object = "missing_object"
    face_detection = "face_detection"
    face_recognition = "face_recognition"
    behaviour = "behaviour"
    crowd_management = "crowd_management"
    heatmap = "heatmap"
    lpr = "lpr"
    smoke_fire = "smoke_fire"
    ptz_tracking = "ptz_tracking"
    privacy_mask = "privacy_mask"
    forbidden_zone = "forbidden_zone"
    wrong_way = "wrong_way"
    speed = "speed"
    density = "density"
    oversize = "oversize"
    parking = "parking"


# --- city.yml -----------------------------------------------------------------------------------


class Area(Strict):
    """Bounding box every site and camera coordinate must fall in (WGS84 degrees)."""

    min_lat: float = Field(ge=-90, le=90)
    max_lat: float = Field(ge=-90, le=90)
    min_lon: float = Field(ge=-180, le=180)
    max_lon: float = Field(ge=-180, le=180)

    @model_validator(mode="after")
    def _ordered(self) -> Area:
        if self.min_lat >= self.max_lat or self.min_lon >= self.max_lon:
            raise ValueError("min_lat/min_lon must be below max_lat/max_lon")
        return self

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


class ReservedRange(Strict):
    cidr: str
    reason: str


class Kubernetes(Strict):
    version: str = Field(default="1.33.0", pattern=r"^\d+\.\d+\.\d+$")
    pod_cidr: str = "10.42.0.0/16"
    service_cidr: str = "10.43.0.0/16"
    rke2_version: str = Field(default="v1.33.5+rke2r1", pattern=r"^v\d+\.\d+\.\d+\+rke2r\d+$",
                              description="RKE2 release the nodes run (its minor follows `version`)")
    airgap_bundle: str | None = Field(
        default=None, description="folder on the Ansible controller with the RKE2 air-gap artifacts of "
        "`rke2_version` (install.sh, rke2.linux-amd64.tar.gz, rke2-images.linux-amd64.tar.zst, "
        "sha256sum-amd64.txt); without it the k8s_node role prepares nodes and says it did not install RKE2")
    registry_mirror: str | None = Field(
        default=None, pattern=r"^https://[^\s/]+(:\d+)?$",
        description="registry mirror every node pulls through (air-gapped sites), e.g. https://registry.ioc:5000")


class NetworkSpec(Strict):
    vlan: int = Field(ge=2, le=4094)
    headroom_percent: int = Field(default=25, ge=0, le=400, description="spare addresses on top of the hosts")
    min_prefix: int = Field(default=29, ge=8, le=30, description="smallest subnet handed out (largest prefix)")


class Addressing(Strict):
    reserved_head: int = Field(default=3, ge=1, le=16, description=".1 is the gateway, the rest for VRRP peers")
    tier2_growth_percent: int = Field(default=100, ge=0, le=800,
                                      description="a tier-2 block is sized to its needs plus this share for new wards")
    site_growth_percent: int = Field(default=0, ge=0, le=800)


class ServiceRef(Strict):
    servers: list[str] = Field(min_length=1, description="server hostnames that provide the service")


class Services(Strict):
    ntp: ServiceRef
    dns: ServiceRef
    syslog: ServiceRef
    radius_placement: Literal["site", "tier2"] = Field(
        default="tier2", description="tier2: each district/department RADIUS serves its own and its wards' switches"
    )
    quarantine_vlan: int | None = Field(default=None, ge=2, le=4094,
                                        description="unknown devices go here instead of being rejected")


class TierBaseline(Strict):
    retention_days: int = Field(ge=1, le=3650)
    recording: Literal["continuous", "motion", "events"] = "continuous"
    security_level: int = Field(ge=1, le=5, description="information system level per Decree 85/2016")
    backup_to_city: bool = False


class SecurityBaseline(Strict):
    camera_password_min_length: int = Field(default=12, ge=8, le=64)
    camera_dot1x_required: bool = True
    allow_mab: bool = True
    https_only: bool = True
    port_auth_order: list[Literal["dot1x", "mab"]] = Field(
        default_factory=lambda: ["dot1x", "mab"], min_length=1, max_length=2,
        description="order of 802.1X and MAB on ports of 'mab' cameras; 'eap-tls' cameras get 802.1X only")

    @field_validator("port_auth_order")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("port_auth_order must not repeat a method")
        return v


class CameraAccounts(Strict):
    """User names of the three ONVIF user levels camkit keeps on every camera (master plan VII.2.2.6:
    three password levels). Passwords are generated per camera and level into the secrets store."""

    administrator: str = Field(default="ck-admin", pattern=r"^[A-Za-z][A-Za-z0-9_.-]{2,31}$")
    operator: str = Field(default="ck-operator", pattern=r"^[A-Za-z][A-Za-z0-9_.-]{2,31}$")
    user: str = Field(default="ck-viewer", pattern=r"^[A-Za-z][A-Za-z0-9_.-]{2,31}$")

    @model_validator(mode="after")
    def _distinct(self) -> CameraAccounts:
        if len({self.administrator, self.operator, self.user}) != 3:
            raise ValueError("the three camera account names must differ")
        return self


class CameraLockout(Strict):
    """724/QĐ-BTTTT default: lock for 5 minutes after 5 failed logins within 30 seconds."""

    failures: int = Field(default=5, ge=1, le=20)
    window_s: int = Field(default=30, ge=1, le=3600)
    duration_s: int = Field(default=300, ge=60, le=86400)


class CameraBaseline(Strict):
    """What every camera is set to (camkit cameras apply); per-camera values come from the model."""

    accounts: CameraAccounts = Field(default_factory=CameraAccounts)
    password_length: int = Field(default=20, ge=8, le=64, description="generated password length")
    password_classes: list[Literal["upper", "lower", "digit", "special"]] = Field(
        default_factory=lambda: ["upper", "lower", "digit", "special"], min_length=1,
        description="character classes every generated password contains (724/QĐ-BTTTT: all four)")
    lockout: CameraLockout = Field(default_factory=CameraLockout)
    rtsps: bool = Field(default=True, description="RTSP over TLS where the model supports it")
    gop_seconds: float = Field(default=2.0, gt=0, le=10, description="I-frame interval")
    syslog: bool = True

    @field_validator("password_classes")
    @classmethod
    def _classes_unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("password_classes must not repeat a class")
        return v


class NetworkRoles(Strict):
    cameras: NetworkSpec
    management: NetworkSpec
    servers: NetworkSpec
    storage: NetworkSpec
    operators: NetworkSpec


class Tiers(Strict):
    tier1: TierBaseline
    tier2: TierBaseline
    tier3: TierBaseline

    def of(self, tier: int) -> TierBaseline:
        return {1: self.tier1, 2: self.tier2, 3: self.tier3}[tier]

    @model_validator(mode="after")
    def _plan_minimums(self) -> Tiers:
        if self.tier2.retention_days < 30:
            raise ValueError("tier2.retention_days must be at least 30 (master plan VII.2.2.4: district and "
                             "department OCs keep normal data at least 30 days)")
        return self


class StoragePolicy(Strict):
    """How recordings are kept; sizing reads it (figures and sources in camkit/data/sizing.yml)."""

    hot_days: int = Field(default=7, ge=0, le=3650, description="recent days on the recording site's hot disks")
    hot_replicas: int = Field(default=3, ge=1, le=5, description="tier 1/2 hot tier: Ceph replicas")
    local_raid_factor: float = Field(default=1.25, ge=1, le=3, description="tier 3 local disks: RAID6 8+2 = 1.25")
    ec_data_chunks: int = Field(default=4, ge=1, le=32, description="warm/cold object store erasure coding k")
    ec_coding_chunks: int = Field(default=2, ge=0, le=16, description="erasure coding m")
    filesystem_overhead_percent: int = Field(default=5, ge=0, le=50)
    headroom_percent: int = Field(default=20, ge=0, le=400)
    tier2_backup_percent: int = Field(default=10, ge=0, le=100,
                                      description="share of tier-2 recordings backed up to the city")
    tier1_archive_percent: int = Field(default=5, ge=0, le=100,
                                       description="share of the city's recordings kept as evidence in the cold tier")
    tier1_archive_days: int = Field(default=365, ge=0, le=36500)
    relay_concurrency_percent: int = Field(default=5, ge=0, le=100,
                                           description="share of a site's cameras watched from upper tiers at once")
    uplink_alert_percent: int = Field(default=80, ge=1, le=100)


class RegistryOptions(Strict):
    """What the camera registry (the digital map's feed) publishes beyond the master plan's camera schema."""

    management_addresses: bool = Field(default=False, description="add each camera's management address (`ip`); "
                                       "the map opens cameras at their VMS and needs none")


class Planning(Strict):
    """Master plan VII.2.6 planning rules `camkit validate` reports (warnings; `--strict` fails on them)."""

    duplicate_within_m: float = Field(
        default=15, ge=0, le=500,
        description="cameras of different units this close, with the same purpose (and heading, when both give "
                    "one), duplicate each other (VII.2.6 (1)); police cameras are exempt")
    heading_within_deg: float = Field(default=45, ge=0, le=180,
                                      description="two headings this close look the same way")
    max_distance_km: dict[SiteKind, float] = Field(
        default_factory=lambda: {SiteKind.ward: 5.0, SiteKind.private_system: 2.0, SiteKind.district_oc: 30.0},
        description="a camera farther than this from its site's location is reported (a mistyped or swapped "
                    "coordinate, or a camera filed under the wrong site); kinds not listed serve the whole city")
    shared_within_m: dict[Literal["pole", "cabinet", "smarthub"], float] = Field(
        default_factory=lambda: {"pole": 30.0, "smarthub": 30.0, "cabinet": 300.0},
        description="cameras given one pole, smart hub (one place) or cabinet (one street block) farther apart "
                    "than this: the id is mistyped")


class City(Strict):
    id: Slug
    name: str = Field(min_length=1)
    timezone: str = "Asia/Ho_Chi_Minh"
    area: Area
    address_space: str = Field(description="IPv4 space all site subnets come from")
    transit_space: str = Field(description="IPv4 space for WAN transit /31 links between tiers")
    reserved: list[ReservedRange] = Field(default_factory=list)
    kubernetes: Kubernetes = Field(default_factory=Kubernetes)
    networks: NetworkRoles
    addressing: Addressing = Field(default_factory=Addressing)
    services: Services
    tiers: Tiers
    security: SecurityBaseline = Field(default_factory=SecurityBaseline)
    storage: StoragePolicy = Field(default_factory=StoragePolicy)
    cameras: CameraBaseline = Field(default_factory=CameraBaseline)
    registry: RegistryOptions = Field(default_factory=RegistryOptions)
    planning: Planning = Field(default_factory=Planning)

    @model_validator(mode="after")
    def _password_length(self) -> City:
        if self.cameras.password_length < self.security.camera_password_min_length:
            raise ValueError(f"cameras.password_length ({self.cameras.password_length}) is below "
                             f"security.camera_password_min_length ({self.security.camera_password_min_length})")
        return self


# --- sites and profiles -------------------------------------------------------------------------


class Uplink(Strict):
    type: UplinkType
    capacity_mbps: int = Field(ge=1, le=400_000)
    redundant: bool = False
    public_endpoint: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$",
        description="host:port where private systems reach this site's WireGuard hub over the Internet")


GpuModel = Literal["nvidia-t4", "nvidia-l4", "nvidia-a2"]  # keys of `gpus:` in camkit/data/sizing.yml


class Server(Strict):
    name: Slug = Field(description="short name; the hostname is <site>-<name>")
    roles: list[ServerRole] = Field(min_length=1)
    nics: list[str] = Field(default_factory=lambda: ["eno1"], min_length=1)
    netplan: Literal["single", "bond"] = "single"
    cpu_cores: int = Field(default=16, ge=1, le=1024)
    memory_gb: int = Field(default=64, ge=1, le=16384)
    gpus: int = Field(default=0, ge=0, le=16)
    gpu_model: GpuModel = Field(default="nvidia-t4", description="entry of the GPU catalog in camkit/data/sizing.yml")
    disks_tb: float = Field(default=0, ge=0, le=10_000)

    @model_validator(mode="after")
    def _consistent(self) -> Server:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("roles must not repeat")
        if self.netplan == "bond" and len(self.nics) < 2:
            raise ValueError("netplan 'bond' needs at least two nics")
        if ServerRole.gateway in self.roles and len(self.nics) < (3 if self.netplan == "bond" else 2):
            raise ValueError("a gateway needs its site NIC(s) plus one uplink NIC (the last): "
                             f"at least {3 if self.netplan == 'bond' else 2} nics for netplan '{self.netplan}'")
        if ServerRole.gpu in self.roles and self.gpus == 0:
            raise ValueError("a 'gpu' server needs gpus >= 1")
        return self

    @property
    def uplink_nic(self) -> str | None:
        """A gateway's uplink NIC (its last): the site's transit links and, at a WireGuard hub, the Internet."""
        return self.nics[-1] if ServerRole.gateway in self.roles else None


class Switch(Strict):
    id: Slug = Field(description="short name; the hostname is <site>-<id>")
    ports: int = Field(default=24, ge=4, le=576)
    uplink_ports: list[int] = Field(default_factory=lambda: [])
    dialect: SwitchDialect = SwitchDialect.cisco_iosxe
    model: str = ""

    @model_validator(mode="after")
    def _uplinks_inside(self) -> Switch:
        bad = [p for p in self.uplink_ports if not 1 <= p <= self.ports]
        if bad:
            raise ValueError(f"uplink_ports {bad} outside 1..{self.ports}")
        return self


class Share(Strict):
    """An explicit grant: this site's cameras (optionally some purposes) to another unit."""

    to: Slug
    purposes: list[Purpose] = Field(default_factory=list, description="empty: every purpose")
    reason: str = Field(min_length=1)


class PinnedNetwork(Strict):
    subnet: str = Field(description="an existing subnet to keep, e.g. a legacy camera network")


class Location(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str = ""


class SiteBody(Strict):
    """The fields a profile may default and a site may override."""

    uplink: Uplink | None = None
    servers: list[Server] | None = None
    switches: list[Switch] | None = None
    operators: int | None = Field(default=None, ge=0, le=10_000, description="operator seats (workstations)")


class Profile(SiteBody):
    id: ProfileId
    description: str = ""


class Site(Strict):
    id: Slug
    name: str = Field(min_length=1)
    kind: SiteKind
    tier: int = Field(ge=1, le=3)
    parent: Slug | None = None
    organisation: str = Field(min_length=1, description="owning body, e.g. 'UBND Quận Ba Đình'")
    profile: ProfileId | None = Field(default=None, description="defaults to the profile named like the kind")
    location: Location
    uplink: Uplink
    servers: list[Server] = Field(default_factory=list)
    switches: list[Switch] = Field(default_factory=list)
    operators: int = Field(default=0, ge=0, le=10_000)
    sectors: list[Purpose] = Field(default_factory=list,
                                   description="department OCs: camera purposes they see city-wide")
    shares: list[Share] = Field(default_factory=list)
    networks: dict[NetworkRole, PinnedNetwork] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_tier(cls, data: object) -> object:
        if isinstance(data, dict) and "tier" not in data and data.get("kind") in SiteKind._value2member_map_:
            data = {**data, "tier": TIER_OF_KIND[SiteKind(data["kind"])]}
        return data

    @model_validator(mode="after")
    def _tier_matches_kind(self) -> Site:
        want = TIER_OF_KIND[self.kind]
        if self.tier != want:
            raise ValueError(f"kind '{self.kind.value}' is tier {want}, not {self.tier}")
        if self.sectors and self.kind is not SiteKind.department_oc:
            raise ValueError("only department_oc sites have sectors")
        names = [s.name for s in self.servers]
        if len(set(names)) != len(names):
            raise ValueError("server names must be unique in a site")
        ids = [s.id for s in self.switches]
        if len(set(ids)) != len(ids):
            raise ValueError("switch ids must be unique in a site")
        return self

    def hostname(self, name: str) -> str:
        return f"{self.id}-{name}"

    @property
    def storage_hosts(self) -> list[Server]:
        """The servers that hold recordings: role `storage` with disks (Ceph hosts at tiers 1-2, local volumes at 3)."""
        return [s for s in self.servers if ServerRole.storage in s.roles and s.disks_tb > 0]

    @property
    def is_police(self) -> bool:
        return self.kind is SiteKind.police_command


# --- camera registry rows -----------------------------------------------------------------------

_MAC_RE = re.compile(r"^[0-9a-f]{12}$")
_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_MAC_SEPARATORS = str.maketrans("", "", ":-.")


def normalize_mac(value: str) -> str:
    """aa:bb:cc:dd:ee:ff, AA-BB-..., aabb.ccdd.eeff -> aa:bb:cc:dd:ee:ff."""
    low = value.strip().lower()
    if _CANONICAL_MAC.fullmatch(low) and not int(low[0:2], 16) & 1:
        return low
    raw = low.translate(_MAC_SEPARATORS)
    if not _MAC_RE.match(raw):
        raise ValueError(f"'{value}' is not a MAC address (expected aa:bb:cc:dd:ee:ff)")
    if int(raw[0:2], 16) & 1:
        raise ValueError(f"'{value}' is a multicast MAC, not a device address")
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


CAMERA_REQUIRED = [
    "id", "name", "type", "purpose", "lat", "lon", "address", "height_m", "status", "connection",
    "vendor", "model", "resolution_mp", "codec", "fps", "mac", "dot1x", "analytics", "switch", "port",
]
CAMERA_OPTIONAL = ["owner", "stream_url", "ip", "bitrate_mbps", "heading", "pole", "cabinet", "smarthub"]
SHARED_INFRASTRUCTURE = ("pole", "cabinet", "smarthub")  # VII.2.6 (2): shared by the units' cameras


def _literal(enum: type[Enum]) -> Any:
    """Camera rows use Literal types: validated in pydantic-core, ~2x faster than Enum on 60k rows."""
    return Literal.__getitem__(tuple(e.value for e in enum))  # type: ignore[attr-defined]


CameraTypeName = _literal(CameraType)
PurposeName = _literal(Purpose)
StatusName = _literal(CameraStatus)
ConnectionName = _literal(UplinkType)
CodecName = _literal(Codec)
Dot1xName = _literal(Dot1xMode)
AnalyticName = _literal(Analytic)
WIRED = frozenset(c.value for c in WIRED_CONNECTIONS)


class Camera(Frozen):
    """One camera row; enumerated fields hold the inventory spelling (plain strings). Not `Strict`: a camera CSV is
    checked for control characters whole, once (sources.load_csv), not by a Python call per field (Hanoi: 1.7
    million calls, ~0.6 s of a validate)."""

    id: Slug
    name: str = Field(min_length=1)
    type: CameraTypeName
    purpose: PurposeName
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str = ""
    height_m: float = Field(ge=0, le=300)
    status: StatusName
    connection: ConnectionName
    owner: Slug | None = Field(default=None, description="owning unit (a site id); empty: the camera's site")
    vendor: str = Field(min_length=1)
    model: str = Field(min_length=1)
    resolution_mp: float = Field(ge=1, le=33)
    codec: CodecName
    fps: int = Field(ge=1, le=60)
    mac: str
    dot1x: Dot1xName | None = None
    analytics: tuple[AnalyticName, ...] = ()
    switch: Slug | None = None
    port: int | None = Field(default=None, ge=1, le=576)
    stream_url: str | None = None
    ip: str | None = Field(default=None, pattern=r"^\d{1,3}(\.\d{1,3}){3}$",
                           description="existing address to keep (legacy cameras); must lie in the camera subnet")
    bitrate_mbps: float | None = Field(default=None, gt=0, le=100,
                                       description="measured or configured bitrate; empty: from the sizing table")
    heading: float | None = Field(default=None, ge=0, lt=360,
                                  description="compass bearing the camera looks at, degrees from north (a PTZ: its "
                                              "home position); planning compares it (VII.2.6)")
    pole: InfraId | None = Field(default=None, description="the pole or mast it is mounted on (city-wide id)")
    cabinet: InfraId | None = Field(default=None, description="the street cabinet that powers and connects it")
    smarthub: InfraId | None = Field(default=None, description="the smart hub (smart pole node) it is wired to")
    site: Slug = Field(description="set by the loader from the file name")

    @field_validator("mac", mode="before")
    @classmethod
    def _mac(cls, v: object) -> object:
        return normalize_mac(v) if isinstance(v, str) else v

    @field_validator("analytics", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple([a.strip() for a in v.split(";")]) if v else ()
        return v

    @field_validator("stream_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.match(r"^rtsps?://[^\s/]+(/\S*)?$", v):
            raise ValueError("stream_url must be rtsp:// or rtsps://host[:port]/path")
        if "@" in v.split("/", 3)[2]:
            raise ValueError("stream_url must not carry credentials (secrets never go in the inventory; "
                             "the secrets store holds them)")
        query = v.partition("?")[2].lower()
        if re.search(r"(^|[&;])(user(name)?|login|pass(word|wd)?|pwd|auth|token|key|secret)=", query):
            raise ValueError("stream_url must not carry credentials in its query (user=, password=, token=...; "
                             "the secrets store holds them)")
        return v

    @model_validator(mode="after")
    def _wiring(self) -> Camera:
        wired = self.connection in WIRED
        if wired and (self.switch is None or self.port is None):
            raise ValueError(f"a '{self.connection}' camera needs 'switch' and 'port'")
        if wired and self.dot1x is None:
            raise ValueError("a wired camera needs dot1x 'eap-tls' or 'mab' (master plan VII.2.2.6: 802.1X/RADIUS)")
        if not wired and (self.switch or self.port):
            raise ValueError(f"a '{self.connection}' camera is not on a site switch: leave switch and port empty")
        if "ptz_tracking" in self.analytics and self.type != "ptz":
            raise ValueError("'ptz_tracking' needs a ptz camera")
        if len(set(self.analytics)) != len(self.analytics):
            raise ValueError("analytics must not repeat")
        return self

    @model_validator(mode="after")
    def _stream_host(self) -> Camera:
        if self.stream_url is not None and self.ip is not None:  # without an ip: the IP plan checks the address
            host = urlsplit(self.stream_url).hostname or ""
            if host != self.ip:
                raise ValueError(f"stream_url points at {host[:40]!r}, not at the camera's ip {self.ip} "
                                 "(the VMS pulls the camera itself; a relay or another host is not allowed)")
        return self

    @property
    def unit(self) -> str:
        return self.owner or self.site


# --- camera model catalog (camera-models.yml) ---------------------------------------------------


class CameraModelSpec(Strict):
    """One camera model in service: the firmware the city accepts and what it supports over ONVIF."""

    vendor: str = Field(min_length=1)
    model: str = Field(min_length=1)
    min_firmware: str = Field(pattern=r"\d", description="lowest accepted firmware (vendor security bulletins)")
    default_accounts: list[str] = Field(default_factory=lambda: ["admin"],
                                        description="factory accounts camkit deletes")
    rtsps: bool = False
    dot1x_eap_tls: bool = True
    advanced_security: bool = False
    max_resolution_mp: float | None = Field(default=None, ge=1, le=33)
    codecs: list[CodecName] = Field(default_factory=lambda: ["h264", "h265"], min_length=1)
    rtsp_path: str = Field(default="", pattern=RTSP_PATH_PATTERN, max_length=RTSP_PATH_MAX,
                           description="main-stream RTSP path from the vendor's documentation (never '/'); empty: "
                                       "unknown, each camera's comes from ONVIF GetStreamUri (streams.lock.csv) "
                                       "or its stream_url")
    rtsp_path_source: str = Field(default="", description="where rtsp_path comes from (the vendor's documentation)")
    vulnerability_disclosure: str = Field(default="", description="vendor's vulnerability disclosure page (QCVN 135)")

    @model_validator(mode="after")
    def _path_has_a_source(self) -> "CameraModelSpec":
        if self.rtsp_path and not self.rtsp_path_source.strip():
            raise ValueError("rtsp_path needs rtsp_path_source: name the vendor document it comes from")
        return self

    @property
    def key(self) -> str:
        return f"{self.vendor}/{self.model}"


class StreamRecord(Strict):
    """One row of streams.lock.csv: a camera's main stream as the camera itself reported it."""

    id: Slug
    path: str = Field(pattern=RTSP_PATH_PATTERN, min_length=2, max_length=RTSP_PATH_MAX,
                      description="path and query of the main profile's ONVIF GetStreamUri (no host, no credentials)")
    profile: str = Field(default="", max_length=64, pattern=PROFILE_TOKEN_PATTERN,
                         description="the ONVIF media profile token")
    source: Literal["onvif", "synthetic"] = Field(description="onvif: read from the camera by `camkit cameras "
                                                             "apply|audit`; synthetic: generated for a test city")
    observed: str = Field(default="", pattern=r"^(\d{4}-\d{2}-\d{2})?$", description="date the path was first seen")


class CameraModels(Strict):
    models: list[CameraModelSpec] = Field(default_factory=list)
