"""The command line: exit codes, JSON output, schema, access queries, diff."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from camkit.cli import main
from camkit.schema import schemas

from conftest import EXAMPLE, append_row, camera, edit


def test_validate_ok_and_json(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("validate", EXAMPLE, "--json", "--locked")
    assert res.exit_code == 0
    assert json.loads(res.output) == {"ok": True, "city": "example", "sites": 8, "cameras": 41, "lock_up_to_date": True,
                                    "warnings": []}


def test_validate_errors_as_json(cli, inventory: Path) -> None:  # type: ignore[no-untyped-def]
    (inventory / "sites" / "hang-bac.yml").write_text("id: [\n", "utf-8")
    res = cli("validate", inventory, "--json")
    assert res.exit_code == 2
    body = json.loads(res.output)
    assert body["ok"] is False and body["errors"][0]["file"].endswith("sites/hang-bac.yml")
    assert body["errors"][0]["line"] == 2 and "YAML syntax error" in body["errors"][0]["message"]


def test_validate_locked_fails_on_a_stale_lock(cli, inventory: Path) -> None:  # type: ignore[no-untyped-def]
    append_row(inventory / "cameras" / "hang-bac.csv", camera())
    assert cli("validate", inventory).exit_code == 0
    res = cli("validate", inventory, "--locked")
    assert res.exit_code == 2 and "the IP plan lock is not up to date" in res.output


def test_plan_json_and_write_lock(cli, inventory: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("plan", inventory, "--json", "--site", "hoan-kiem")
    body = json.loads(res.output)
    assert body["sites"]["hoan-kiem"]["subnets"]["cameras"]["prefix"] == "10.20.0.0/24"
    append_row(inventory / "cameras" / "hang-bac.csv", camera())
    res = cli("plan", inventory, "--write-lock")
    assert res.exit_code == 0 and "ipplan.lock.yml updated" in res.output
    assert "hang-bac" in res.output


def test_diff_exit_codes_and_unified_diff(cli, inventory: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "b"
    assert cli("diff", inventory, "--out", out).exit_code == 1  # nothing rendered yet: all added
    assert cli("render", inventory, "--out", out).exit_code == 0
    res = cli("diff", inventory, "--out", out)
    assert res.exit_code == 0 and "no changes" in res.output
    csv = inventory / "cameras" / "hang-bac.csv"
    csv.write_text(csv.read_text("utf-8").replace("Mã Mây", "Phố Mã Mây"), "utf-8")
    res = cli("diff", inventory, "--out", out, "-u")
    assert res.exit_code == 1
    assert "M registry/cameras.geojson" in res.output
    assert '+{"type": "Feature", "id": "hb-c02"' in res.output and "Phố Mã Mây" in res.output


def test_render_only_and_site(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("render", EXAMPLE, "--out", tmp_path, "--only", "registry", "--site", "hang-bac", "--json")
    data = json.loads(res.output)
    assert data["files"] == 2 and data["sites"] == ["hang-bac"] and data["shared_sites"] == ["hoan-kiem"]  # its RADIUS
    assert (tmp_path / "example" / "sites" / "hang-bac" / "registry" / "cameras.geojson").exists()
    assert not (tmp_path / "example" / "sites" / "hang-trong").exists()
    res = cli("render", EXAMPLE, "--out", tmp_path, "--only", "netplans")
    assert res.exit_code == 64 and "unknown artifact family 'netplans'" in res.output
    res = cli("render", EXAMPLE, "--out", tmp_path, "--site", "hang-bak")
    assert res.exit_code == 64 and "did you mean 'hang-bac'" in res.output


def test_access_commands(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("access", "who-can-see", "ht-ca01", "-i", EXAMPLE, "--json")
    grants = {g["unit"]: g for g in json.loads(res.output)["grants"]}
    assert set(grants) == {"ioc", "police"} and grants["ioc"]["condition"] == "police_rule"
    res = cli("access", "visible-to", "hang-trong", "-i", EXAMPLE, "--json")
    assert len(json.loads(res.output)["cameras"]) == 6
    res = cli("access", "who-can-see", "nope", "-i", EXAMPLE)
    assert res.exit_code == 64 and "'nope' is not a camera" in res.output


def test_schema_is_valid_json_schema_and_accepts_the_example(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("schema", "--out", tmp_path / "s")
    assert res.exit_code == 0
    docs = {p.name: json.loads(p.read_text()) for p in (tmp_path / "s").iterdir()}
    assert set(docs) == {"city.schema.json", "profile.schema.json", "site.schema.json", "camera.schema.json",
                         "camera-models.schema.json", "stream.schema.json"}
    for doc in docs.values():
        jsonschema.Draft202012Validator.check_schema(doc)
    s = schemas()
    jsonschema.validate(yaml.safe_load((EXAMPLE / "city.yml").read_text()), s["city"])
    jsonschema.validate(yaml.safe_load((EXAMPLE / "profiles" / "ward.yml").read_text()), s["profile"])
    jsonschema.validate(yaml.safe_load((EXAMPLE / "camera-models.yml").read_text()), s["camera-models"])
    import csv

    for row in csv.DictReader((EXAMPLE / "streams.lock.csv").open(encoding="utf-8")):
        jsonschema.validate({k: v for k, v in row.items() if v}, s["stream"])
    bad = yaml.safe_load((EXAMPLE / "city.yml").read_text()) | {"colour": "blue"}
    try:
        jsonschema.validate(bad, s["city"])
    except jsonschema.ValidationError as exc:
        assert "colour" in exc.message
    else:
        raise AssertionError("unknown key accepted by the schema")


def test_committed_schema_files_are_current() -> None:
    from conftest import ROOT

    committed = {p.name: json.loads(p.read_text("utf-8")) for p in (ROOT / "inventories" / "schema").iterdir()}
    assert committed == {f"{k}.schema.json": v for k, v in schemas().items()}, \
        "run `camkit schema --out inventories/schema`"


def test_markup_and_escape_codes_in_a_value_are_shown_not_interpreted(cli, inventory: Path) -> None:  # type: ignore[no-untyped-def]
    # values from a pull request: Rich markup that crashed the printer, and a terminal escape (clear screen)
    edit(inventory / "sites" / "hang-bac.yml", "parent: hoan-kiem", 'parent: "[/x][bold]d9"')
    edit(inventory / "sites" / "hang-trong.yml", 'name: "Phường Hàng Trống"', 'name: "Hàng\\e[2J Trống"')
    res = cli("validate", inventory)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "hang-bac.yml:4:9: parent: String should match pattern" in res.output
    assert "(got '[/x][bold]d9')" in res.output  # the markup shown literally
    assert "hang-trong.yml:2:7: name: character '\\x1b' at position 5 is not allowed" in res.output
    assert "\x1b" not in res.output  # no raw escape reaches the terminal
    assert "2 problem(s) found" in res.output  # one does not hide the other


@pytest.mark.parametrize("command", [
    ["cameras", "apply", "--site", "hang-trong", "--endpoints", "endpoints.json"],
    ["cameras", "audit", "--site", "hang-trong", "--endpoints", "endpoints.json"],
    ["secrets", "bootstrap", "--vendor", "Axis", "--user", "root"],
    ["secrets", "rotate", "--switch", "hang-trong-sw1"],
])
def test_only_secrets_init_creates_a_store(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                           command: list[str]) -> None:
    # a mistyped --store must not become a new store with new camera passwords the applier then logs in with
    (tmp_path / "endpoints.json").write_text("{}")
    vp = tmp_path / "vault-password"
    vp.write_text("a-vault-password-for-this-test")
    monkeypatch.setenv("CAMKIT_VAULT_PASSWORD_FILE", str(vp))
    typo = tmp_path / "secrest" / "example"
    res = CliRunner().invoke(main, [command[0], command[1], str(EXAMPLE), *command[2:], "--store", str(typo)],
                             input="factory-password\n")
    assert res.exit_code == 2, res.output
    assert "no secrets store here" in res.output and "camkit secrets init" in res.output
    assert not typo.exists() and not typo.parent.exists()
