"""Planning rules of master plan VII.2.6 (issue 13, part 3): duplicates between units (police exempt), cameras
far from their site, shared poles and cabinets; warnings that `validate --strict` fails on."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from camkit import planning
from camkit.loader import load
from camkit.planning import Shared, metres

from conftest import EXAMPLE, append_row, camera, edit

HT = "cameras/hang-trong.csv"
# ht-c01 (hang-trong, security) is at 21.0288, 105.8496 looking east (90) on pole HT-CD-017; a second camera there
SPOT = {"lat": "21.0288", "lon": "105.8496", "switch": "sw1", "port": "8", "purpose": "security"}


def _rules(inv: Path, rule: str) -> list[str]:
    return [str(f.diagnostic) for f in planning.findings(load(inv)) if f.rule == rule]


def test_metres_matches_a_known_distance() -> None:
    # Hoan Kiem lake (Turtle Tower) to Noi Bai airport terminal T1: ~21.5 km great-circle (Google Maps measure)
    assert metres(21.0277, 105.8524, 21.2187, 105.8042) == pytest.approx(21_800, rel=0.02)
    assert metres(21.0, 105.8, 21.0, 105.8) == 0


def test_the_example_has_no_planning_finding_and_lists_its_shared_assets() -> None:
    inv = load(EXAMPLE)
    assert planning.findings(inv) == []
    # the police camera ht-ca01 shares ht-c01's pole (10 m apart, both 'security': police are exempt from (1))
    assert planning.shared(inv) == [
        Shared("cabinet", "HT-TK-02", ("hang-trong", "police"), ("ht-c01", "ht-c03", "ht-ca01")),
        Shared("pole", "HT-CD-017", ("hang-trong", "police"), ("ht-c01", "ht-ca01"))]


def test_another_units_camera_on_the_same_spot_is_a_duplicate(inventory: Path, cli) -> None:  # type: ignore[no-untyped-def]
    append_row(inventory / HT, camera(owner="hang-bac", heading="100", **SPOT))
    found = _rules(inventory, "duplicate-position")
    assert len(found) == 1, found
    assert f"inv/{HT}:9:1" in found[0] and "camera 'new-c01' of unit 'hang-bac' duplicates camera 'ht-c01' of " \
        f"unit 'hang-trong' at inv/{HT}:2:1: 0 m apart, both 'security', headings 100 and 90" in found[0]



def test_a_duplicate_warns_and_fails_strict(inventory: Path, cli) -> None:  # type: ignore[no-untyped-def]
    # hang-trong's camera subnet is full: the second camera is hang-bac's own, on hang-bac's switch
    append_row(inventory / "cameras" / "hang-bac.csv", camera(**{**SPOT, "port": "20"}))
    res = cli("validate", inventory)
    assert res.exit_code == 0 and "warning: " in res.output and "planning (duplicate-position)" in res.output
    assert f"inv/{HT}:2:1: planning (duplicate-position): camera 'ht-c01' of unit 'hang-trong' duplicates camera " \
        "'new-c01' of unit 'hang-bac' at inv/cameras/hang-bac.csv:7:1: 0 m apart, both 'security'" in res.output
    res = cli("validate", "--strict", inventory)
    assert res.exit_code == 2 and "error: " in res.output and "VII.2.6" in res.output, res.output
    body = json.loads(cli("validate", inventory, "--json").output)
    assert [w["rule"] for w in body["warnings"]] == ["duplicate-position"]


@pytest.mark.parametrize("over", [
    {"owner": "police"},  # a police camera: exempt (VII.2.6 (1))
    {"owner": ""},  # the same unit's second camera: its own planning
    {"owner": "hang-bac", "purpose": "traffic"},  # another purpose
    {"owner": "hang-bac", "heading": "270"},  # looking the other way (ht-c01 looks east)
    {"owner": "hang-bac", "lat": "21.0290"},  # 22 m away
], ids=["police", "same unit", "other purpose", "other heading", "22 m away"])
def test_what_is_not_a_duplicate(inventory: Path, over: dict[str, str]) -> None:
    append_row(inventory / HT, camera(**{**SPOT, **over}))
    assert _rules(inventory, "duplicate-position") == []


def test_a_camera_far_from_its_ward_is_reported(inventory: Path) -> None:
    edit(inventory / HT, "ht-c05,Hàng Hành,fixed,environment,21.0295,", "ht-c05,Hàng Hành,fixed,environment,21.0795,")
    found = _rules(inventory, "far-from-site")
    assert len(found) == 1 and f"inv/{HT}:6:1" in found[0], found
    assert "camera 'ht-c05' is 5.6 km from the location of its site 'hang-trong' (a ward: at most 5 km" in found[0]


def test_one_pole_in_two_places_is_reported(inventory: Path) -> None:
    edit(inventory / HT, "ht-c04,Ấu Triệu,fixed,urban_order,21.0283,105.8478,Ấu Triệu,5,planned,leased_line,,"
         "VNPT Technology,ONE SmartCam C2,2,h264,15,02:ca:05:00:00:16,mab,counting,sw1,4,,,,",
         "ht-c04,Ấu Triệu,fixed,urban_order,21.0283,105.8478,Ấu Triệu,5,planned,leased_line,,"
         "VNPT Technology,ONE SmartCam C2,2,h264,15,02:ca:05:00:00:16,mab,counting,sw1,4,,,HT-CD-017,")
    found = _rules(inventory, "shared-spread")
    assert len(found) == 1 and f"inv/{HT}:5:1" in found[0], found
    assert "camera 'ht-c04' is on pole 'HT-CD-017' 195 m from camera 'ht-c01'" in found[0]
    assert "at most 30 m apart" in found[0]


def test_a_bad_heading_or_asset_id_is_refused(inventory: Path, cli) -> None:  # type: ignore[no-untyped-def]
    append_row(inventory / HT, camera(heading="360", pole="HT CD 1", **SPOT))
    res = cli("validate", inventory)
    assert res.exit_code == 2
    assert f"inv/{HT}:9:23: camera 'new-c01': heading: Input should be less than 360" in res.output, res.output
    assert f"inv/{HT}:9:24: camera 'new-c01': pole: String should match pattern" in res.output, res.output


def test_the_registry_publishes_shared_assets_and_headings(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("render", EXAMPLE, "--out", tmp_path / "b", "--only", "registry").exit_code == 0
    root = tmp_path / "b" / "example" / "registry"
    rows = list(csv.DictReader(io.StringIO((root / "shared-infrastructure.csv").read_text("utf-8"))))
    assert rows == [{"kind": "cabinet", "id": "HT-TK-02", "units": "hang-trong;police", "cameras": "ht-c01;ht-c03;ht-ca01"},
                    {"kind": "pole", "id": "HT-CD-017", "units": "hang-trong;police", "cameras": "ht-c01;ht-ca01"}]
    features = {f["id"]: f["properties"] for f in json.loads((root / "cameras.geojson").read_text("utf-8"))["features"]}
    assert features["ht-c01"]["heading"] == 90 and features["ht-c01"]["pole"] == "HT-CD-017"
    assert "heading" not in features["ht-c04"] and "pole" not in features["hk-c01"]
