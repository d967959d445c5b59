"""The `cameras` family: each camera's hardened profile, a reviewer's table per site, the criteria catalog.

Passwords are never rendered: a profile names the account and the place of its password in the secrets
store (`<site>.vault.yml`, key `camera_accounts.<camera>.<level>`).
"""

from __future__ import annotations

from typing import Iterable

from camkit.cameras import criteria
from camkit.cameras.profile import LEVELS, ONVIF_LEVEL, site_settings
import json

from camkit.render import Artifact, RenderContext, Renderer, csv_bytes, md_table

CRIT = {  # setting -> criteria it serves (ids of camkit/data/camera_criteria.yml)
    "accounts": "C01, C02, C03, C04",
    "lockout": "C05",
    "protocols": "C06, C09",
    "tls": "C07",
    "discovery": "C08",
    "ip_filter": "C10",
    "time": "C11",
    "syslog": "C12",
    "dot1x": "C13",
    "encoder": "C14",
    "firmware": "C15, C16",
    "cloud": "C17",
}
MODEL_HEADER = ["vendor", "model", "min_firmware", "default_accounts", "rtsps", "dot1x_eap_tls", "advanced_security",
                "codecs", "cameras", "vulnerability_disclosure"]


class CamerasRenderer(Renderer):
    family = "cameras"
    cost = 1.7
    reads = ('flows',)
    description = ("Hardened camera profiles per site (JSON for the ONVIF applier), a reviewer's table of "
                   "settings and the 724/QCVN 135 criteria they serve; no password is ever written")

    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        inv, plan = ctx.inv, ctx.plan
        for sid in ctx.sites():
            if not inv.cameras_by_site[sid]:
                continue
            st = site_settings(inv, plan, ctx.flows, sid)
            yield Artifact(f"sites/{sid}/cameras/profiles.json", _profiles_json(st), sid)
            yield Artifact(f"sites/{sid}/cameras/README.md", _site_md(inv.sites[sid].name, st).encode("utf-8"), sid)
        if not ctx.city_scope:
            return
        crit = criteria()
        lines = ["# Camera cybersecurity criteria\n\n",
                 "What `camkit cameras apply` sets and `camkit cameras audit` checks on every camera, and the text "
                 "each criterion serves. `manual`: not readable over ONVIF; a handover checklist item.\n\n",
                 md_table(["id", "criterion", "sources", "checked", "manual check"],
                          [[c["id"], c["title"], "; ".join(c["sources"]), c["check"], c.get("manual", "")]
                           for c in crit])]
        yield Artifact("cameras/criteria.md", "".join(lines).encode("utf-8"))
        counts: dict[str, int] = {}
        for cam in inv.cameras:
            key = f"{cam.vendor}/{cam.model}"
            counts[key] = counts.get(key, 0) + 1
        rows = [[m.vendor, m.model, m.min_firmware, ";".join(m.default_accounts), m.rtsps, m.dot1x_eap_tls,
                 m.advanced_security, ";".join(m.codecs), counts.get(m.key, 0), m.vulnerability_disclosure]
                for m in sorted(inv.models.values(), key=lambda m: m.key)]
        yield Artifact("cameras/models.csv", csv_bytes(MODEL_HEADER, rows))


def _profiles_json(st: object) -> bytes:
    """The site's settings indented, then one camera per line: readable diffs, and the C JSON encoder for
    the bulk (a city renders ~60,000 camera profiles)."""
    from camkit.cameras.profile import SiteCameraSettings

    assert isinstance(st, SiteCameraSettings)
    head = json.dumps(st.common(), ensure_ascii=False, sort_keys=True, indent=1)
    cams = ",\n".join("  " + json.dumps(p.row(), ensure_ascii=False, sort_keys=True) for p in st.cameras)
    return (head[:-2] + ',\n "cameras": [\n' + cams + "\n ]\n}\n").encode("utf-8")


def _site_md(name: str, st: object) -> str:
    from camkit.cameras.profile import SiteCameraSettings

    assert isinstance(st, SiteCameraSettings)
    lock = st.lockout
    common = [
        ["accounts", ", ".join(f"{st.accounts[lvl]} ({ONVIF_LEVEL[lvl]})" for lvl in LEVELS)
         + f"; vendor defaults deleted; passwords: {st.password_length} chars, {'/'.join(st.password_classes)}, "
           f"unique per camera and level, in {st.password_store}", CRIT["accounts"]],
        ["login lockout", f"{lock['failures']} failures within {lock['window_s']} s lock for {lock['duration_s']} s "
                          "(vendor UI: no ONVIF operation)", CRIT["lockout"]],
        ["protocols", ", ".join(f"{n} {'on' if p['enabled'] else 'off'} ({p['port']})" for n, p in st.protocols.items())
         + "; Telnet, SSH, FTP, UPnP, P2P off", CRIT["protocols"]],
        ["HTTPS certificate", "device key and certificate assigned to HTTPS where the model has Advanced Security",
         CRIT["tls"]],
        ["WS-Discovery", st.discovery, CRIT["discovery"]],
        ["IP filter (allow)", ", ".join(st.ip_filter) or "-", CRIT["ip_filter"]],
        ["time", f"NTP {', '.join(st.ntp) or '-'}; TZ {st.timezone} ({st.timezone_name})", CRIT["time"]],
        ["syslog", ", ".join(st.syslog) or "-", CRIT["syslog"]],
        ["vendor cloud / data location", f"cloud off; data stays in {st.data_location}", CRIT["cloud"]],
    ]
    rows = [[p.id, f"{p.vendor} {p.model}", p.address or "-", p.min_firmware or "-",
             {"eap-tls": f"EAP-TLS ({p.dot1x_identity})", "mab": "MAB (switch)"}.get(p.dot1x or "", "-"),
             f"{p.encoder.encoding} {p.encoder.width}x{p.encoder.height} {p.encoder.fps} fps "
             f"<= {p.encoder.bitrate_kbps} kb/s GOP {p.encoder.gov_length}",
             "RTSPS" if p.rtsps else "RTSP (auth)", "yes" if p.advanced_security else "no"] for p in st.cameras]
    return "".join([
        f"# Camera hardening — {name} (`{st.site}`)\n\n",
        "Applied by `camkit cameras apply --site ", st.site, "`, checked by `camkit cameras audit`. Criteria: "
        "`cameras/criteria.md` of this build.\n\n## Every camera\n\n",
        md_table(["setting", "value", "criteria"], common),
        "\n## Per camera\n\n",
        f"Criteria: 802.1X {CRIT['dot1x']}; encoder {CRIT['encoder']}; firmware {CRIT['firmware']}.\n\n",
        md_table(["camera", "model", "address", "min firmware", "802.1X", "encoder (cap from sizing)", "stream",
                  "advanced security"], rows),
    ])
