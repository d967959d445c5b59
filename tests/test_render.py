"""The render pipeline: registry, determinism, atomic writes, partial renders, diff."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from camkit import pipeline, render as render_mod
from camkit.diagnostics import InventoryError
from camkit.render import MANIFEST, Artifact, Renderer, registry

from conftest import EXAMPLE, append_row, camera, edit


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_registry_lists_the_families() -> None:
    assert list(registry()) == ["ipplan", "ansible-inventory", "registry", "firewall", "nftables", "netplan", "switches", "radius", "wireguard", "publisher", "sizing", "cameras",
                              "helm", "stacks"]


def test_unknown_family_is_an_error() -> None:
    inv = pipeline.load(EXAMPLE)
    with pytest.raises(InventoryError, match="unknown artifact family 'firewal'; known families: ipplan, "):
        pipeline.render(inv, pipeline.plan(inv), ["firewal"])


def test_render_is_byte_identical_on_rerun(tmp_path: Path) -> None:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    pipeline.write(pipeline.render(inv, plan), tmp_path / "a")
    inv2 = pipeline.load(EXAMPLE)
    pipeline.write(pipeline.render(inv2, pipeline.plan(inv2)), tmp_path / "b")
    assert files(tmp_path / "a") == files(tmp_path / "b")
    changes = pipeline.write(pipeline.render(inv, plan), tmp_path / "a")
    assert not changes.any and changes.unchanged > 50


def test_failed_render_leaves_the_old_build_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    out = tmp_path / "example"
    pipeline.write(pipeline.render(inv, plan), out)
    before = files(out)

    class Exploding(Renderer):
        family = "ipplan"
        description = "fails half way"

        def render(self, ctx):  # type: ignore[no-untyped-def]
            yield Artifact("ipplan/prefixes.csv", b"half")
            raise RuntimeError("boom")

    real = render_mod.registry
    monkeypatch.setattr(render_mod, "registry", lambda: {**real(), "ipplan": Exploding})
    with pytest.raises(RuntimeError, match="boom"):
        pipeline.write(pipeline.render(inv, plan), out)
    assert files(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_forked_render_is_the_serial_render(tmp_path: Path) -> None:
    """Families rendered in forked processes (the default on a multi-core machine) give the serial bytes."""
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    table = registry()
    assert len(render_mod._groups(list(table), table, None, 3)) == 3  # the city is really split over processes
    pipeline.write(render_mod.render(inv, plan, jobs=1), tmp_path / "serial")
    pipeline.write(render_mod.render(inv, plan, jobs=3), tmp_path / "forked")
    assert files(tmp_path / "serial") == files(tmp_path / "forked")


def test_an_inventory_error_in_a_render_process_keeps_its_diagnostics(monkeypatch: pytest.MonkeyPatch) -> None:
    from camkit.diagnostics import Diagnostic, Position

    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    table = registry()
    last = render_mod._groups(list(table), table, None, 2)[-1][0]  # rendered in the child, not the parent
    wrong = Diagnostic(Position("sites/ioc.yaml", 3, 1), "a renderer's finding")

    class Refusing(Renderer):
        family = last
        description = "refuses"

        def render(self, ctx):  # type: ignore[no-untyped-def]
            raise InventoryError([wrong])

    real = render_mod.registry
    monkeypatch.setattr(render_mod, "registry", lambda: {**real(), last: Refusing})
    with pytest.raises(InventoryError) as err:
        render_mod.render(inv, plan, jobs=2)
    assert err.value.diagnostics == [wrong]


@pytest.mark.parametrize("value", [
    {}, [], "đường\n\u2028\"", 0, -0.0, 1e300, float("nan"), True, None,
    {"b": [1, 2.5, {"x": None, "a": []}], "a": "Hà Nội", "c": {}, "d": [[{}], ()]},
    {"nested": {"deeper": {"deepest": [[1], [2, [3]]]}}},
    {1: "a non-str key"}, {"k": {3, 4}.__class__.__name__}, [("tuple", 1)],
])
def test_json_bytes_is_jsons_indented_output_byte_for_byte(value: object) -> None:
    assert render_mod.json_bytes(value) == (json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)
                                            + "\n").encode("utf-8")


def test_json_bytes_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError):
        render_mod.json_bytes({"a": object()})


def test_partial_render_replaces_only_its_family_and_site(tmp_path: Path, inventory: Path) -> None:
    out = tmp_path / "build"
    inv = pipeline.load(inventory)
    pipeline.write(pipeline.render(inv, pipeline.plan(inv)), out)
    before = files(out)
    append_row(inventory / "cameras" / "hang-bac.csv", camera())
    inv = pipeline.load(inventory)
    plan = pipeline.plan(inv)
    changes = pipeline.write(pipeline.render(inv, plan, ["ipplan"], "hang-bac"), out)
    assert changes.changed == ["sites/hang-bac/ipplan/README.md", "sites/hang-bac/ipplan/addresses.csv"]
    after = files(out)
    assert {k for k in after if after[k] != before.get(k)} == set(changes.changed) | {MANIFEST}
    # a full render then also updates the city-wide files
    full = pipeline.write(pipeline.render(inv, plan), out)
    assert "registry/cameras.geojson" in full.changed and "ipplan/addresses.csv" in full.changed


def test_removed_site_files_are_deleted(tmp_path: Path, inventory: Path) -> None:
    out = tmp_path / "build"
    inv = pipeline.load(inventory)
    pipeline.write(pipeline.render(inv, pipeline.plan(inv)), out)
    (inventory / "sites" / "toa-nha-hang-bac.yml").unlink()
    (inventory / "cameras" / "toa-nha-hang-bac.csv").unlink()
    inv = pipeline.load(inventory)
    changes = pipeline.write(pipeline.render(inv, pipeline.plan(inv)), out)
    assert "sites/toa-nha-hang-bac/registry/cameras.geojson" in changes.deleted
    assert "ansible/host_vars/toa-nha-hang-bac-nvr1.yml" in changes.deleted
    assert not (out / "sites" / "toa-nha-hang-bac").exists()


def test_geojson_has_exactly_the_city_schema(tmp_path: Path) -> None:
    inv = pipeline.load(EXAMPLE)
    result = pipeline.render(inv, pipeline.plan(inv), ["registry"])
    doc = json.loads(result.artifacts["registry/cameras.geojson"][1].content)
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 41
    feat = next(f for f in doc["features"] if f["id"] == "hk-c01")
    assert list(feat["properties"]) == ["id", "name", "type", "purpose", "status", "site", "tier", "owner",
                                        "connection", "address", "height_m", "vms_site", "vms_path"]
    assert feat["geometry"] == {"type": "Point", "coordinates": [105.853, 21.03]}  # lon, lat
    assert feat["properties"]["vms_path"] == "hoan-kiem/hk-c01" and feat["properties"]["tier"] == 2
    # the map opens a camera where it is recorded: the police camera at the ward at the police VMS
    police_cam = next(f for f in doc["features"] if f["id"] == "ht-ca01")["properties"]
    assert (police_cam["site"], police_cam["vms_site"], police_cam["vms_path"]) == ("hang-trong", "police",
                                                                                      "police/ht-ca01")
    # no camera address, no legacy stream URL (hk-c01 has one, with its address) and no credential
    text = result.artifacts["registry/cameras.geojson"][1].content.decode()
    assert "10.20.0.11" not in text and "rtsp://" not in text


def test_the_registry_carries_management_addresses_only_when_asked(inventory: Path) -> None:
    edit(inventory / "city.yml", "timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Ho_Chi_Minh\nregistry: {management_addresses: true}")
    inv = pipeline.load(inventory)
    result = pipeline.render(inv, pipeline.plan(inv), ["registry"])
    feat = next(f for f in json.loads(result.artifacts["registry/cameras.geojson"][1].content)["features"]
                if f["id"] == "hk-c01")
    assert feat["properties"]["ip"] == "10.20.0.11"


def test_netbox_csv_headers_and_rows() -> None:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    result = pipeline.render(inv, plan, ["ipplan"])
    prefixes = list(csv.DictReader(io.StringIO(result.artifacts["ipplan/netbox-prefixes.csv"][1].content.decode())))
    assert set(prefixes[0]) == {"prefix", "status", "is_pool", "description"}
    assert {p["status"] for p in prefixes} == {"container", "active"}
    assert len(prefixes) == len(plan.blocks) + len(plan.subnets) + len(plan.transit)
    ips = list(csv.DictReader(io.StringIO(result.artifacts["ipplan/netbox-ip-addresses.csv"][1].content.decode())))
    assert {"address": "10.20.0.11/24", "status": "active", "role": "", "dns_name": "hk-c01",
            "description": "hoan-kiem camera hk-c01 (cameras)"} in ips


def test_ansible_inventory_is_accepted_by_ansible(tmp_path: Path) -> None:
    inv = pipeline.load(EXAMPLE)
    pipeline.write(pipeline.render(inv, pipeline.plan(inv), ["ansible-inventory"]), tmp_path)
    exe = Path(sys.executable).parent / "ansible-inventory"
    graph = subprocess.run([str(exe), "-i", str(tmp_path / "ansible" / "hosts.yml"), "--graph"],
                           capture_output=True, text=True, check=True, env={"ANSIBLE_LOCAL_TEMP": str(tmp_path),
                                                                            "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert "@site_hang_trong:" in graph.stdout and "hang-trong-edge1" in graph.stdout
    assert "@role_radius:" in graph.stdout and "@tier3:" in graph.stdout
    host = subprocess.run([str(exe), "-i", str(tmp_path / "ansible" / "hosts.yml"), "--host", "hoan-kiem-gw1"],
                          capture_output=True, text=True, check=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    hv = json.loads(host.stdout)
    assert hv["camkit_site_id"] == "hoan-kiem" and hv["camkit_ntp_servers"]
    assert hv["camkit_server_gateway_addresses"]["cameras"] == "10.20.0.1/24"
    assert hv["ansible_host"] == hv["camkit_server_addresses"]["servers"]["address"]


def test_a_formula_in_a_name_is_written_inert_in_every_csv(inventory: Path) -> None:
    # OWASP "CSV injection": a site name a spreadsheet would run; numbers stay numbers
    edit(inventory / "sites" / "hang-bac.yml", 'name: "Phường Hàng Bạc"', 'name: "=HYPERLINK(\\"http://x\\")"')
    inv = pipeline.load(inventory)
    result = pipeline.render(inv, pipeline.plan(inv), ["registry"])
    rows = list(csv.reader(io.StringIO(result.artifacts["registry/sites.csv"][1].content.decode())))
    row = next(r for r in rows if r[0] == "hang-bac")
    assert row[1] == "'=HYPERLINK(\"http://x\")"
    assert row[2] == "3" and all(not c.startswith("'") for r in rows for i, c in enumerate(r) if i != 1)
    for value in ("+1", "-x", "@SUM(A1)", "\tx"):
        assert render_mod.csv_bytes(["a"], [[value]]).decode().splitlines()[1].lstrip('"').startswith("'")
    assert render_mod.csv_bytes(["a"], [[-1.5]]).decode().splitlines()[1] == "-1.5"
