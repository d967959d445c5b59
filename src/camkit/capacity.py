"""Capacity: can each site hold what camkit's one sizing model says it must? (plan stage; reads the inventory,
the topology and `sizing.size_city`, writes nothing).

Every rule is a `Finding`: the site file's position, the figure wanted, what is there, the shortfall and how to
fix it. Findings are warnings: `camkit validate` lists them and still succeeds; `camkit validate --strict` (what
CI runs) fails on any (`pipeline.check`, with the planning rules of `camkit.planning`). The rules:

- `storage`: the recordings a site keeps (hot replicas or local RAID, the erasure-coded warm and cold tiers,
  file-system overhead and headroom: `SiteSize.total_bytes`) against the raw disks of its storage servers;
- `gpus`: GPUs its IVA needs for the cameras it analyses against the GPUs present;
- `uplink`: the load on its uplink (published streams, relays, backups, detect streams) against its capacity;
- `ceph-hosts`: at tiers 1-2 Rook-Ceph places replicas and erasure-coded chunks on distinct hosts (failure
  domain `host`, the storage chart): replicas (and the object store's metadata pool, 3) and k+m need as many
  storage hosts;
- `compute`: the VMS shards' and IVA instances' requests against the site's Kubernetes workers, and VMS shards
  against workers (the chart spreads shards one per host: two on one host fall together);
- `retention`: a tier that records only motion or events does not keep the master plan's "normal data"
  (VII.2.2.4: district and department OCs keep it at least 30 days).
"""

from __future__ import annotations

from camkit.diagnostics import Diagnostic, Finding, Position
from camkit.loader import Inventory
from camkit.model import ServerRole, SiteKind, StoragePolicy
from camkit.sizing import CitySize, size_city
from camkit.topology import Topology

CEPH_METADATA_REPLICAS = 3  # charts/storage/templates/ceph.yaml: the object store's metadata pool
RULES = ("storage", "gpus", "uplink", "ceph-hosts", "compute", "retention")


def _tb(n_bytes: float) -> str:
    return f"{n_bytes / 1e12:,.1f} TB"


def ceph_hosts_needed(pol: StoragePolicy, erasure_coded: bool) -> int:
    """Storage hosts Rook-Ceph needs with failure domain host: the replicas, the metadata pool and, when the site
    keeps an erasure-coded tier, k+m."""
    return max(pol.hot_replicas, CEPH_METADATA_REPLICAS,
               pol.ec_data_chunks + pol.ec_coding_chunks if erasure_coded else 0)


def findings(inv: Inventory, topo: Topology | None = None, size: CitySize | None = None) -> list[Finding]:
    topo = topo if topo is not None else Topology.of(inv)
    size = size if size is not None else size_city(inv, topo)
    pol = inv.city.storage
    out: list[Finding] = []

    def add(rule: str, sid: str, where: str, message: str, hint: str) -> None:
        pos = inv.positions.get(where) or inv.positions.get(f"site.{sid}") or Position(str(inv.root))
        text = f"capacity ({rule}): " + (f"site '{sid}' {message}" if sid else message)
        out.append(Finding(rule, sid, Diagnostic(pos, text, hint)))

    for tier in (1, 2, 3):
        base = inv.city.tiers.of(tier)
        if tier < 3 and base.recording != "continuous":
            add("retention", "", f"city.tiers.tier{tier}",
                f"tier {tier} records '{base.recording}' only: normal data is not kept {base.retention_days} days "
                "(master plan VII.2.2.4: district and department OCs keep normal data at least 30 days)",
                f"set tiers.tier{tier}.recording: continuous")

    for sid, s in size.sites.items():
        site = inv.sites[sid]
        if site.kind is not SiteKind.private_system and s.total_bytes:
            hosts = site.storage_hosts
            raw = sum(h.disks_tb for h in hosts) * 1e12
            if s.total_bytes > raw:
                add("storage", sid, f"site.{sid}.servers",
                    f"keeps {_tb(s.total_bytes)} of recordings ({s.cameras} cameras, {s.bitrate_mbps:,.0f} Mbps, "
                    f"{s.retention_days} days; protection and {pol.headroom_percent}% headroom included) on "
                    f"{_tb(raw)} of storage-server disks: {_tb(s.total_bytes - raw)} short",
                    "add storage servers or disks (servers: role storage, disks_tb), or record fewer days or "
                    "only on motion (city.yml tiers)")
            if site.tier == 3 and hosts and s.compute is not None and s.compute.vms_shards:
                # a local volume lives on one node: each VMS shard's volume must fit on one storage node's disks
                largest = max(h.disks_tb for h in hosts) * 1e12 / pol.local_raid_factor
                if s.vms_volume_bytes > largest:
                    add("storage", sid, f"site.{sid}.servers",
                        f"each of its {s.compute.vms_shards} VMS shard(s) records {_tb(s.vms_volume_bytes)} on one "
                        f"local volume; the largest storage node holds {_tb(largest)} (RAID {pol.local_raid_factor}x)",
                        "give the storage nodes more disks (a local volume cannot span nodes), or record fewer days")
            if site.tier < 3 and (s.hot_bytes or s.warm_bytes or s.cold_bytes):
                need = ceph_hosts_needed(pol, bool(s.warm_bytes or s.cold_bytes))
                if len(hosts) < need:
                    add("ceph-hosts", sid, f"site.{sid}.servers",
                        f"Rook-Ceph needs {need} storage hosts (failure domain host: {pol.hot_replicas} replicas, "
                        f"erasure coding {pol.ec_data_chunks}+{pol.ec_coding_chunks}, metadata pool "
                        f"{CEPH_METADATA_REPLICAS}), the site has {len(hosts)}",
                        f"add {need - len(hosts)} storage server(s), or lower storage.hot_replicas / "
                        "ec_data_chunks + ec_coding_chunks in city.yml")
        if s.uplink_capacity_mbps and s.uplink_mbps > s.uplink_capacity_mbps:
            causes = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(s.uplink.items(), key=lambda kv: -kv[1]) if v >= 0.5)
            add("uplink", sid, f"site.{sid}.uplink",
                f"uplink carries {s.uplink_mbps:,.0f} Mbps ({causes}) on {s.uplink_capacity_mbps:,} Mbps: "
                f"{s.uplink_utilisation:.0%}",
                f"raise uplink.capacity_mbps to at least {int(s.uplink_mbps / (pol.uplink_alert_percent / 100)) + 1:,} "
                f"(the {pol.uplink_alert_percent}% alert threshold), or record the cameras nearer")
        c = s.compute
        if c is None:
            continue
        if c.gpu_shortfall:
            add("gpus", sid, f"site.{sid}.servers",
                f"its IVA analyses {len(c.analysed)} cameras: needs {c.gpus_needed} GPUs ({c.gpu_model}, "
                f"{c.streams_per_gpu} streams each), the site has {c.gpus_available}: {c.gpu_shortfall} short",
                "add GPU servers (role gpu, gpus) or turn analytics off for some cameras")
        workers = sum(1 for h in site.servers if ServerRole.k8s_worker in h.roles)
        cpu, mem = c.cpu_request_m, c.memory_request_mi
        if workers and (cpu > c.worker_cores * 1000 or mem > c.worker_memory_gb * 1024):
            add("compute", sid, f"site.{sid}.servers",
                f"{c.vms_shards} VMS shard(s) and {c.iva_shards} IVA instance(s) request {cpu / 1000:,.1f} cores and "
                f"{mem / 1024:,.1f} GiB; its workers offer {c.worker_cores} cores and {c.worker_memory_gb} GB",
                "add Kubernetes workers (role k8s_worker) or cores and memory")
        if workers and c.vms_shards > workers:
            add("compute", sid, f"site.{sid}.servers",
                f"{c.vms_shards} VMS shards on {workers} Kubernetes worker(s): shards share a host and fail together",
                f"run at least {c.vms_shards} workers (role k8s_worker)")
    return sorted(out, key=lambda f: (f.diagnostic.position, f.rule, f.diagnostic.message))
