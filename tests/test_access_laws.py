"""The access model's laws on the branches neither shipped inventory reaches (issue 21): a police camera with a
department's sector purpose, a police share, and a police sub-unit. Each test changes a copy of the example the
way a city would and states the law as the README writes it:

  "Police-owned cameras are seen only by police units, and by the city IOC under the police rule — no parent,
   share or sector grant applies to them."

and "police units" are the police command and every site below it."""

from __future__ import annotations

from pathlib import Path

import pytest

from camkit import pipeline
from camkit.access import POLICE_RULE, AccessModel

from conftest import edit

POLICE_SUB_UNIT = """id: ca-hoan-kiem
name: "Công an quận Hoàn Kiếm"
kind: district_oc
parent: police
organisation: "Công an quận Hoàn Kiếm"
location: {lat: 21.0290, lon: 105.8520, address: "Hàng Trống, Hoàn Kiếm"}
"""


def grants(inv_dir: Path, camera: str) -> dict[str, str]:
    access = AccessModel(pipeline.load(inv_dir))
    return {g.unit: g.condition for g in access.who_can_see(access.inv.camera_index[camera])}


def test_a_police_camera_with_a_departments_sector_purpose_is_not_the_departments(inventory: Path) -> None:
    cams = inventory / "cameras" / "hang-trong.csv"
    edit(cams, "ht-ca01,CA - Phố cổ Hàng Trống,fixed,security,", "ht-ca01,CA - Phố cổ Hàng Trống,fixed,traffic,")
    seen = grants(inventory, "ht-ca01")
    assert seen == {"police": "", "ioc": POLICE_RULE}  # so-gtvt's traffic sector does not reach it
    assert "so-gtvt" in grants(inventory, "ht-c02")  # while a ward's traffic camera is the department's


def test_a_share_by_the_police_grants_nothing_of_its_cameras(inventory: Path) -> None:
    police = inventory / "sites" / "police.yml"
    police.write_text(police.read_text("utf-8") + 'shares:\n  - {to: hoan-kiem, reason: "joint operations"}\n',
                      "utf-8")
    for cam in ("ht-ca01", "hk-ca01", "ca-c01"):
        assert grants(inventory, cam) == {"police": "", "ioc": POLICE_RULE}, cam
    # and a share by the ward that hosts a police camera grants its own cameras only
    ward = inventory / "sites" / "hang-trong.yml"
    edit(ward, "shares:\n", 'shares:\n  - {to: so-gtvt, reason: "all of it"}\n')
    assert "so-gtvt" in grants(inventory, "ht-c01")
    assert grants(inventory, "ht-ca01") == {"police": "", "ioc": POLICE_RULE}


@pytest.fixture
def with_police_sub_unit(inventory: Path) -> Path:
    (inventory / "sites" / "ca-hoan-kiem.yml").write_text(POLICE_SUB_UNIT, "utf-8")
    # the district's police camera belongs to the district police, a sub-unit of the police command
    edit(inventory / "cameras" / "hoan-kiem.csv", "active,private_fiber,police,Dahua", "active,private_fiber,ca-hoan-kiem,Dahua")
    return inventory


def test_a_police_sub_unit_is_a_police_unit(with_police_sub_unit: Path) -> None:
    inv = with_police_sub_unit
    access = AccessModel(pipeline.load(inv))
    assert access.police_units == {"police", "ca-hoan-kiem"}
    # its camera: the police units and the IOC under the police rule; not the district the camera stands in
    assert grants(inv, "hk-ca01") == {"ca-hoan-kiem": "", "police": "", "ioc": POLICE_RULE}
    # it sees the police command's cameras, as every police unit does
    assert grants(inv, "ht-ca01") == {"police": "", "ca-hoan-kiem": "", "ioc": POLICE_RULE}
    # and it is no parent of the district's own cameras
    assert "ca-hoan-kiem" not in grants(inv, "hk-c01")
