"""Model and cross-document validation: each rule, with the exact message a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from camkit.diagnostics import InventoryError
from camkit.ipplan import plan
from camkit.loader import load
from camkit.model import normalize_mac

from conftest import append_row, camera, edit


def problems(root: Path, with_plan: bool = False) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        inv = load(root)
        if with_plan:
            plan(inv, inv.positions)
    return [str(d) for d in exc.value.diagnostics]


def has(errs: list[str], *fragments: str) -> bool:
    return any(all(f in e for f in fragments) for e in errs)


def test_example_inventory_is_valid() -> None:
    from conftest import EXAMPLE

    inv = load(EXAMPLE)
    assert len(inv.sites) == 8 and len(inv.cameras) == 41
    kinds = {s.kind.value for s in inv.sites.values()}
    assert kinds == {"city_ioc", "police_command", "district_oc", "department_oc", "ward", "private_system"}
    cams = inv.cameras
    assert {c.type for c in cams} == {"ptz", "fixed"}
    assert {c.purpose for c in cams} == {"security", "traffic", "defense", "environment", "urban_order"}
    assert {c.status for c in cams} == {"active", "broken", "planned"}
    assert {c.dot1x for c in cams} == {"eap-tls", "mab", None}


def test_parent_must_exist_and_lists_known_sites(inventory: Path) -> None:
    edit(inventory / "sites" / "hang-bac.yml", "parent: hoan-kiem", "parent: d9")
    errs = problems(inventory)
    assert has(errs, "hang-bac.yml:4:9: parent 'd9' is not a site; known tier-2 sites: hoan-kiem, so-gtvt")


def test_parent_must_have_lower_tier(inventory: Path) -> None:
    edit(inventory / "sites" / "hang-bac.yml", "parent: hoan-kiem", "parent: trang-tien")
    assert has(problems(inventory), "hang-bac.yml:4:9: parent 'trang-tien' is tier 3; a tier-3 ward needs a parent")


def test_unknown_key_points_at_the_key(inventory: Path) -> None:
    edit(inventory / "sites" / "so-gtvt.yml", "sectors:", "sector_list: [traffic]\nsectors:")
    assert has(problems(inventory), "so-gtvt.yml:7:1: unknown key 'sector_list'", "camkit schema")


def test_unknown_key_inside_a_profile_points_at_the_profile(inventory: Path) -> None:
    edit(inventory / "profiles" / "ward.yml", "operators: 2", "operators: 2\nopertors: 3")
    errs = problems(inventory)
    assert has(errs, "profiles/ward.yml:5:1: unknown key 'opertors'")
    assert len(errs) == 1, errs  # the wards that use the profile are not reported again


def test_enum_value_lists_what_is_allowed(inventory: Path) -> None:
    edit(inventory / "sites" / "hang-bac.yml", "kind: ward", "kind: commune")
    # no profile 'commune' to merge: the kind alone is reported (not the keys a profile would have given)
    errs = problems(inventory)
    assert has(errs, "hang-bac.yml:3:7: kind 'commune' is not a site kind",
               "one of city_ioc, police_command, district_oc, department_oc, ward, private_system")
    assert len(errs) == 1, errs


def test_tier_must_match_kind(inventory: Path) -> None:
    edit(inventory / "sites" / "hang-bac.yml", "kind: ward", "kind: ward\ntier: 2")
    assert has(problems(inventory), "hang-bac.yml:1:1: kind 'ward' is tier 3, not 2")


def test_unknown_profile(inventory: Path) -> None:
    edit(inventory / "sites" / "hang-bac.yml", "kind: ward", "kind: ward\nprofile: wards")
    assert has(problems(inventory), "hang-bac.yml:4:10: profile 'wards' is not defined; did you mean 'ward'?")


def test_duplicate_site_id(inventory: Path) -> None:
    (inventory / "sites" / "copy.yml").write_text((inventory / "sites" / "hang-bac.yml").read_text("utf-8"), "utf-8")
    assert has(problems(inventory), "duplicate site id 'hang-bac'", "also defined in")


def test_site_outside_city_area(inventory: Path) -> None:
    edit(inventory / "sites" / "hang-bac.yml", "lat: 21.0345", "lat: 10.78")
    assert has(problems(inventory), "hang-bac.yml:6:11: location 10.78, 105.8535 is outside the city area")


def test_camera_outside_area_suggests_swapped_coordinates(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(lat="105.85", lon="21.03"))
    assert has(problems(inventory), "hang-bac.csv:7:5: camera 'new-c01': lat: Input should be less than or equal to 90 "
               "(got '105.85')")


def test_camera_coordinates_outside_area(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(lat="20.1"))
    assert has(problems(inventory), "hang-bac.csv:7:1: camera 'new-c01': coordinates 20.1, 105.85 are outside the city area",
               "swapped lat/lon")


def test_duplicate_camera_id_across_files(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(id="ht-c01"))
    assert has(problems(inventory), "hang-trong.csv:2:1: duplicate camera id 'ht-c01'", "first used at")


def test_duplicate_mac_in_another_spelling(inventory: Path) -> None:
    # ht-c01 has 02:ca:05:00:00:13; the same MAC in Cisco dotted notation
    append_row(inventory / "cameras" / "hang-bac.csv", camera(mac="02CA.0500.0013"))
    errs = problems(inventory)
    # both rows reported, each naming the other the same way
    assert has(errs, "hang-bac.csv:7:1: camera 'new-c01': MAC 02:ca:05:00:00:13 is also that of camera 'ht-c01' at",
               "hang-trong.csv:2:1")
    assert has(errs, "hang-trong.csv:2:1: camera 'ht-c01': MAC 02:ca:05:00:00:13 is also that of camera 'new-c01' at",
               "hang-bac.csv:7:1")
    assert len(errs) == 2, errs


def test_switch_port_double_booked(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(port="1"))
    assert has(problems(inventory), "hang-bac.csv:", "port 1 of switch 'sw1' is already taken", "by the camera at")


def test_port_beyond_switch_and_uplink_port(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(port="30"))
    assert has(problems(inventory), "camera 'new-c01': port 30 does not exist on 'sw1' (24 ports)")
    csv = inventory / "cameras" / "hang-bac.csv"
    csv.write_text(csv.read_text("utf-8").replace(",sw1,30,", ",sw1,24,"), "utf-8")
    assert has(problems(inventory), "camera 'new-c01': port 24 of 'sw1' is an uplink port")


def test_unknown_switch(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(switch="sw2"))
    assert has(problems(inventory), "camera 'new-c01': switch 'sw2' is not a switch of site 'hang-bac'; did you mean 'sw1'?")


def test_wired_camera_needs_dot1x_and_port(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(dot1x=""))
    assert has(problems(inventory), "camera 'new-c01': a wired camera needs dot1x 'eap-tls' or 'mab'")
    csv = inventory / "cameras" / "hang-bac.csv"
    csv.write_text(csv.read_text("utf-8").replace("new-c01", "new-c02").replace(",sw1,20,", ",,,"), "utf-8")
    assert has(problems(inventory), "camera 'new-c02': a 'leased_line' camera needs 'switch' and 'port'")


def test_stream_url_must_not_carry_credentials(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(stream_url="rtsp://admin:12345@10.0.0.9/ch1"))
    assert has(problems(inventory), "stream_url must not carry credentials")


def test_unknown_camera_owner(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(owner="polce"))
    assert has(problems(inventory), "owner 'polce' is not a unit (site id); did you mean 'police'?")


def test_camera_file_for_unknown_site(inventory: Path) -> None:
    (inventory / "cameras" / "hang-bak.csv").write_text((inventory / "cameras" / "hang-bac.csv").read_text("utf-8"))
    assert has(problems(inventory), "hang-bak.csv: camera file for unknown site 'hang-bak'", "'hang-bac'")


def test_ptz_tracking_needs_a_ptz_camera(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-bac.csv", camera(analytics="motion;ptz_tracking"))
    assert has(problems(inventory), "'ptz_tracking' needs a ptz camera")


def test_services_must_name_real_servers(inventory: Path) -> None:
    edit(inventory / "city.yml", "syslog: {servers: [ioc-infra1]}", "syslog: {servers: [ioc-infra9]}")
    assert has(problems(inventory), "city.yml:32:22: services.syslog: server 'ioc-infra9' is not defined in any site",
               "ioc-infra1")


def test_switches_need_a_radius_server(inventory: Path) -> None:
    edit(inventory / "profiles" / "district_oc.yml", "  - {name: radius1, roles: [radius]}\n", "")
    errs = problems(inventory)
    for ward in ("hang-bac", "hang-trong", "trang-tien", "hoan-kiem"):
        assert has(errs, f"site '{ward}' has access switches but no RADIUS server serves it")


def test_tier2_retention_minimum_from_master_plan(inventory: Path) -> None:
    edit(inventory / "city.yml", "tier2: {retention_days: 30", "tier2: {retention_days: 14")
    assert has(problems(inventory), "tier2.retention_days must be at least 30", "VII.2.2.4")


def test_share_target_must_exist(inventory: Path) -> None:
    edit(inventory / "sites" / "hang-trong.yml", "to: so-gtvt", "to: so-gtv")
    assert has(problems(inventory), "hang-trong.yml:10:10: share target 'so-gtv' is not a site; did you mean 'so-gtvt'?")


def test_pinned_subnet_overlapping_kubernetes_pods(inventory: Path) -> None:
    edit(inventory / "sites" / "hoan-kiem.yml", "10.20.0.0/24", "10.42.7.0/24")
    assert has(problems(inventory, with_plan=True), "hoan-kiem.yml:10:21: pinned subnet 10.42.7.0/24 of site "
               "'hoan-kiem' overlaps the Kubernetes pod range 10.42.0.0/16")


def test_pinned_subnet_outside_space_and_with_host_bits(inventory: Path) -> None:
    edit(inventory / "sites" / "hoan-kiem.yml", "10.20.0.0/24", "192.168.1.0/24")
    assert has(problems(inventory, with_plan=True), "pinned subnet 192.168.1.0/24 of site 'hoan-kiem' is outside "
               "address_space 10.0.0.0/10")
    edit(inventory / "sites" / "hoan-kiem.yml", "192.168.1.0/24", "10.20.0.5/24")
    assert has(problems(inventory, with_plan=True), "has host bits set; did you mean 10.20.0.0/24?")


def test_pinned_subnets_must_not_overlap_each_other(inventory: Path) -> None:
    edit(inventory / "sites" / "hang-bac.yml", "switches:", "networks:\n  cameras: {subnet: 10.20.0.128/25}\nswitches:")
    assert has(problems(inventory, with_plan=True), "pinned subnet 10.20.0.128/25 of site 'hang-bac' overlaps "
               "10.20.0.0/24 pinned by site 'hoan-kiem'")


def test_pinned_subnet_too_small_for_its_cameras(inventory: Path) -> None:
    edit(inventory / "sites" / "hoan-kiem.yml", "10.20.0.0/24", "10.20.0.0/29")
    errs = problems(inventory, with_plan=True)
    assert has(errs, "pinned cameras subnet 10.20.0.0/29 of 'hoan-kiem' holds 3 hosts, 6 are needed")


def test_camera_ip_outside_its_subnet(inventory: Path) -> None:
    # the camera moved, its stream_url with it (a stream_url must point at the camera's ip)
    edit(inventory / "cameras" / "hoan-kiem.csv", "rtsp://10.20.0.13:554/Streaming/Channels/101,10.20.0.13\n",
         "rtsp://10.21.0.13:554/Streaming/Channels/101,10.21.0.13\n")
    assert has(problems(inventory, with_plan=True), "hoan-kiem.csv:4:1: camera 'hk-c03': ip 10.21.0.13 is not a host "
               "address of the camera subnet 10.20.0.0/24")


@pytest.mark.parametrize("raw, canonical", [
    ("AA:BB:CC:DD:EE:FE", "aa:bb:cc:dd:ee:fe"),
    ("aa-bb-cc-dd-ee-fe", "aa:bb:cc:dd:ee:fe"),
    ("aabb.ccdd.eefe", "aa:bb:cc:dd:ee:fe"),
    ("aabbccddeefe", "aa:bb:cc:dd:ee:fe"),
])
def test_mac_normalisation(raw: str, canonical: str) -> None:
    assert normalize_mac(raw) == canonical


@pytest.mark.parametrize("bad, why", [("01:00:5e:00:00:01", "multicast"), ("aa:bb:cc", "not a MAC"),
                                       ("gg:bb:cc:dd:ee:ff", "not a MAC")])
def test_bad_macs(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalize_mac(bad)


# --- camera model catalog ------------------------------------------------------------------------


def test_camera_model_must_be_in_the_catalog(inventory: Path) -> None:
    append_row(inventory / "cameras" / "hang-trong.csv", camera(id="ht-c99", vendor="Acme", model="X1",
                                                                 mac="02:ca:05:00:99:99", port="20"))
    errs = problems(inventory)
    assert has(errs, "hang-trong.csv:", "camera 'ht-c99': model 'Acme/X1' is not in camera-models.yml",
               "add it with its minimum firmware")


def test_codec_and_eap_tls_must_be_supported_by_the_model(inventory: Path) -> None:
    edit(inventory / "camera-models.yml", "    codecs: [h264]\n", "    codecs: [h264]\n    dot1x_eap_tls: false\n")
    edit(inventory / "camera-models.yml", "    codecs: [h265]\n", "    codecs: [h264]\n")
    errs = problems(inventory)
    assert has(errs, "hang-trong.csv:3:1", "camera 'ht-c02': VNPT Technology ONE SmartCam C2 has no 802.1X EAP-TLS",
               "use dot1x 'mab'")
    assert has(errs, "Viettel HC23 does not support codec 'h265'", "camera-models.yml lists h264")


def test_camera_models_file_is_validated_with_positions(inventory: Path) -> None:
    edit(inventory / "camera-models.yml", 'min_firmware: "2.3.1"', 'min_firmware: "two"')
    errs = problems(inventory)
    assert has(errs, "camera-models.yml:", "min_firmware")


def test_generated_camera_password_must_meet_the_city_minimum(inventory: Path) -> None:
    edit(inventory / "city.yml", "  https_only: true\n", "  https_only: true\ncameras: {password_length: 10}\n")
    errs = problems(inventory)
    assert has(errs, "city.yml", "cameras.password_length (10) is below security.camera_password_min_length (12)")


# --- stream paths: the model's documented one, the one the camera reported, or an explicit stream_url -------


def test_camera_without_a_known_stream_path_is_refused(inventory: Path) -> None:
    lock = inventory / "streams.lock.csv"
    lock.write_text("\n".join(line for line in lock.read_text().splitlines() if not line.startswith("ht-c02,")) + "\n")
    errs = problems(inventory)
    assert has(errs, "hang-trong.csv:3:1: camera 'ht-c02': no RTSP path is known for VNPT Technology ONE SmartCam C2",
               "camkit cameras audit --site hang-trong", "streams.lock.csv", "stream_url", "rtsp_path_source")
    assert len([e for e in errs if "no RTSP path" in e]) == 1  # its neighbours have rows; tn36 is pushed, not pulled


def test_an_explicit_stream_url_needs_no_lock_row(inventory: Path) -> None:
    lock = inventory / "streams.lock.csv"
    lock.write_text("\n".join(line for line in lock.read_text().splitlines() if not line.startswith("ht-c02,")) + "\n")
    csv_path = inventory / "cameras" / "hang-trong.csv"
    rows = csv_path.read_text("utf-8").splitlines()
    i = next(n for n, r in enumerate(rows) if r.startswith("ht-c02,"))
    cells = rows[i].split(",")
    cells[rows[0].split(",").index("stream_url")] = "rtsp://10.0.0.197:554/live/main"
    rows[i] = ",".join(cells)
    csv_path.write_text("\n".join(rows) + "\n", "utf-8")
    assert load(inventory).camera_index["ht-c02"].stream_url


def test_documented_path_needs_its_source_and_is_never_a_bare_slash(inventory: Path) -> None:
    edit(inventory / "camera-models.yml", '    rtsp_path_source: "Axis VAPIX RTSP API: /axis-media/media.amp (default stream)"\n',
         "")
    edit(inventory / "camera-models.yml", 'rtsp_path: "/cam/realmonitor?channel=1&subtype=0"', 'rtsp_path: "/"')
    errs = problems(inventory)
    assert has(errs, "camera-models.yml:", "rtsp_path needs rtsp_path_source")
    assert has(errs, "camera-models.yml:", "rtsp_path: String should match pattern")


@pytest.mark.parametrize("row, why", [
    ("ht-c01,/live,onvif,,", "camera 'ht-c01' is listed twice"),
    ("hk-c04,/,onvif,,", "stream of 'hk-c04': "),
    ("hk-c04,/a b,onvif,,", "stream of 'hk-c04': "),
    ("hk-c04,/\x1b[31mred,onvif,,", "character '\\x1b' is not allowed"),  # refused with the whole file
    ("hk-c04,/<script>,onvif,,", "stream of 'hk-c04': "),
    ("hk-c04,/live,guessed,,", "stream of 'hk-c04': "),
    ("hk-c04,/live,onvif,,yesterday", "stream of 'hk-c04': "),
])
def test_stream_lock_rows_are_checked(inventory: Path, row: str, why: str) -> None:
    with (inventory / "streams.lock.csv").open("a", encoding="utf-8") as f:
        f.write(row + "\n")
    errs = problems(inventory)
    assert has(errs, "streams.lock.csv:", why), errs


@pytest.mark.parametrize("target", ["sites/hang-bac.yml", "cameras/hang-bac.csv", "streams.lock.csv",
                                    "ipplan.lock.yml"])
def test_symlinked_and_fifo_inventory_files_are_refused_without_reading_them(inventory: Path, tmp_path: Path,
                                                                             target: str) -> None:
    import os

    victim = inventory / target
    outside = tmp_path / "outside"
    outside.write_bytes(victim.read_bytes())
    victim.unlink()
    victim.symlink_to(outside)
    assert has(problems(inventory), target, "file is a symbolic link", "commit the file itself")
    victim.unlink()
    os.mkfifo(victim)  # reading a FIFO would block for ever: it must be refused before any read
    assert has(problems(inventory), target, "not a regular file")


def test_a_stream_row_of_a_removed_camera_is_ignored_and_dropped_by_the_next_record(inventory: Path) -> None:
    from camkit.cameras.onvif import CameraResult
    from camkit.cameras.site import record_streams

    lock = inventory / "streams.lock.csv"
    with lock.open("a", encoding="utf-8") as f:
        f.write("zz-c99,/live,onvif,,\n")
    inv = load(inventory)
    assert "zz-c99" not in inv.streams and "ht-c01" in inv.streams
    r = CameraResult("hk-c04", "audit", stream={"path": "/axis-media/media.amp", "profile": "p1", "port": 554})
    assert record_streams(lock, [r], set(inv.camera_index), today="2026-01-02") == 2  # one added, one dropped
    text = lock.read_text()
    assert "zz-c99" not in text and "hk-c04,/axis-media/media.amp,onvif,p1,2026-01-02" in text
    assert record_streams(lock, [r], set(inv.camera_index)) == 0 and lock.read_text() == text


def test_a_camera_cannot_write_a_formula_or_break_the_stream_lock(inventory: Path) -> None:
    """What a camera reports ends up in a committed CSV: a profile token the lock could not hold (or a formula a
    spreadsheet would run) is never recorded, and every cell is written as csv_bytes writes them."""
    import re

    from camkit.cameras.onvif import CameraResult, _TOKEN_OK
    from camkit.cameras.site import record_streams

    for token in ("-2+3+cmd|' /C calc'!A0", "=HYPERLINK(\"http://x\")", "@SUM(A1)", "+1", "-A1", "a b", "x,y"):
        assert not _TOKEN_OK.fullmatch(token), token  # _main_stream records "" instead
    assert _TOKEN_OK.fullmatch("prof-main") and _TOKEN_OK.fullmatch("Profile_1") and _TOKEN_OK.fullmatch("")
    lock = inventory / "streams.lock.csv"
    inv = load(inventory)
    r = CameraResult("hk-c04", "audit", stream={"path": "/axis-media/media.amp", "profile": "", "port": 554})
    assert record_streams(lock, [r], set(inv.camera_index), today="2026-01-02") == 1
    assert not re.search(r"(^|,)[=+@-]", lock.read_text(), re.M)
    assert load(inventory).streams["hk-c04"].path == "/axis-media/media.amp"  # the lock still loads
