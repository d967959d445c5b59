"""The access model: tiers, the police exception, department sectors and explicit shares."""

from __future__ import annotations

import pytest

from camkit import pipeline
from camkit.access import POLICE_RULE, AccessModel

from conftest import EXAMPLE


@pytest.fixture(scope="module")
def access() -> AccessModel:
    return AccessModel(pipeline.load(EXAMPLE))


def viewers(access: AccessModel, camera: str) -> dict[str, str]:
    cam = access.inv.camera_index[camera]
    return {g.unit: g.reason for g in access.who_can_see(cam)}


@pytest.mark.parametrize("camera, expected", [
    # a ward camera: the ward, its district, tier 1
    ("hb-c01", {"hang-bac", "hoan-kiem", "ioc", "police"}),
    # a traffic camera of a ward: plus the transport department's sector
    ("ht-c02", {"hang-trong", "hoan-kiem", "ioc", "police", "so-gtvt"}),
    # urban order in hang-trong: shared with the transport department explicitly
    ("ht-c04", {"hang-trong", "hoan-kiem", "ioc", "police", "so-gtvt"}),
    # urban order in hang-bac: no share, no sector
    ("hb-c02", {"hang-bac", "hoan-kiem", "ioc", "police"}),
    # a private system under a ward: itself, the ward, the district, tier 1
    ("tn36-c01", {"toa-nha-hang-bac", "hang-bac", "hoan-kiem", "ioc", "police"}),
    # the department's own camera
    ("gt-c01", {"so-gtvt", "ioc", "police"}),
    # a police camera at the police command
    ("ca-c01", {"police", "ioc"}),
    # a police-owned camera hosted on a ward network: the ward and district must not see it
    ("ht-ca01", {"police", "ioc"}),
])
def test_who_can_see(access: AccessModel, camera: str, expected: set[str]) -> None:
    assert set(viewers(access, camera)) == expected


def test_police_rule_applies_to_the_ioc(access: AccessModel) -> None:
    grants = {g.unit: g for g in access.who_can_see(access.inv.camera_index["ht-ca01"])}
    assert grants["ioc"].condition == POLICE_RULE
    assert grants["police"].condition == ""
    normal = {g.unit: g for g in access.who_can_see(access.inv.camera_index["hb-c01"])}
    assert normal["ioc"].condition == ""


def test_reasons_name_the_rule(access: AccessModel) -> None:
    assert viewers(access, "ht-c02")["so-gtvt"] == "department sector 'traffic' city-wide"
    assert viewers(access, "ht-c04")["so-gtvt"].startswith("shared by hang-trong: ")
    assert viewers(access, "hb-c01")["hoan-kiem"] == "tier-2 parent of hang-bac"


def test_visible_to_a_ward_is_its_own_area_only(access: AccessModel) -> None:
    seen = {c.id for c, _ in access.visible_to("hang-trong")}
    assert seen == {f"ht-c0{i}" for i in range(1, 7)}  # not ht-ca01 (police-owned)


def test_visible_to_tier1_is_everything(access: AccessModel) -> None:
    assert len(access.visible_to("ioc")) == len(access.inv.cameras)
    assert len(access.visible_to("police")) == len(access.inv.cameras)


def test_visible_to_the_department(access: AccessModel) -> None:
    seen = {c.id for c, _ in access.visible_to("so-gtvt")}
    traffic = {c.id for c in access.inv.cameras if c.purpose == "traffic" and not access.is_police_camera(c)}
    assert seen == traffic | {"ht-c04"}
