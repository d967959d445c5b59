"""Malformed input never crashes: each class gives one clear error with its position, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from camkit.diagnostics import InventoryError
from camkit.loader import load
from camkit.sources import MAX_YAML_BYTES

from conftest import edit


def errors_of(root: Path) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        load(root)
    return [str(d) for d in exc.value.diagnostics]


def test_yaml_syntax_error_names_file_line_column(inventory: Path) -> None:
    (inventory / "sites" / "hang-bac.yml").write_text("id: hang-bac\nname: [unclosed\nkind: ward\n", "utf-8")
    errs = errors_of(inventory)
    assert any(e.startswith(f"{inventory}/sites/hang-bac.yml:") and "YAML syntax error" in e for e in errs), errs


def test_wrong_type_is_reported_with_the_key_position(inventory: Path) -> None:
    edit(inventory / "sites" / "police.yml", "switches:\n", "operators: many\nswitches:\n")
    errs = errors_of(inventory)
    assert any("police.yml:6:12: operators: Input should be a valid integer" in e for e in errs), errs


def test_non_utf8_bytes(inventory: Path) -> None:
    path = inventory / "sites" / "hang-bac.yml"
    path.write_bytes(path.read_bytes().replace("Phường Hàng Bạc".encode(), "Ph\xb0\xeang".encode("latin-1")))
    errs = errors_of(inventory)
    assert any("hang-bac.yml:2:" in e and "invalid UTF-8 byte 0xb0" in e and "save the file as UTF-8" in e
               for e in errs), errs


def test_empty_file(inventory: Path) -> None:
    (inventory / "sites" / "empty.yml").write_text("\n  \n", "utf-8")
    assert any("empty.yml:1:1: file is empty" in e for e in errors_of(inventory))


def test_empty_camera_csv(inventory: Path) -> None:
    (inventory / "cameras" / "police.csv").write_text("", "utf-8")
    assert any("police.csv:1:1: file is empty" in e for e in errors_of(inventory))


def test_billion_laughs_is_refused_quickly(inventory: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    (inventory / "sites" / "bomb.yml").write_text("\n".join(lines) + "\n", "utf-8")
    errs = errors_of(inventory)
    assert any("bomb.yml" in e and "alias bomb" in e for e in errs), errs


def test_oversized_file(inventory: Path) -> None:
    (inventory / "sites" / "huge.yml").write_text("# x\n" * (MAX_YAML_BYTES // 4 + 1), "utf-8")
    errs = errors_of(inventory)
    assert any("huge.yml: file is" in e and "byte limit" in e for e in errs), errs


def test_duplicate_yaml_key(inventory: Path) -> None:
    edit(inventory / "sites" / "police.yml", "kind: police_command\n", "kind: police_command\nkind: ward\n")
    errs = errors_of(inventory)
    assert any("police.yml:4:1: duplicate key 'kind'; it is already set at line 3" in e for e in errs), errs


def test_csv_row_width_and_unknown_column(inventory: Path) -> None:
    path = inventory / "cameras" / "police.csv"
    path.write_text(path.read_text("utf-8") + "only,three,fields\n", "utf-8")
    errs = errors_of(inventory)
    assert any("police.csv:7:1: row has 3 fields, the header has 22" in e for e in errs), errs
    path.write_text(path.read_text("utf-8").replace("stream_url", "stream_uri", 1), "utf-8")
    errs = errors_of(inventory)
    assert any("police.csv:1:22: unknown column 'stream_uri'" in e and "stream_url" in e for e in errs), errs


def test_every_problem_is_reported_not_only_the_first(inventory: Path) -> None:
    (inventory / "sites" / "empty.yml").write_text("", "utf-8")
    edit(inventory / "sites" / "hoan-kiem.yml", "parent: ioc", "parent: d9")
    edit(inventory / "cameras" / "so-gtvt.csv", "gt-c01,", "GT C01,")
    errs = errors_of(inventory)
    assert len(errs) >= 3
    assert any("empty.yml" in e for e in errs)
    assert any("hoan-kiem.yml:4:9: parent 'd9' is not a site; known tier-1 sites: ioc, police" in e for e in errs)
    assert any("so-gtvt.csv:2:1: camera 'GT C01': id: String should match pattern" in e for e in errs), errs


@pytest.mark.parametrize("content", [b"- just\n- a list\n", b"42\n"])
def test_site_file_that_is_not_a_mapping(inventory: Path, content: bytes) -> None:
    (inventory / "sites" / "odd.yml").write_bytes(content)
    assert any("odd.yml:1:1: a site file must be a mapping" in e for e in errors_of(inventory))


def test_cli_exit_status_2_and_nothing_written(inventory: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "build"
    assert cli("render", inventory, "--out", out).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (inventory / "sites" / "bad.yml").write_bytes(b"\xff\xfe")
    res = cli("render", inventory, "--out", out)
    assert res.exit_code == 2
    assert "invalid UTF-8 byte 0xff" in res.output
    assert "nothing was written" in res.output
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
