"""The `sizing` family: storage (hot/warm/cold) and uplink load per site, city totals; units stated."""

from __future__ import annotations

from typing import Iterable

from camkit.render import Artifact, RenderContext, Renderer, csv_bytes, md_table
from camkit.sizing import Compute, table

HEADER = ["site", "tier", "cameras", "recorded_mbps", "daily_bytes", "retention_days", "hot_bytes", "warm_bytes",
          "cold_bytes", "total_bytes", "total_tb_si", "uplink_mbps", "uplink_capacity_mbps", "uplink_utilisation",
          "cameras_analysed", "gpu_model", "gpus_available", "gpus_needed", "streams_per_gpu", "vms_shards",
          "iva_shards"]


def _compute_md(c: Compute) -> str:
    t = table()
    rows = [["cameras recorded here (own + private systems)", len(c.recorded)],
            ["VMS (MediaMTX) instances", f"{c.vms_shards}, each {c.recorder_cpu_m}m CPU / {c.recorder_mem_mi} MiB"],
            ["cameras analysed here (own + sites below without GPUs)", len(c.analysed)],
            ["GPU model", c.gpu_model or "none"], ["GPUs in the inventory", c.gpus_available],
            ["GPUs needed", c.gpus_needed], ["streams per GPU", c.streams_per_gpu or "-"],
            ["IVA (Frigate) instances", f"{c.iva_shards}, each {c.iva_cpu_m}m CPU / {c.iva_mem_mi} MiB, 1 GPU"
             if c.iva_shards else "0"],
            ["Kubernetes workers offer", f"{c.worker_cores} cores, {c.worker_memory_gb} GB"]]
    text = "\n## Compute (VMS and IVA)\n\n" + md_table(["", "value"], rows)
    if c.gpu_shortfall:
        text += (f"\n**GPU shortfall:** {c.gpus_needed} GPUs needed, {c.gpus_available} in the inventory: "
                 f"{c.gpu_shortfall} IVA instance(s) will stay Pending until GPUs are added.\n")
    if c.analysed and not c.gpu_model:
        text += "\n**No GPU:** cameras with analytics here have no IVA site above them either.\n"
    iva = t["iva"]
    text += (f"\nStreams per GPU = min(decoder limit, inference throughput / analysed fps): detect stream "
             f"{iva['detect_stream_mp']} MP at the camera's fps, {iva['detect_fps']} analysed fps, "
             f"{iva['detections_per_frame']} detection(s) per frame.\n")
    return text


def _kv(d: dict) -> str:  # type: ignore[type-arg]
    return ", ".join(f"{k} {v}" for k, v in d.items())


def _tb(n: float) -> str:
    return f"{n / 1e12:.2f}"


class SizingRenderer(Renderer):
    family = "sizing"
    cost = 0.1
    reads = ('sizing',)
    description = "Sizing per site: recorded bitrate, storage hot/warm/cold (bytes and SI TB), uplink load"

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        inv = ctx.inv
        sz = ctx.sizing
        pol = inv.city.storage
        for sid in ctx.sites():
            s = sz.sites[sid]
            lines = [f"# Sizing of {inv.sites[sid].name} (`{sid}`)\n\n",
                     "Units: bytes, and TB in SI (1 TB = 10^12 B); bitrates in Mb/s (10^6 bit/s).\n\n",
                     md_table(["", "value"], [
                         ["cameras", s.cameras], ["recorded bitrate (Mb/s)", f"{s.bitrate_mbps:.1f}"],
                         ["recorded per day (TB)", _tb(s.daily_bytes)], ["retention (days)", s.retention_days],
                         ["hot tier (TB, provisioned)", _tb(s.hot_bytes)], ["warm tier (TB)", _tb(s.warm_bytes)],
                         ["cold tier (TB)", _tb(s.cold_bytes)], ["total (TB)", _tb(s.total_bytes)],
                         ["uplink load (Mb/s)", f"{s.uplink_mbps:.1f} of {s.uplink_capacity_mbps}"]]),
                     "\n## Uplink load by cause (Mb/s)\n\n",
                     md_table(["cause", "Mb/s"], [[k, f"{v:.2f}"] for k, v in sorted(s.uplink.items())] or [["-", "0"]])]
            if s.uplink_utilisation * 100 >= pol.uplink_alert_percent:
                lines.append(f"\n**Warning:** the uplink is {s.uplink_utilisation:.0%} used "
                             f"(alert at {pol.uplink_alert_percent}%).\n")
            lines.append(_compute_md(s.compute) if s.compute else
                         "\n## Compute\n\nRecorded and analysed by the parent site.\n")
            yield Artifact(f"sites/{sid}/sizing/README.md", "".join(lines).encode("utf-8"), sid)
        if not ctx.city_scope:
            return
        rows = [[sid, s.tier, s.cameras, f"{s.bitrate_mbps:.3f}", s.daily_bytes, s.retention_days, s.hot_bytes,
                 s.warm_bytes, s.cold_bytes, s.total_bytes, _tb(s.total_bytes), f"{s.uplink_mbps:.3f}",
                 s.uplink_capacity_mbps, f"{s.uplink_utilisation:.4f}",
                 *([len(s.compute.analysed), s.compute.gpu_model or "", s.compute.gpus_available, s.compute.gpus_needed,
                    s.compute.streams_per_gpu, s.compute.vms_shards, s.compute.iva_shards] if s.compute else
                   [0, "", 0, 0, 0, 0, 0])] for sid, s in sz.sites.items()]
        yield Artifact("sizing/sites.csv", csv_bytes(HEADER, rows))
        t = table()
        over = sorted((s for s in sz.sites.values() if s.uplink_utilisation * 100 >= pol.uplink_alert_percent),
                      key=lambda s: -s.uplink_utilisation)
        by_tier = [[tier, sum(s.cameras for s in sz.sites.values() if s.tier == tier),
                    f"{sum(s.bitrate_mbps for s in sz.sites.values() if s.tier == tier) / 1000:.2f}",
                    _tb(sum(s.hot_bytes for s in sz.sites.values() if s.tier == tier)),
                    _tb(sum(s.warm_bytes for s in sz.sites.values() if s.tier == tier)),
                    _tb(sum(s.cold_bytes for s in sz.sites.values() if s.tier == tier)),
                    _tb(sum(s.total_bytes for s in sz.sites.values() if s.tier == tier))] for tier in (1, 2, 3)]
        comp = [s.compute for s in sz.sites.values() if s.compute]
        gpus = {"analysed": sum(len(c.analysed) for c in comp), "needed": sum(c.gpus_needed for c in comp),
                "available": sum(c.gpus_available for c in comp)}
        short = sum(c.gpu_shortfall for c in comp)
        short = f" (shortfall {short} at the sites that lack them)" if short else ""
        text = [f"# Sizing of {inv.city.name}\n\n",
                "Units: TB in SI (1 TB = 10^12 B), Gb/s = 10^9 bit/s. Exact bytes in `sites.csv`.\n\n",
                md_table(["tier", "cameras", "recorded Gb/s", "hot TB", "warm TB", "cold TB", "total TB"], by_tier),
                f"\nCity: {sz.total('cameras'):.0f} cameras, {sz.total('bitrate_mbps') / 1000:.2f} Gb/s recorded, "
                f"{_tb(sz.total('total_bytes'))} TB provisioned; IVA: {gpus['analysed']} cameras analysed, "
                f"{gpus['needed']} GPUs needed, {gpus['available']} in the inventory{short}.\n\n",
                "## Assumptions\n\n",
                f"- bitrate = megapixels x fps x bits per pixel ({_kv(t['bitrate']['bits_per_pixel'])}) x scene "
                f"activity by purpose ({_kv(t['bitrate']['activity'])}), unless the camera row gives `bitrate_mbps`. "
                f"Source: {t['bitrate']['source']}\n",
                f"- recording duty per mode: {_kv(t['recording']['duty'])}; retention per tier from city.yml\n",
                f"- hot tier: {pol.hot_days} days on {pol.hot_replicas} Ceph replicas (tiers 1-2), tier 3 on local "
                f"RAID ({pol.local_raid_factor}x); warm/cold: erasure coding {pol.ec_data_chunks}+{pol.ec_coding_chunks}; "
                f"file system overhead {pol.filesystem_overhead_percent}%, headroom {pol.headroom_percent}%\n",
                f"- the city keeps {pol.tier2_backup_percent}% of tier-2 recordings as backup and "
                f"{pol.tier1_archive_percent}% of all recordings for {pol.tier1_archive_days} days as evidence (cold)\n",
                f"- uplinks carry {pol.relay_concurrency_percent}% of each site's streams as on-demand relays to "
                "every upper tier, tier-2 backups, private systems' published streams, and the detect streams of "
                "cameras analysed by a site above (sites without GPUs)\n",
                "- IVA: cameras with analytics are analysed at their recording site if it has GPUs, else at the "
                "nearest site above that has; one Frigate instance per GPU needed. GPU figures and sources:\n",
                *[f"  - `{name}`: {g['decode_1080p30_streams']} 1080p30 decodes, {g['inference_ms']} ms per "
                  f"inference x {g['detectors']} detectors. {g['source']}\n" for name, g in t["gpus"].items()],
                f"- recorders (MediaMTX) and Frigate CPU/RAM: {t['recorder']['source']}; {t['frigate']['source']}\n"]
        if over:
            text.append("\n## Uplinks over the alert threshold\n\n")
            text.append(md_table(["site", "load Mb/s", "capacity Mb/s", "used"],
                                 [[s.site, f"{s.uplink_mbps:.0f}", s.uplink_capacity_mbps, f"{s.uplink_utilisation:.0%}"]
                                  for s in over]))
        yield Artifact("sizing/README.md", "".join(text).encode("utf-8"))
