#!/usr/bin/env python3
"""Generate inventories/hanoi/ from appendices 1 and 2 of the Hanoi camera master plan (2025).

The per-unit camera counts are transcribed from the seed (../shared/seed/hanoi-camera-master-plan.txt,
"Phụ lục 1" and "Phụ lục 2"); the script checks that they add up to the published totals before it
writes anything. Wards, camera positions, MACs, models and switch ports are synthetic, generated
deterministically (fixed seed) inside the approximate extent of each district. Run it again after
changing it; the output is byte-identical for the same script.

    python scripts/make_hanoi.py [--out inventories/hanoi]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import shutil
import sys
from pathlib import Path

SEED = 20250101

# Appendix 1: existing cameras per unit: (ptz, fixed, working, broken, shared private ptz, shared private fixed)
# Appendix 2: planned 2025-2030 per unit: (ptz, fixed, defense, traffic/infra/env/urban, security)
# Districts and towns: id, name, urban?, centre lat, lon, radius km, wards (pre-2025 count, approximate)
DISTRICTS = [
    # id, name, urban, lat, lon, r_km, wards, appendix-1 row, appendix-2 row
    ("ba-dinh", "Quận Ba Đình", True, 21.0358, 105.8194, 2.0, 14, (401, 299, 700, 0, 0, 0), (0, 2858, 0, 2858, 0)),
    ("ha-dong", "Quận Hà Đông", True, 20.9600, 105.7600, 4.0, 17, (326, 607, 882, 51, 0, 0), (19, 27, 0, 0, 46)),
    ("long-bien", "Quận Long Biên", True, 21.0470, 105.8880, 4.0, 14, (1, 42, 43, 0, 0, 0), (16, 257, 32, 225, 16)),
    ("hoang-mai", "Quận Hoàng Mai", True, 20.9750, 105.8600, 3.0, 14, (0, 52, 46, 6, 0, 0), (112, 167, 0, 15, 264)),
    ("bac-tu-liem", "Quận Bắc Từ Liêm", True, 21.0700, 105.7600, 3.0, 13, (386, 448, 612, 222, 0, 0), (133, 134, 0, 0, 267)),
    ("hai-ba-trung", "Quận Hai Bà Trưng", True, 21.0060, 105.8570, 2.0, 18, (65, 450, 515, 0, 0, 0), (205, 169, 0, 0, 374)),
    ("tay-ho", "Quận Tây Hồ", True, 21.0700, 105.8180, 2.5, 8, (0, 272, 272, 0, 0, 0), (1, 565, 0, 73, 493)),
    ("cau-giay", "Quận Cầu Giấy", True, 21.0330, 105.7900, 2.0, 8, (382, 1364, 1688, 58, 220, 142), (400, 724, 17, 940, 167)),
    ("dong-da", "Quận Đống Đa", True, 21.0150, 105.8250, 2.0, 21, (4, 235, 239, 0, 0, 0), (123, 2036, 0, 0, 2159)),
    ("thanh-xuan", "Quận Thanh Xuân", True, 20.9930, 105.8110, 2.0, 11, (1, 19, 17, 3, 0, 0), (48, 85, 7, 126, 0)),
    ("nam-tu-liem", "Quận Nam Từ Liêm", True, 21.0120, 105.7620, 3.0, 10, (1097, 781, 1878, 0, 0, 0), (1051, 256, 0, 1142, 165)),
    ("hoan-kiem", "Quận Hoàn Kiếm", True, 21.0287, 105.8523, 1.2, 18, (33, 40, 73, 0, 0, 0), (431, 559, 0, 0, 990)),
    ("son-tay", "Thị xã Sơn Tây", True, 21.1200, 105.4800, 5.0, 15, (0, 0, 0, 0, 0, 0), (463, 726, 6, 773, 410)),
    ("chuong-my", "Huyện Chương Mỹ", False, 20.8900, 105.6700, 8.0, 32, (125, 315, 425, 15, 521, 743), (4451, 4707, 0, 4579, 4579)),
    ("gia-lam", "Huyện Gia Lâm", False, 21.0200, 105.9500, 6.0, 22, (0, 0, 0, 0, 0, 0), (68, 188, 0, 0, 256)),
    ("my-duc", "Huyện Mỹ Đức", False, 20.6800, 105.7400, 8.0, 22, (0, 47, 47, 0, 0, 0), (354, 137, 0, 0, 491)),
    ("quoc-oai", "Huyện Quốc Oai", False, 20.9900, 105.6300, 6.0, 21, (40, 36, 71, 5, 0, 0), (0, 350, 0, 335, 15)),
    ("soc-son", "Huyện Sóc Sơn", False, 21.2570, 105.8480, 9.0, 26, (143, 673, 811, 5, 0, 0), (174, 403, 0, 0, 577)),
    ("thuong-tin", "Huyện Thường Tín", False, 20.8500, 105.8700, 6.0, 29, (0, 858, 858, 0, 0, 0), (77, 0, 0, 72, 5)),
    ("ung-hoa", "Huyện Ứng Hoà", False, 20.7200, 105.7800, 7.0, 29, (0, 460, 460, 0, 0, 0), (13, 13, 0, 0, 26)),
    ("dan-phuong", "Huyện Đan Phượng", False, 21.0900, 105.6700, 4.0, 16, (5, 369, 336, 38, 0, 0), (19, 97, 0, 112, 4)),
    ("me-linh", "Huyện Mê Linh", False, 21.1800, 105.7200, 6.0, 18, (0, 0, 0, 0, 0, 0), (43, 1029, 0, 108, 964)),
    ("ba-vi", "Huyện Ba Vì", False, 21.1300, 105.3900, 7.0, 31, (196, 533, 507, 222, 0, 0), (68, 121, 0, 0, 189)),
    ("thach-that", "Huyện Thạch Thất", False, 21.0500, 105.5700, 6.0, 23, (44, 856, 720, 180, 0, 1), (612, 0, 0, 0, 612)),
    ("phuc-tho", "Huyện Phúc Thọ", False, 21.1000, 105.5600, 5.0, 23, (0, 237, 216, 21, 0, 237), (235, 435, 0, 0, 670)),
    ("hoai-duc", "Huyện Hoài Đức", False, 21.0300, 105.7000, 4.0, 20, (0, 598, 455, 143, 0, 2), (0, 777, 20, 0, 757)),
    ("phu-xuyen", "Huyện Phú Xuyên", False, 20.7300, 105.9000, 7.0, 27, (0, 132, 132, 0, 0, 0), (7, 269, 0, 0, 276)),
    ("thanh-oai", "Huyện Thanh Oai", False, 20.8600, 105.7700, 6.0, 21, (0, 455, 451, 4, 0, 8), (280, 571, 145, 575, 131)),
    ("thanh-tri", "Huyện Thanh Trì", False, 20.9400, 105.8450, 4.0, 16, (0, 3644, 3644, 0, 0, 0), (0, 1196, 0, 0, 1196)),
    ("dong-anh", "Huyện Đông Anh", False, 21.1370, 105.8490, 7.0, 24, (0, 612, 612, 0, 0, 0), (196, 0, 0, 0, 196)),
]

# Departments (and the industrial-zone board) that have cameras in appendix 1 or 2.
# id, name, sector purposes seen city-wide, purpose of their "state management" cameras, lat, lon,
# appendix-1 (ptz, fixed, working, broken), appendix-2 (ptz, fixed, defense, traffic/infra/env/urban, security)
DEPARTMENTS = [
    ("so-tai-chinh", "Sở Tài chính", [], "urban_order", 21.0250, 105.8530, (0, 22, 22, 0), (0, 6, 0, 6, 0)),
    ("so-qhkt", "Sở Quy hoạch Kiến trúc", [], "urban_order", 21.0280, 105.8410, (0, 0, 0, 0), (1, 0, 0, 0, 1)),
    ("cuc-thue", "Cục Thuế TP Hà Nội", [], "urban_order", 21.0160, 105.8060, (11, 35, 24, 22), (12, 15, 0, 27, 0)),
    ("so-tttt", "Sở Thông tin và Truyền thông", [], "urban_order", 21.0290, 105.8050, (0, 0, 0, 0), (2, 0, 0, 0, 2)),
    ("so-xay-dung", "Sở Xây dựng", ["urban_order"], "urban_order", 21.0310, 105.8460, (0, 0, 0, 0), (0, 166, 0, 166, 0)),
    ("so-gtvt", "Sở Giao thông Vận tải", ["traffic"], "traffic", 21.0230, 105.8420, (376, 1469, 1845, 0), (864, 2974, 0, 2974, 864)),
    ("so-tnmt", "Sở Tài nguyên và Môi trường", ["environment"], "environment", 21.0200, 105.8010, (0, 0, 0, 0), (0, 1, 0, 1, 0)),
    ("so-tbxh", "Sở Lao động - Thương binh và Xã hội", [], "urban_order", 21.0270, 105.8300, (1, 29, 17, 13), (140, 1000, 0, 1140, 0)),
    ("bql-kcn", "Ban Quản lý các khu công nghiệp và chế xuất Hà Nội", [], "urban_order", 21.0350, 105.7850, (0, 0, 0, 0), (23, 26, 0, 0, 49)),
]

POLICE = ("cong-an-hn", "Trung tâm Thông tin Chỉ huy - Công an thành phố Hà Nội", 21.0245, 105.8530,
          (320, 459, 779, 0), (1366, 5159, 0, 0, 6525))

TOTALS = {
    "existing_ptz": 3957, "existing_fixed": 16448, "existing_working": 19397, "existing_broken": 1008,
    "private_ptz": 741, "private_fixed": 1133,
    "planned_ptz": 12007, "planned_fixed": 28203, "planned_defense": 227, "planned_state": 16247,
    "planned_security": 23736,
}

# 33 models in service (master plan II.1); vendors common in Hanoi's installed base
MODELS = [
    ("Hikvision", m) for m in ("DS-2CD2T47G2-L", "DS-2CD2043G2-I", "DS-2DE4A425IWG-E", "DS-2CD2643G2-IZS",
                               "DS-2DF8425IX-AELW", "iDS-2CD7A46G0-IZHS", "DS-2CD1023G0-IU")
] + [
    ("Dahua", m) for m in ("IPC-HFW3849T1-AS-PV", "SD49425GB-HNR", "IPC-HDBW2431E-S", "ITC413-PW4D-IZ3",
                           "IPC-HFW5442E-ZE", "SD6AL445XA-HNR")
] + [
    ("Axis", m) for m in ("P1465-LE", "Q6135-LE", "M3106-L Mk II", "P3265-LVE")
] + [
    ("Hanwha Vision", m) for m in ("XNO-6080R", "XNP-6400RW", "QNV-8080R", "PNM-9084RQZ1")
] + [
    ("VNPT Technology", m) for m in ("ONE SmartCam C2", "ONE SmartCam O2", "iGate IP-C3")
] + [
    ("Viettel", m) for m in ("HC23", "HO33", "HP43")
] + [
    ("Bosch", m) for m in ("DINION 5100i", "AUTODOME 7100i")
] + [
    ("Uniview", m) for m in ("IPC2124LB-SF40KM-G", "IPC6424SR-X25")
] + [
    ("KBVision", m) for m in ("KX-C4012SN3", "KX-D2008PN3")
]
assert len(MODELS) == 33

# camera-models.yml: per vendor, what the catalog records (illustrative minimum firmware: the city's security
# team keeps the real values from vendor security bulletins); factory accounts camkit deletes
VENDOR_TRAITS = {
    "Hikvision": {"min_firmware": "5.7.23", "default_accounts": ["admin"], "rtsps": False, "advanced_security": False,
                  "disclosure": "https://www.hikvision.com/en/support/cybersecurity/security-advisory/"},
    "Dahua": {"min_firmware": "2.840.0.16", "default_accounts": ["admin", "888888", "666666"], "rtsps": False,
              "advanced_security": False, "disclosure": "https://www.dahuasecurity.com/aboutUs/trustedCenter"},
    "Axis": {"min_firmware": "11.11.73", "default_accounts": ["root"], "rtsps": True, "advanced_security": True,
             "disclosure": "https://www.axis.com/support/cybersecurity/vulnerability-management"},
    "Hanwha Vision": {"min_firmware": "2.21.02", "default_accounts": ["admin"], "rtsps": True,
                      "advanced_security": True, "disclosure": "https://www.hanwhavision.com/en/support/cybersecurity/"},
    "VNPT Technology": {"min_firmware": "1.4.2", "default_accounts": ["admin"], "rtsps": False,
                        "advanced_security": False, "disclosure": ""},
    "Viettel": {"min_firmware": "2.3.1", "default_accounts": ["admin"], "rtsps": True, "advanced_security": False,
                "disclosure": ""},
    "Bosch": {"min_firmware": "9.10.4", "default_accounts": ["service", "user", "live"], "rtsps": True,
              "advanced_security": True, "disclosure": "https://www.boschsecurity.com/xc/en/support/product-security/"},
    "Uniview": {"min_firmware": "6.1.3", "default_accounts": ["admin"], "rtsps": False, "advanced_security": False,
                "disclosure": "https://global.uniview.com/Support/Security_Advisories/"},
    "KBVision": {"min_firmware": "2.800.0.8", "default_accounts": ["admin"], "rtsps": False,
                 "advanced_security": False, "disclosure": ""},
}


# Main-stream RTSP paths from each vendor's documentation. VNPT Technology and Viettel publish none: a real city
# records each such camera's path from ONVIF GetStreamUri (`camkit cameras audit` writes streams.lock.csv). This
# synthetic city has no cameras to ask, so its lock rows are SYNTHETIC (source "synthetic"): the path the ONVIF
# simulator reports for such a model, never a vendor's
SYNTHETIC_STREAM = ("/simulated/main", "synthetic", "prof-main")
RTSP_PATHS = {
    "Hikvision": ("/Streaming/Channels/101", "Hikvision ISAPI / RTSP URL: channel 1, main stream (101)"),
    "Dahua": ("/cam/realmonitor?channel=1&subtype=0", "Dahua HTTP API / RTSP: realmonitor channel 1, subtype 0 (main)"),
    "KBVision": ("/cam/realmonitor?channel=1&subtype=0", "KBVision (Dahua platform) RTSP: channel 1, subtype 0 (main)"),
    "Axis": ("/axis-media/media.amp", "Axis VAPIX RTSP API: /axis-media/media.amp (default stream)"),
    "Hanwha Vision": ("/profile2/media.smp", "Hanwha Vision support 'RTSP URLs': rtsp://<ip>/profile<no>/media.smp"),
    "Bosch": ("/?inst=1", "Bosch 'RTSP usage with Bosch VIP devices': live stream selection inst=1 (first stream)"),
    "Uniview": ("/unicast/c1/s0/live", "Uniview RTSP: /unicast/c<channel>/s<stream>/live, s0 = main stream"),
}


def models_yaml(models: list[tuple[str, str]]) -> str:
    lines = ["# Camera model catalog: the firmware the city accepts and what each model supports over ONVIF.",
             "# min_firmware values are illustrative: the city's security team keeps them current from vendor",
             "# security bulletins (master plan VII.2.2.4 b: keep firmware current).", "models:"]
    for vendor, model in models:
        t = VENDOR_TRAITS[vendor]
        accounts = ", ".join(f'"{a}"' for a in t["default_accounts"])
        yes = lambda b: "true" if b else "false"  # noqa: E731
        lines.append(f'  - {{vendor: "{vendor}", model: "{model}", min_firmware: "{t["min_firmware"]}", '
                     f"default_accounts: [{accounts}], "
                     f"rtsps: {yes(t['rtsps'])}, advanced_security: {yes(t['advanced_security'])}, "
                     f'vulnerability_disclosure: "{t["disclosure"]}"'
                     + (f', rtsp_path: "{RTSP_PATHS[vendor][0]}", rtsp_path_source: "{RTSP_PATHS[vendor][1]}"'
                        if vendor in RTSP_PATHS else "") + "}")
    return "\n".join(lines) + "\n"

ANALYTICS = {
    "security": ["motion", "intrusion", "crowd"],
    "traffic": ["lpr", "wrong_way", "density"],
    "defense": ["intrusion", "forbidden_zone"],
    "environment": ["smoke_fire"],
    "urban_order": ["parking", "left_object"],
}
POLICE_ANALYTICS = ["face_recognition", "lpr", "behaviour"]

HEADER = ["id", "name", "type", "purpose", "lat", "lon", "address", "height_m", "status", "connection", "vendor",
          "model", "resolution_mp", "codec", "fps", "mac", "dot1x", "analytics", "switch", "port"]


def check_totals() -> None:
    sums = dict.fromkeys(TOTALS, 0)
    for *_, a1, a2 in DISTRICTS:
        ptz, fixed, working, broken, pptz, pfixed = a1
        assert ptz + fixed == working + broken, a1
        sums["existing_ptz"] += ptz
        sums["existing_fixed"] += fixed
        sums["existing_working"] += working
        sums["existing_broken"] += broken
        sums["private_ptz"] += pptz
        sums["private_fixed"] += pfixed
        _add_planned(sums, a2)
    for *_, a1, a2 in DEPARTMENTS:
        assert a1[0] + a1[1] == a1[2] + a1[3], a1
        for key, v in zip(("existing_ptz", "existing_fixed", "existing_working", "existing_broken"), a1):
            sums[key] += v
        _add_planned(sums, a2)
    for key, v in zip(("existing_ptz", "existing_fixed", "existing_working", "existing_broken"), POLICE[4]):
        sums[key] += v
    _add_planned(sums, POLICE[5])
    if sums != TOTALS:
        diff = {k: (sums[k], TOTALS[k]) for k in TOTALS if sums[k] != TOTALS[k]}
        raise SystemExit(f"appendix transcription does not add up: {diff}")


def _add_planned(sums: dict[str, int], a2: tuple[int, ...]) -> None:
    ptz, fixed, defense, state, security = a2
    assert ptz + fixed == defense + state + security, a2
    sums["planned_ptz"] += ptz
    sums["planned_fixed"] += fixed
    sums["planned_defense"] += defense
    sums["planned_state"] += state
    sums["planned_security"] += security


class Gen:
    def __init__(self, out: Path):
        self.out = out
        self.rng = random.Random(SEED)
        self.mac = 0
        self.cam_no = 0
        self.streams: list[list[object]] = []  # streams.lock.csv rows
        self.sites: dict[str, tuple[str, str]] = {}  # site id -> (file, text as first written)
        self.grid: dict[tuple[int, int], list[tuple[str, str, float, float]]] = {}  # placed non-police cameras
        self.spare = random.Random(SEED + 1)  # moves a camera that would duplicate another unit's (VII.2.6)

    def next_mac(self) -> str:
        self.mac += 1
        n = self.mac
        return "02:4e:%02x:%02x:%02x:%02x" % ((n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255)

    def point(self, lat: float, lon: float, r_km: float) -> tuple[float, float]:
        ang = self.rng.random() * 2 * math.pi
        dist = r_km * math.sqrt(self.rng.random())
        dlat = dist / 111.0 * math.cos(ang)
        dlon = dist / (111.0 * math.cos(math.radians(lat))) * math.sin(ang)
        return round(lat + dlat, 6), round(lon + dlon, 6)

    def placed(self, unit: str, purpose: str, lat: float, lon: float, centre: tuple[float, float, float]) \
            -> tuple[float, float]:
        """A camera's position as a planner following VII.2.6 (1) would choose it: no other unit's camera of the
        same purpose within camkit's duplicate distance (police cameras, exempt, are never passed here). A clash
        is moved with a separate random stream, so the rest of the city stays as generated before the rule."""
        from camkit.model import Planning
        from camkit.planning import M_PER_DEG_LAT, metres

        within = Planning().duplicate_within_m
        cell = within / M_PER_DEG_LAT * 2  # degrees: a clash is in the same or a neighbouring cell
        for _ in range(200):
            cx, cy = math.floor(lon / cell), math.floor(lat / cell)
            clash = any(u != unit and p == purpose and metres(lat, lon, a, b) <= within
                        for dx in (-1, 0, 1) for dy in (-1, 0, 1) for u, p, a, b in self.grid.get((cx + dx, cy + dy), ()))
            if not clash:
                self.grid.setdefault((cx, cy), []).append((unit, purpose, lat, lon))
                return lat, lon
            ang, dist = self.spare.random() * 2 * math.pi, centre[2] * math.sqrt(self.spare.random())
            lat = round(centre[0] + dist / 111.0 * math.cos(ang), 6)
            lon = round(centre[1] + dist / (111.0 * math.cos(math.radians(centre[0]))) * math.sin(ang), 6)
        raise SystemExit(f"no free position for a {purpose} camera of {unit}")

    def write_yaml(self, rel: str, text: str) -> None:
        if rel.startswith("sites/"):
            self.sites[Path(rel).stem] = (rel, text)
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")

    def rewrite_site(self, sid: str, tail: str) -> None:
        """The site file as first written, plus `tail` (its own uplink and servers)."""
        rel, text = self.sites[sid]
        path = self.out / rel
        path.write_text(text + tail, "utf-8")

    def write_cameras(self, rel: str, rows: list[list[object]], pulled: bool = True) -> None:
        if not rows:
            return
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(HEADER)
            w.writerows(rows)
        if pulled:  # a private system's cameras are pushed by its recorder: no stream to pull
            vendor = HEADER.index("vendor")
            self.streams += [[r[0], *SYNTHETIC_STREAM, ""] for r in rows if r[vendor] not in RTSP_PATHS]

    def write_streams(self) -> None:
        with (self.out / "streams.lock.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["id", "path", "source", "profile", "observed"])
            w.writerows(sorted(self.streams))


def mix(counts: list[tuple[str, int]], rng: random.Random) -> list[str]:
    items = [k for k, n in counts for _ in range(n)]
    rng.shuffle(items)
    return items


def camera_specs(gen: Gen, existing: tuple[int, int, int, int], planned: tuple[int, ...],
                 state_purposes: list[tuple[str, int]], existing_purposes: list[tuple[str, int]],
                 police: bool = False) -> list[dict[str, object]]:
    """One dict per camera: type, status, purpose (exact appendix counts), in a shuffled order."""
    rng = gen.rng
    ptz, fixed, working, broken = existing
    specs: list[dict[str, object]] = []
    types = mix([("ptz", ptz), ("fixed", fixed)], rng)
    statuses = mix([("active", working), ("broken", broken)], rng)
    total = ptz + fixed
    weights = existing_purposes
    wsum = sum(w for _, w in weights)
    purposes: list[str] = []
    for i, (p, w) in enumerate(weights):
        n = total - len(purposes) if i == len(weights) - 1 else round(total * w / wsum)
        purposes += [p] * n
    rng.shuffle(purposes)
    for t, s, p in zip(types, statuses, purposes):
        specs.append({"type": t, "status": s, "purpose": p, "legacy": True})
    pptz, pfixed, defense, state, security = planned
    ptypes = mix([("ptz", pptz), ("fixed", pfixed)], rng)
    spurposes: list[str] = []
    ssum = sum(w for _, w in state_purposes)
    for i, (p, w) in enumerate(state_purposes):
        n = state - len(spurposes) if i == len(state_purposes) - 1 else round(state * w / ssum)
        spurposes += [p] * n
    ppurposes = mix([("defense", defense), ("security", security)], rng) + spurposes
    rng.shuffle(ppurposes)
    for t, p in zip(ptypes, ppurposes):
        specs.append({"type": t, "status": "planned", "purpose": p, "legacy": False})
    for s in specs:
        s["police"] = police
    return specs


def camera_row(gen: Gen, prefix: str, spec: dict[str, object], lat: float, lon: float, r_km: float, place: str,
               connection: str, switch: str | None, port: int | None) -> list[object]:
    rng = gen.rng
    gen.cam_no += 1
    cid = f"{prefix}-{gen.cam_no:05d}"
    clat, clon = gen.point(lat, lon, r_km)
    purpose = str(spec["purpose"])
    if not spec["police"]:
        clat, clon = gen.placed(prefix, purpose, clat, clon, (lat, lon, r_km))
    vendor, model = MODELS[rng.randrange(len(MODELS))] if spec["legacy"] else MODELS[rng.randrange(0, 13)]
    ptz = spec["type"] == "ptz"
    analytics = list(POLICE_ANALYTICS if spec["police"] else ANALYTICS[purpose])
    if ptz and rng.random() < 0.5:
        analytics.append("ptz_tracking")
    wired = switch is not None
    dot1x = ("eap-tls" if not spec["legacy"] or rng.random() < 0.3 else "mab") if wired else ""
    return [
        cid, f"{place} - điểm {gen.cam_no:05d}", spec["type"], purpose, clat, clon, place,
        rng.choice([6, 8, 10]) if ptz else rng.choice([3.5, 4, 5, 6]), spec["status"], connection, vendor, model,
        rng.choice([2, 4]) if spec["legacy"] else rng.choice([4, 8]), "h264" if spec["legacy"] and rng.random() < 0.7 else "h265",
        rng.choice([15, 20, 25]), gen.next_mac(), dot1x, ";".join(analytics), switch or "", port or "",
    ]


def switches_for(n: int, ports: int = 24, uplinks: int = 2) -> tuple[str, list[tuple[str, int]]]:
    usable = ports - uplinks
    count = max(1, math.ceil(n / usable))
    plan = [(f"sw{i // usable + 1:03d}", i % usable + 1) for i in range(n)]
    up = ", ".join(str(p) for p in range(ports - uplinks + 1, ports + 1))
    lines = "".join(f"  - {{id: sw{i + 1:03d}, ports: {ports}, uplink_ports: [{up}]}}\n" for i in range(count))
    return ("switches:\n" + lines) if n else "", plan


# --- hardware: each site's servers sized to what camkit's sizing model says it must hold ---------------------
# The profiles (profiles/*.yml, hand-written) describe a small site; a site whose cameras need more gets its own
# `servers:` (and a private system its own `uplink:`), built from these parts (figures from the datasheets):
DISK_TB = 22  # Seagate Exos X22: 22 TB 3.5" SAS/SATA (datasheet, 2022); WD Ultrastar DC HC570 is the same size
CEPH_NODE_DISKS = 24  # Dell PowerEdge R760xd2: up to 24 x 3.5" drives in 2U (spec sheet): 528 TB raw per node
ARCHIVE_NODE_DISKS = 90  # Supermicro SSG-640SP-E1CR90: 90 x 3.5" in 4U (spec sheet): the IOC's cold archive
EDGE_BAYS = 12 + 84  # a 2U 12-bay edge server + one Dell PowerVault ME484 (84 x 3.5" in 5U, spec sheet)
RAID_GROUP = 10  # tier 3 local disks: RAID6 8+2 (city.yml storage.local_raid_factor 1.25): whole groups of 10
GPU_SERVER = {"gpus": 4, "cpu_cores": 64, "memory_gb": 512}  # 4 x NVIDIA T4 (single-slot, 70 W) in a 2U server
WORKER = {"cpu_cores": 64, "memory_gb": 256}  # an extra Kubernetes worker when the requests need more
FTTH_MBPS = (100, 300, 500, 1000)  # business FTTH/Internet plans of VNPT and Viettel (2024 price lists)
SIZING_PASSES = 4  # GPUs placed move analytics between sites: repeat until the servers stop changing


def _server(d: dict[str, object]) -> str:
    keys = ("name", "roles", "gpus", "gpu_model", "cpu_cores", "memory_gb", "disks_tb", "nics", "netplan")
    parts = []
    for k in keys:
        if k not in d:
            continue
        v = d[k]
        if isinstance(v, list):
            v = "[" + ", ".join(str(x) for x in v) + "]"
        elif isinstance(v, float) and v.is_integer():
            v = int(v)
        parts.append(f"{k}: {v}")
    return "  - {" + ", ".join(parts) + "}\n"


def _servers_for(inv, sid: str, size, pol) -> list[dict[str, object]] | None:  # type: ignore[no-untyped-def]
    """The servers a site needs (None: its profile's are enough), from the findings of camkit.capacity."""
    from camkit.capacity import ceph_hosts_needed
    from camkit.model import Server

    site = inv.sites[sid]
    servers = [s.model_dump(mode="json", exclude_defaults=True) for s in site.servers]
    for d, s in zip(servers, site.servers):
        d["name"], d["roles"] = s.name, [r.value for r in s.roles]

    def field(d: dict[str, object], key: str) -> int:
        return int(d.get(key, Server.model_fields[key].default))  # type: ignore[arg-type]

    changed = False
    storage = [d for d in servers if "storage" in d["roles"] and d.get("disks_tb")]  # as Site.storage_hosts
    if site.tier == 3 and storage:
        # one node keeps everything (a local volume cannot span nodes)
        need = max(size.total_bytes, size.vms_volume_bytes * pol.local_raid_factor) / 1e12
        if need > storage[0]["disks_tb"]:
            disks = RAID_GROUP * math.ceil(need / (RAID_GROUP * DISK_TB))
            assert disks <= EDGE_BAYS, f"{sid}: {disks} disks do not fit one edge node"
            storage[0]["disks_tb"] = disks * DISK_TB
            changed = True
    elif site.tier < 3 and size.total_bytes:
        # a site whose recordings are mostly the cold archive (the IOC) uses high-density archive nodes
        per_node = (ARCHIVE_NODE_DISKS if size.cold_bytes > size.hot_bytes + size.warm_bytes else CEPH_NODE_DISKS) * DISK_TB
        hosts = max(ceph_hosts_needed(pol, bool(size.warm_bytes or size.cold_bytes)),
                    math.ceil(size.total_bytes / 1e12 / per_node))
        if len(storage) < hosts or sum(d["disks_tb"] for d in storage) * 1e12 < size.total_bytes:
            for d in storage:
                d["disks_tb"] = per_node
            template = storage[0] if storage else {"nics": ["eno1", "eno2"], "netplan": "bond"}
            for i in range(len(storage) + 1, hosts + 1):
                extra = {"name": f"st{i}", "roles": ["k8s_worker", "storage"], "disks_tb": per_node}
                extra.update({k: template[k] for k in ("nics", "netplan") if k in template})
                servers.append(extra)
            changed = True
    comp = size.compute
    if comp is not None and comp.gpu_shortfall:
        have = sum(1 for d in servers if "gpu" in d["roles"])
        for i in range(have + 1, have + 1 + math.ceil(comp.gpu_shortfall / GPU_SERVER["gpus"])):
            servers.append({"name": f"gpu{i}", "roles": ["k8s_worker", "gpu"], **GPU_SERVER})
        changed = True
    if comp is not None:
        cpu, mem = comp.cpu_request_m, comp.memory_request_mi
        cores = sum(field(d, "cpu_cores") for d in servers if "k8s_worker" in d["roles"])
        memory = sum(field(d, "memory_gb") for d in servers if "k8s_worker" in d["roles"])
        workers = sum(1 for d in servers if "k8s_worker" in d["roles"])
        n = 0
        while cpu > cores * 1000 or mem > memory * 1024 or comp.vms_shards > workers:
            n += 1
            servers.append({"name": f"wk{n}", "roles": ["k8s_worker"], **WORKER})
            cores, memory, workers = cores + WORKER["cpu_cores"], memory + WORKER["memory_gb"], workers + 1
            changed = True
    return servers if changed else None


def size_sites(gen: Gen, hand: Path) -> None:
    """Give each site the servers (and a private system the uplink) its cameras need under camkit's sizing model,
    so that `camkit validate --strict inventories/hanoi` holds: load what was written (with the hand-written
    city.yml and profiles), size it, rewrite the sites that need more, until nothing changes."""
    import tempfile

    from camkit.loader import load
    from camkit.sizing import size_city
    from camkit.topology import Topology

    servers_text: dict[str, str] = {}
    uplink_text: dict[str, str] = {}
    for _ in range(SIZING_PASSES):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "hanoi"
            shutil.copytree(gen.out, root, ignore=shutil.ignore_patterns("ipplan.lock.yml"))
            for name in ("city.yml", "profiles"):
                src = hand / name
                if not (root / name).exists():
                    (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
            inv = load(root)
        sizes = size_city(inv, Topology(inv)).sites
        pol = inv.city.storage
        changed = set()
        for sid, size in sizes.items():
            servers = _servers_for(inv, sid, size, pol)
            if servers is not None:
                servers_text[sid] = "servers:\n" + "".join(_server(d) for d in servers)
                changed.add(sid)
            site = inv.sites[sid]
            if size.uplink_capacity_mbps and size.uplink_mbps > size.uplink_capacity_mbps:
                assert site.kind.value == "private_system", f"{sid}: uplink over capacity"
                want = size.uplink_mbps / (pol.uplink_alert_percent / 100)
                cap = next((c for c in FTTH_MBPS if c >= want), None)
                assert cap is not None, f"{sid}: {want:.0f} Mbps is more than any FTTH plan"
                uplink_text[sid] = f"uplink: {{type: {site.uplink.type.value}, capacity_mbps: {cap}}}\n"
                changed.add(sid)
        for sid in sorted(changed):
            gen.rewrite_site(sid, uplink_text.get(sid, "") + servers_text.get(sid, ""))
        if not changed:
            return
    raise SystemExit(f"the servers did not settle in {SIZING_PASSES} sizing passes")


def site_yaml(sid: str, name: str, kind: str, parent: str | None, org: str, lat: float, lon: float,
              extra: str = "") -> str:
    text = f'id: {sid}\nname: "{name}"\nkind: {kind}\n'
    if parent:
        text += f"parent: {parent}\n"
    text += f'organisation: "{org}"\nlocation: {{lat: {lat}, lon: {lon}}}\n'
    return text + extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "inventories" / "hanoi")
    ap.add_argument("--hand", type=Path, default=Path(__file__).resolve().parent.parent / "inventories" / "hanoi",
                    help="where the hand-written city.yml and profiles/ are (the sizing pass reads them)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # camkit's own rules and sizing
    check_totals()
    out: Path = args.out
    # city.yml, profiles/ and README.md are written by hand; sites/ and cameras/ are regenerated
    for sub in ("sites", "cameras"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    gen = Gen(out)
    gen.write_yaml("camera-models.yml", models_yaml(MODELS))

    gen.write_yaml("sites/ioc.yml", site_yaml("ioc", "Trung tâm Điều hành thông minh thành phố Hà Nội (IOC)",
                                              "city_ioc", None, "Sở Thông tin và Truyền thông", 21.0285, 105.8040))

    # police: one command site; its cameras on the police private fiber, city-wide positions
    pid, pname, plat, plon, pa1, pa2 = POLICE
    specs = camera_specs(gen, pa1, pa2, [], [("security", 1)], police=True)
    sw_text, ports = switches_for(len(specs), 48, 2)
    gen.write_yaml(f"sites/{pid}.yml", site_yaml(pid, pname, "police_command", None, "Công an thành phố Hà Nội",
                                                 plat, plon, sw_text))
    rows = []
    for spec, (sw, port) in zip(specs, ports):
        d = DISTRICTS[gen.rng.randrange(len(DISTRICTS))]
        rows.append(camera_row(gen, "ca", spec, d[3], d[4], d[5], d[1], "private_fiber", sw, port))
    gen.write_cameras(f"cameras/{pid}.csv", rows)

    for did, dname, sectors, state_purpose, lat, lon, a1, a2 in DEPARTMENTS:
        specs = camera_specs(gen, a1, a2, [(state_purpose, 1)], [(state_purpose, 1)])
        sw_text, ports = switches_for(len(specs), 48, 2)
        extra = (f"sectors: [{', '.join(sectors)}]\n" if sectors else "") + sw_text
        gen.write_yaml(f"sites/departments/{did}.yml", site_yaml(did, f"Trung tâm điều hành - {dname}", "department_oc",
                                                                 "ioc", dname, lat, lon, extra))
        rows = []
        for spec, (sw, port) in zip(specs, ports):
            d = DISTRICTS[gen.rng.randrange(len(DISTRICTS))]
            rows.append(camera_row(gen, did, spec, d[3], d[4], d[5], d[1], "leased_line", sw, port))
        gen.write_cameras(f"cameras/departments/{did}.csv", rows)

    for did, dname, urban, lat, lon, r_km, nwards, a1, a2 in DISTRICTS:
        ptz, fixed, working, broken, pptz, pfixed = a1
        fiber = did == "hoan-kiem"  # Hoan Kiem already runs private fiber (master plan II.1)
        uplink = "uplink: {type: private_fiber, capacity_mbps: 10000, redundant: true}\n" if fiber else ""
        # districts with private systems end their WireGuard tunnels: a public endpoint (synthetic name)
        vpn = (f'uplink: {{type: leased_line, capacity_mbps: 10000, redundant: true, '
               f'public_endpoint: "vpn.{did}.hanoi.invalid:51820"}}\n') if pptz + pfixed else uplink
        gen.write_yaml(f"sites/{did}/{did}.yml", site_yaml(did, f"Trung tâm điều hành - {dname}", "district_oc", "ioc",
                                                           f"UBND {dname}", lat, lon, vpn))
        state_mix = [("traffic", 6), ("urban_order", 3), ("environment", 1)]
        specs = camera_specs(gen, (ptz, fixed, working, broken), a2, state_mix,
                             [("security", 7), ("traffic", 2), ("urban_order", 1)])
        word = "Phường" if urban else "Xã"
        letter = "p" if urban else "x"
        wards = []
        for w in range(1, nwards + 1):
            wlat, wlon = gen.point(lat, lon, r_km * 0.7)
            wards.append((f"{did}-{letter}{w:02d}", f"{word} {w:02d} ({dname.split(' ', 1)[1]})", wlat, wlon))
        weights = [0.5 + gen.rng.random() for _ in wards]
        buckets: list[list[dict[str, object]]] = [[] for _ in wards]
        wsum = sum(weights)
        cum, bounds = 0.0, []
        for wgt in weights:
            cum += wgt / wsum
            bounds.append(cum)
        for i, spec in enumerate(specs):
            x = (i + 0.5) / len(specs)
            idx = next(j for j, b in enumerate(bounds) if x <= b + 1e-12)
            buckets[idx].append(spec)
        for (wid, wname, wlat, wlon), bucket in zip(wards, buckets):
            sw_text, ports = switches_for(len(bucket))
            gen.write_yaml(f"sites/{did}/{wid}.yml", site_yaml(wid, wname, "ward", did, f"UBND {wname}", wlat, wlon,
                                                               (uplink if fiber else "") + sw_text))
            rows = [camera_row(gen, wid, spec, wlat, wlon, r_km * 0.3, wname,
                               "private_fiber" if fiber else "leased_line", sw, port)
                    for spec, (sw, port) in zip(bucket, ports)]
            gen.write_cameras(f"cameras/{did}/{wid}.csv", rows)
        # privately owned cameras offered for sharing (appendix 1, last columns)
        private = mix([("ptz", pptz), ("fixed", pfixed)], gen.rng)
        for k in range(0, len(private), 150):
            chunk = private[k : k + 150]
            n = k // 150 + 1
            pid_ = f"{did}-ps{n:02d}"
            pname_ = f"Hệ thống camera xã hội hóa {n:02d} ({dname.split(' ', 1)[1]})"
            plat_, plon_ = gen.point(lat, lon, r_km * 0.7)
            gen.write_yaml(f"sites/{did}/{pid_}.yml", site_yaml(pid_, pname_, "private_system", did,
                                                                f"Khu dân cư / doanh nghiệp {n:02d}, {dname}", plat_, plon_))
            rows = [camera_row(gen, pid_, {"type": t, "status": "active", "purpose": "security", "legacy": True,
                                           "police": False}, plat_, plon_, 0.5, pname_, "internet_vpn", None, None)
                    for t in chunk]
            gen.write_cameras(f"cameras/{did}/{pid_}.csv", rows, pulled=False)
    gen.write_streams()
    size_sites(gen, args.hand)
    print(f"wrote {out}: {gen.cam_no} cameras")


if __name__ == "__main__":
    main()
