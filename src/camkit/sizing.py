"""Sizing: camera bitrates, storage per site (hot/warm/cold), WAN load per uplink.

Every figure comes from `camkit/data/sizing.yml` (with its source) or the city's storage policy.
Bytes are exact integers; units are chosen at the edge: SI (1 TB = 10^12 B), binary (TiB = 2^40 B)
or the vendor-calculator convention (MB = 10^6 B, GB = 1024 MB, TB = 1024 GB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

from camkit.ipplan import vms_service
from camkit.loader import Inventory
from camkit.model import Camera, ServerRole, SiteKind, StoragePolicy
from camkit.topology import Topology

DATA = Path(__file__).resolve().parent / "data" / "sizing.yml"
Units = Literal["si", "binary", "vendor"]
UNIT: dict[str, tuple[str, str, float]] = {
    # name -> (label of the large unit, label of the small one, bytes per large unit)
    "si": ("TB", "GB", 1e12),
    "binary": ("TiB", "GiB", float(2**40)),
    "vendor": ("TB", "GB", 1e6 * 1024 * 1024),
}
SMALL = {"si": 1e9, "binary": float(2**30), "vendor": 1e6 * 1024}


@lru_cache(maxsize=1)
def table() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(DATA.read_text("utf-8"))


def storage_bytes(cameras: int, bitrate_mbps: float, hours_per_day: float, days: float) -> int:
    """Bytes recorded: cameras x bitrate (10^6 bit/s) x seconds recorded / 8."""
    return round(cameras * bitrate_mbps * 1e6 / 8 * 3600 * hours_per_day * days)


def in_units(n_bytes: float, units: str, small: bool = False) -> tuple[float, str]:
    big_label, small_label, per = UNIT[units]
    if small:
        return n_bytes / SMALL[units], small_label + (" (vendor: 1 GB = 1024 x 10^6 B)" if units == "vendor" else "")
    return n_bytes / per, big_label + (" (vendor: 1 TB = 1024 x 1024 x 10^6 B)" if units == "vendor" else "")


def camera_mbps(cam: Camera) -> float:
    """Per-camera bitrate: the inventory's value, else pixels x fps x bits/pixel(codec) x activity(purpose)."""
    if cam.bitrate_mbps is not None:
        return cam.bitrate_mbps
    t = table()["bitrate"]
    return cam.resolution_mp * cam.fps * t["bits_per_pixel"][cam.codec] * t["activity"][cam.purpose]


@dataclass
class SiteSize:
    site: str
    tier: int
    cameras: int
    bitrate_mbps: float  # sum of the site's recorded streams
    daily_bytes: int  # logical recordings per day
    retention_days: int
    hot_bytes: int = 0  # provisioned (protection, file system overhead and headroom included)
    warm_bytes: int = 0
    cold_bytes: int = 0
    logical_bytes: int = 0  # what is kept, before protection and overheads
    uplink_capacity_mbps: int = 0
    uplink: dict[str, float] = field(default_factory=dict)  # Mbps by cause
    compute: Compute | None = None  # None for private systems (recorded and analysed by their parent)
    # each VMS shard's recordings volume: its hot days with overhead and headroom (tiers 1-2: the archive moves
    # older segments to the warm object store; tier 3 keeps all of its retention on it)
    vms_volume_bytes: float = 0.0

    @property
    def total_bytes(self) -> int:
        return self.hot_bytes + self.warm_bytes + self.cold_bytes

    @property
    def uplink_mbps(self) -> float:
        return sum(self.uplink.values())

    @property
    def uplink_utilisation(self) -> float:
        return self.uplink_mbps / self.uplink_capacity_mbps if self.uplink_capacity_mbps else 0.0


@dataclass
class Compute:
    """What a site's cluster runs for its recordings and analytics, and how big it is."""

    recorded: list[str]  # camera ids this site records (own + private systems below it), sorted
    analysed: list[str]  # camera ids this site's IVA analyses (own + sites below without GPUs), sorted
    gpu_model: str | None
    gpus_available: int
    gpus_needed: int
    streams_per_gpu: int  # for the site's analysed cameras' average frame rate
    vms_shards: int
    iva_shards: int  # one Frigate instance per GPU needed; a CPU-only site with analysed cameras: 0
    recorder_cpu_m: int  # per VMS instance
    recorder_mem_mi: int
    iva_cpu_m: int  # per Frigate instance
    iva_mem_mi: int
    worker_cores: int  # what the site's Kubernetes workers offer
    worker_memory_gb: int

    @property
    def cpu_request_m(self) -> int:
        """What the site's VMS shards and IVA instances request in all (millicores)."""
        return self.vms_shards * self.recorder_cpu_m + self.iva_shards * self.iva_cpu_m

    @property
    def memory_request_mi(self) -> int:
        return self.vms_shards * self.recorder_mem_mi + self.iva_shards * self.iva_mem_mi

    @property
    def gpu_shortfall(self) -> int:
        return max(0, self.gpus_needed - self.gpus_available)

    @property
    def vms_parts(self) -> list[list[str]]:
        """The recorded cameras of each VMS shard, in shard order (the one split every reader uses)."""
        return chunks(self.recorded, self.vms_shards)

    def vms_shard_of(self) -> dict[str, int]:
        """camera id -> the VMS shard that records it."""
        return {cid: i for i, part in enumerate(self.vms_parts) for cid in part}


def chunks(ids: list[str], n: int) -> list[list[str]]:
    """Split sorted ids into n contiguous, near-equal shards (adding a camera moves at most the boundaries)."""
    if n <= 0:
        return []
    size = math.ceil(len(ids) / n) if ids else 0
    return [ids[i * size:(i + 1) * size] for i in range(n)]


def gpu_load(cams: list[Camera], gpu: dict) -> tuple[float, float]:  # type: ignore[type-arg]
    """(decoder share, inference share) of one GPU these cameras' detect streams take."""
    iva = table()["iva"]
    decode = sum(iva["detect_stream_mp"] * c.fps for c in cams) / (2.0736 * 30) / gpu["decode_1080p30_streams"]
    per_s = gpu["detectors"] * 1000 / gpu["inference_ms"]
    infer = len(cams) * iva["detect_fps"] * iva["detections_per_frame"] / per_s
    return decode, infer


def _compute(inv: Inventory, sid: str, recorded: list[Camera], analysed: list[Camera], mbps: float) -> Compute:
    t = table()
    site = inv.sites[sid]
    gpu_servers = [s for s in site.servers if s.gpus]
    workers = [s for s in site.servers if ServerRole.k8s_worker in s.roles]
    model = gpu_servers[0].gpu_model if gpu_servers else None
    gpus = sum(s.gpus for s in gpu_servers)
    needed, per_gpu = 0, 0
    if model and analysed:
        spec = t["gpus"][model]
        decode, infer = gpu_load(analysed, spec)
        needed = math.ceil(max(decode, infer) - 1e-9)
        per_gpu = math.floor(len(analysed) / max(decode, infer)) if max(decode, infer) else 0
    rec, fr = t["recorder"], t["frigate"]
    vms = vms_shards(len(recorded), mbps)
    per_vms = math.ceil(len(recorded) / vms)
    per_vms_mbps = mbps / vms
    per_iva = math.ceil(len(analysed) / needed) if needed else 0
    return Compute(
        recorded=sorted(c.id for c in recorded), analysed=sorted(c.id for c in analysed), gpu_model=model,
        gpus_available=gpus, gpus_needed=needed, streams_per_gpu=per_gpu, vms_shards=vms, iva_shards=needed,
        recorder_cpu_m=round(rec["cpu_millicores_base"] + rec["cpu_millicores_per_stream"] * per_vms
                             + rec["cpu_millicores_per_100mbps"] * per_vms_mbps / 100),
        recorder_mem_mi=rec["memory_mib_base"] + rec["memory_mib_per_stream"] * per_vms,
        iva_cpu_m=fr["cpu_millicores_base"] + fr["cpu_millicores_per_camera"] * per_iva if needed else 0,
        iva_mem_mi=fr["memory_mib_base"] + fr["memory_mib_per_camera"] * per_iva if needed else 0,
        worker_cores=sum(s.cpu_cores for s in workers), worker_memory_gb=sum(s.memory_gb for s in workers))


def vms_shards(streams: int, mbps: float) -> int:
    """MediaMTX instances a site needs for this many recorded streams of this bit rate (at least one)."""
    rec = table()["recorder"]
    return max(1, math.ceil(max(streams / rec["max_streams_per_instance"], mbps / rec["max_mbps_per_instance"])))


def bitrates(inv: Inventory) -> dict[str, float]:
    """camera id -> `camera_mbps`, computed once per inventory (the plan, sizing and capacity all sum it)."""
    got = inv.__dict__.get("_bitrates")
    if got is None:
        got = inv.__dict__["_bitrates"] = {c.id: camera_mbps(c) for c in inv.cameras}
    return got


def published_services(inv: Inventory, topo: Topology) -> dict[str, tuple[str, ...]]:
    """site -> the names of its published services, each of which gets a planned address (the IP plan holds
    them; MetalLB announces them): one `vms-<i>` per VMS shard (RTSPS live view and relays, playback over
    HTTPS) and, where a web UI runs behind the ingress controller (the IVA's, the city SSO), `ingress`.
    Sites without Kubernetes workers publish nothing."""
    mbps = bitrates(inv)
    out: dict[str, tuple[str, ...]] = {}
    for sid, ids in topo.recorded.items():
        if not any(ServerRole.k8s_worker in s.roles for s in inv.sites[sid].servers):
            continue
        n = vms_shards(len(ids), sum(mbps[c] for c in ids))
        web = topo.runs_iva(sid) or sid == topo.sso_site
        out[sid] = (*(("ingress",) if web else ()), *(vms_service(i) for i in range(n)))
    return out


def overhead(pol: StoragePolicy) -> float:
    """What a byte recorded takes on disk before protection: file-system overhead, then headroom."""
    return (1 + pol.filesystem_overhead_percent / 100) * (1 + pol.headroom_percent / 100)


def size_compute(inv: Inventory, topo: Topology, sites: dict[str, SiteSize]) -> None:
    """Fill each recording site's Compute: cameras recorded, analysed, shards, GPUs, requests (the topology says
    which cameras each site records and analyses)."""
    cams, mbps = inv.camera_index, bitrates(inv)
    for sid, ids in topo.recorded.items():
        rec = [cams[c] for c in ids]
        analysed = [cams[c] for c in topo.analysed.get(sid, ())]
        s = sites[sid]
        s.compute = _compute(inv, sid, rec, analysed, sum(mbps[c] for c in ids))
        s.vms_volume_bytes = s.daily_bytes * topo.hot_days(sid) * overhead(inv.city.storage) / s.compute.vms_shards


@dataclass
class CitySize:
    sites: dict[str, SiteSize]

    def total(self, attr: str) -> float:
        return sum(getattr(s, attr) for s in self.sites.values())


def size_city(inv: Inventory, topo: Topology | None = None) -> CitySize:
    topo = topo if topo is not None else Topology(inv)
    pol = inv.city.storage
    duty = table()["recording"]["duty"]
    overhead_ = overhead(pol)
    ec = (pol.ec_data_chunks + pol.ec_coding_chunks) / pol.ec_data_chunks
    index = inv.camera_index
    rate = bitrates(inv)
    private = {sid for sid, site in inv.sites.items() if site.kind is SiteKind.private_system}
    sites: dict[str, SiteSize] = {}
    for sid, site in inv.sites.items():
        base = inv.city.tiers.of(site.tier)
        if site.kind is SiteKind.private_system:
            # recorded by the VMS it publishes to: the streams cross the private uplink (tunnel), storage is there
            cams = list(inv.cameras_by_site[sid])
            mbps = sum(rate[c.id] for c in cams)
            s = SiteSize(sid, site.tier, len(cams), mbps, storage_bytes(1, mbps, 24 * duty[base.recording], 1),
                         base.retention_days, uplink_capacity_mbps=site.uplink.capacity_mbps)
            s.uplink["published streams"] = mbps
            sites[sid] = s
            continue
        # what this site's VMS records of the cameras on the networks of units (private systems: below)
        cams = [index[c] for c in topo.recorded[sid] if index[c].site not in private]
        mbps = sum(rate[c.id] for c in cams)
        daily = storage_bytes(1, mbps, 24 * duty[base.recording], 1)
        s = SiteSize(sid, site.tier, len(cams), mbps, daily, base.retention_days,
                     uplink_capacity_mbps=site.uplink.capacity_mbps)
        # tier 3 keeps everything on local disks; tiers 1-2 keep hot_days on replicated disks, the rest
        # on the erasure-coded object store
        hot_days = topo.hot_days(sid)
        warm_days = base.retention_days - hot_days
        factor = pol.local_raid_factor if site.tier == 3 else pol.hot_replicas
        s.logical_bytes = daily * base.retention_days
        s.hot_bytes = round(daily * hot_days * factor * overhead_)
        s.warm_bytes = round(daily * warm_days * ec * overhead_)
        sites[sid] = s
    # private systems are recorded by the VMS they publish to
    for sid, (at, _) in topo.publishers.items():
        parent, child = sites[at], sites[sid]
        pbase = inv.city.tiers.of(parent.tier)
        extra = storage_bytes(1, child.bitrate_mbps, 24 * duty[pbase.recording], 1)
        parent.daily_bytes += extra
        parent.logical_bytes += extra * pbase.retention_days
        factor = pol.local_raid_factor if parent.tier == 3 else pol.hot_replicas
        hot_days = topo.hot_days(at)
        parent.hot_bytes += round(extra * hot_days * factor * overhead_)
        parent.warm_bytes += round(extra * (pbase.retention_days - hot_days) * ec * overhead_)
    # the city: tier-2 backups and the evidence archive, on its object store
    if topo.iocs:
        ioc = sites[topo.iocs[0]]
        backup = sum(s.daily_bytes * pol.tier2_backup_percent / 100 for s in sites.values() if s.tier == 2)
        backup_logical = round(backup * inv.city.tiers.tier2.retention_days)
        archive = sum(s.daily_bytes for s in sites.values()) * pol.tier1_archive_percent / 100
        archive_logical = round(archive * pol.tier1_archive_days)
        ioc.cold_bytes += round((backup_logical + archive_logical) * ec * overhead_)
        ioc.logical_bytes += backup_logical + archive_logical
        for s in sites.values():
            if s.tier == 2 and inv.city.tiers.tier2.backup_to_city:
                s.uplink["backup to the city"] = s.daily_bytes * pol.tier2_backup_percent / 100 * 8 / 86400 / 1e6
    # cameras a unit's VMS records on another site's network: their streams cross every uplink between
    for at, where, ids in topo.pulled_elsewhere():
        mbps = sum(rate[c] for c in ids)
        for hop in topo.links_between(where, at):
            key = "camera streams to the owner's VMS"
            sites[hop].uplink[key] = sites[hop].uplink.get(key, 0.0) + mbps
    # on-demand relays up the tiers: a share of each site's streams, on its uplink and its ancestors'
    for sid, site in inv.sites.items():
        if site.kind is SiteKind.private_system:
            continue
        relay = sites[sid].bitrate_mbps * pol.relay_concurrency_percent / 100
        chain = [sid, *inv.ancestors(sid)]
        for hop in chain:
            if inv.sites[hop].parent is None:
                break
            key = "relays up (own cameras)" if hop == sid else "relays up (sites below)"
            sites[hop].uplink[key] = sites[hop].uplink.get(key, 0.0) + relay
    # detect streams of cameras analysed above their recording site cross every uplink on the way
    t = table()
    for cid, at in sorted(topo.analysed_at.items()):
        rec = topo.recorded_at[cid]
        if at == rec:
            continue
        cam = index[cid]
        mbps = t["iva"]["detect_stream_mp"] * cam.fps * t["bitrate"]["bits_per_pixel"][cam.codec]
        for hop in (rec, *inv.ancestors(rec)):
            if hop == at:
                break
            key = "detect streams to the IVA above"
            sites[hop].uplink[key] = sites[hop].uplink.get(key, 0.0) + mbps
    size_compute(inv, topo, sites)
    return CitySize(sites)
