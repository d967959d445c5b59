"""The `sizing` family: storage (hot/warm/cold) and uplink load per site, city totals; units stated."""

from __future__ import annotations

from typing import Iterable

from camkit.render import Artifact, RenderContext, Renderer, csv_bytes, md_table
from camkit.sizing import size_city, table

HEADER = ["site", "tier", "cameras", "recorded_mbps", "daily_bytes", "retention_days", "hot_bytes", "warm_bytes",
          "cold_bytes", "total_bytes", "total_tb_si", "uplink_mbps", "uplink_capacity_mbps", "uplink_utilisation"]


def _kv(d: dict) -> str:  # type: ignore[type-arg]
    return ", ".join(f"{k} {v}" for k, v in d.items())


def _tb(n: float) -> str:
    return f"{n / 1e12:.2f}"


class SizingRenderer(Renderer):
    family = "sizing"
    description = "Sizing per site: recorded bitrate, storage hot/warm/cold (bytes and SI TB), uplink load"

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        inv = ctx.inv
        sz = size_city(inv)
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
            yield Artifact(f"sites/{sid}/sizing/README.md", "".join(lines).encode("utf-8"), sid)
        if not ctx.city_scope:
            return
        rows = [[sid, s.tier, s.cameras, f"{s.bitrate_mbps:.3f}", s.daily_bytes, s.retention_days, s.hot_bytes,
                 s.warm_bytes, s.cold_bytes, s.total_bytes, _tb(s.total_bytes), f"{s.uplink_mbps:.3f}",
                 s.uplink_capacity_mbps, f"{s.uplink_utilisation:.4f}"] for sid, s in sz.sites.items()]
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
        text = [f"# Sizing of {inv.city.name}\n\n",
                "Units: TB in SI (1 TB = 10^12 B), Gb/s = 10^9 bit/s. Exact bytes in `sites.csv`.\n\n",
                md_table(["tier", "cameras", "recorded Gb/s", "hot TB", "warm TB", "cold TB", "total TB"], by_tier),
                f"\nCity: {sz.total('cameras'):.0f} cameras, {sz.total('bitrate_mbps') / 1000:.2f} Gb/s recorded, "
                f"{_tb(sz.total('total_bytes'))} TB provisioned.\n\n",
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
                "every upper tier, tier-2 backups, and private systems' published streams\n"]
        if over:
            text.append("\n## Uplinks over the alert threshold\n\n")
            text.append(md_table(["site", "load Mb/s", "capacity Mb/s", "used"],
                                 [[s.site, f"{s.uplink_mbps:.0f}", s.uplink_capacity_mbps, f"{s.uplink_utilisation:.0%}"]
                                  for s in over]))
        yield Artifact("sizing/README.md", "".join(text).encode("utf-8"))
