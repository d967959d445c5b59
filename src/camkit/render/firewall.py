"""The `firewall` family: the flow matrix (CSV, JSON) and a reviewer's Markdown table per site."""

from __future__ import annotations

from typing import Iterable

from camkit.flows import HEADER, FlowMatrix
from camkit.render import Artifact, RenderContext, Renderer, csv_bytes, json_bytes, md_table


class FirewallMatrixRenderer(Renderer):
    family = "firewall"
    cost = 1.2
    reads = ('flows',)
    description = "Flow matrix: every permitted flow with its reason (CSV, JSON; Markdown per site)"

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        matrix = ctx.flows
        touching: dict[str, list] = {}  # type: ignore[type-arg]
        for f in matrix.flows:
            touching.setdefault(f.src.site, []).append(f)
            if f.dst.site != f.src.site:
                touching.setdefault(f.dst.site, []).append(f)
        for sid in ctx.sites():
            site = ctx.inv.sites[sid]
            flows = touching.get(sid, [])
            yield Artifact(f"sites/{sid}/firewall/flows.csv", csv_bytes(HEADER, [f.row() for f in flows]), sid)
            gws = matrix.gateways(sid)
            text = [
                f"# Flow matrix of {site.name} (`{sid}`)\n\n",
                "Every flow below is permitted; everything else is dropped and logged. ",
                "Enforced on the destination host (nftables input) and on every site gateway on the path "
                "(nftables forward)" + (f"; this site's gateway: {', '.join(gws)}" if gws else
                                        "; this site has no gateway server (its uplink router and its parent's "
                                        "gateway enforce the forward rules)") + ".\n\n",
                f"{len(flows)} flows: {sum(f.src.site == sid for f in flows)} leave or stay in this site, "
                f"{sum(f.src.site != sid for f in flows)} come from other sites.\n\n",
                md_table(["id", "from", "to", "proto", "ports", "why", "ref"],
                         [[f.id, f.src.name, f.dst.name, f.proto, f.ports, f.reason, f.ref] for f in flows]),
            ]
            yield Artifact(f"sites/{sid}/firewall/README.md", "".join(text).encode("utf-8"), sid)
        if not ctx.city_scope:
            return
        yield Artifact("firewall/flows.csv", csv_bytes(HEADER, [f.row() for f in matrix.flows]))
        yield Artifact("firewall/flows.json", json_bytes({"flows": [dict(zip(HEADER, [
            f.id, f.src.name, list(f.src.addresses), f.dst.name, list(f.dst.addresses), f.proto, f.ports, f.reason,
            f.ref])) | {"l2_local": f.l2_local} | ({"via_uplink": True} if f.via_uplink else {})
            for f in matrix.flows]}))
