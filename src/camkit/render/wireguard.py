"""The `wireguard` family: `wg setconf` files for hubs (site gateways) and private-system spokes.

Keys are placeholders filled from the secrets store at install time (`camkit.wireguard.fill`);
a JSON sidecar per interface gives its address and routes.
"""

from __future__ import annotations

from typing import Iterable

from camkit.render import Artifact, RenderContext, Renderer, json_bytes
from camkit.wireguard import PORT, Tunnel, tunnels

PRIVATE = "{{ camkit_wireguard_private_key }}"


def _pub(host: str) -> str:
    return f"{{{{ camkit_wireguard_public_keys['{host}'] }}}}"


class WireguardRenderer(Renderer):
    family = "wireguard"
    cost = 0.1
    description = "WireGuard tunnels of private systems: hub (gateway) and spoke configs, keys from the store"

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        by_hub: dict[str, list[Tunnel]] = {}
        for t in tunnels(ctx.inv, ctx.plan):
            by_hub.setdefault(t.hub, []).append(t)
            if ctx.includes(t.site):
                conf = [f"# camkit: WireGuard spoke {t.spoke} of private system {t.site} -> hub {t.hub}",
                        "[Interface]", f"PrivateKey = {PRIVATE}", "", "[Peer]", f"# {t.hub} ({t.hub_site})",
                        f"PublicKey = {_pub(t.hub)}", f"AllowedIPs = {', '.join(t.spoke_allowed)}",
                        "PersistentKeepalive = 25"]
                if t.endpoint:
                    conf.append(f"Endpoint = {t.endpoint}")
                yield Artifact(f"sites/{t.site}/wireguard/{t.spoke}.conf", ("\n".join(conf) + "\n").encode(), t.site,
                               0o600)
                yield Artifact(f"sites/{t.site}/wireguard/{t.spoke}.json", json_bytes({
                    "interface": "wg-camkit", "address": f"{t.spoke_address}/31",
                    "routes": [a for a in t.spoke_allowed if not a.startswith(t.hub_address)], "peer": t.hub}), t.site)
        for hub, ts in sorted(by_hub.items()):
            site = ts[0].hub_site
            if not ctx.includes(site):
                continue
            conf = [f"# camkit: WireGuard hub {hub} ({site}) for {len(ts)} private system(s)", "[Interface]",
                    f"PrivateKey = {PRIVATE}", f"ListenPort = {PORT}"]
            for t in ts:
                conf += ["", "[Peer]", f"# {t.spoke} ({t.site})", f"PublicKey = {_pub(t.spoke)}",
                         f"AllowedIPs = {', '.join(t.hub_allowed)}"]
            yield Artifact(f"sites/{site}/wireguard/{hub}.conf", ("\n".join(conf) + "\n").encode(), site, 0o600)
            yield Artifact(f"sites/{site}/wireguard/{hub}.json", json_bytes({
                "interface": "wg-camkit", "addresses": [f"{t.hub_address}/31" for t in ts],
                "routes": [a for t in ts for a in t.hub_allowed[1:]], "peers": [t.spoke for t in ts]}), site)
