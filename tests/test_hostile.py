"""Hostile input is normal input (issue 13): one case per rule and per hostile file.

Each case changes a copy of the example inventory the way a pull request could, then checks what a user sees:
`camkit validate` and `camkit render` exit 2 (never a traceback, never a hang), the message names the file and
line and says what is wrong, no secret and no raw control character is echoed, and the build rendered before
is left byte for byte as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, NamedTuple

import pytest
from click.testing import CliRunner

from camkit.cli import main

from conftest import EXAMPLE, edit

SECRET = "s3cret-Vault-Passw0rd"  # what a linked file would leak if it were read


def _link(inv: Path, rel: str, target: str | Path) -> None:
    path = inv / rel
    path.unlink()
    path.symlink_to(target)


def _vault_file(inv: Path) -> Path:
    secret = inv.parent / "vault-password"
    secret.write_text(SECRET + "\n", "utf-8")
    return secret


def _fifo(inv: Path) -> None:
    path = inv / "cameras" / "hang-bac.csv"
    path.unlink()
    os.mkfifo(path)


def _huge(inv: Path) -> None:
    path = inv / "cameras" / "hang-bac.csv"
    with path.open("r+b") as f:  # sparse: 65 MiB without writing them
        f.truncate(65 << 20)


def _linked_folder(inv: Path) -> None:
    outside = inv.parent / "outside"
    outside.mkdir()
    shutil.copy(inv / "sites" / "hang-bac.yml", outside / "hang-bac-2.yml")
    (inv / "sites" / "more").symlink_to(outside)


def _deep(inv: Path) -> None:
    (inv / "sites" / "hang-bac.yml").write_text("id: hang-bac\nname: " + "[" * 600 + "]" * 600 + "\n", "utf-8")


def _over_the_internet(csv_path: Path) -> None:
    """hk-c01 (plain rtsp:// stream_url) moved off the site switch onto an Internet VPN."""
    edit(csv_path, "active,private_fiber,,Hikvision,DS-2DE4A425IWG-E", "active,internet_vpn,,Hikvision,DS-2DE4A425IWG-E")
    edit(csv_path, "02:ca:03:00:00:08,mab,crowd;intrusion;ptz_tracking,sw1,1,",
         "02:ca:03:00:00:08,,crowd;intrusion;ptz_tracking,,,")


class Case(NamedTuple):
    name: str
    breaks: Callable[[Path], None]
    where: str  # file:line the first message points at
    words: list[str]  # what it says
    never: tuple[str, ...] = ()  # what it must not echo


CITY, HB, HK = "city.yml", "sites/hang-bac.yml", "cameras/hoan-kiem.csv"
HK_C01 = "rtsp://10.20.0.11:554/Streaming/Channels/101,10.20.0.11\n"
CASES = [
    # safe values
    Case("quarantine VLAN is the management VLAN",
         lambda inv: edit(inv / CITY, "  radius_placement: tier2\n", "  radius_placement: tier2\n  quarantine_vlan: 10\n"),
         "city.yml:34:20", ["services.quarantine_vlan 10 is also networks.management.vlan", "its own VLAN id"]),
    Case("two roles share a VLAN", lambda inv: edit(inv / CITY, "operators: {vlan: 40", "operators: {vlan: 30"),
         "city.yml:24:", ["networks.operators.vlan 30 is also networks.storage.vlan"]),
    Case("a role on the parking VLAN", lambda inv: edit(inv / CITY, "operators: {vlan: 40", "operators: {vlan: 999"),
         "city.yml:24:", ["networks.operators.vlan 999 is also the parking VLAN of unused switch ports"]),
    Case("a newline in a site name forges a key",
         lambda inv: edit(inv / HB, 'name: "Phường Hàng Bạc"', 'name: "Hàng Bạc\\nsecretsprovider: passphrase"'),
         "sites/hang-bac.yml:2:7", ["name: character '\\n' at position 9 is not allowed", "no newlines"]),
    Case("an escape code in a camera cell",
         lambda inv: edit(inv / "cameras" / "hang-bac.csv", "hb-c01,Hàng Bạc,", "hb-c01,Hàng\x1b]0;pwned\x07 Bạc,"),
         "cameras/hang-bac.csv:2:12", ["character '\\x1b' is not allowed"]),
    Case("a line break inside a quoted camera cell",
         lambda inv: edit(inv / "cameras" / "hang-bac.csv", "hb-c01,Hàng Bạc,", 'hb-c01,"Hàng\nBạc",'),
         "cameras/hang-bac.csv:2:1", ["a cell holds a line break"]),
    Case("credentials in a stream_url query",
         lambda inv: edit(inv / HK, HK_C01, "rtsp://10.20.0.11:554/live?user=admin&password=" + SECRET + ",10.20.0.11\n"),
         "cameras/hoan-kiem.csv:2:", ["stream_url must not carry credentials in its query"], (SECRET,)),
    Case("a stream_url at another host",
         lambda inv: edit(inv / HK, HK_C01, "rtsp://relay.example.net:554/Streaming/Channels/101,10.20.0.11\n"),
         "cameras/hoan-kiem.csv:2:", ["stream_url points at 'relay.example.net', not at the camera's ip 10.20.0.11"]),
    Case("a stream_url at another host than the planned address",
         lambda inv: edit(inv / HK, HK_C01, "rtsp://10.99.0.1:554/Streaming/Channels/101,\n"),
         "cameras/hoan-kiem.csv:2:1", ["camera 'hk-c01': stream_url points at '10.99.0.1', not at the camera's planned"]),
    Case("a long bad value is quoted short",
         lambda inv: edit(inv / HB, "kind: ward", "kind: " + "w" * 500),
         "sites/hang-bac.yml:3:7", ["(got '" + "w" * 40 + "'...)"], ("w" * 41,)),
    Case("a misspelled key: did you mean, no cascade",
         lambda inv: edit(inv / HB, "organisation:", "organisaton:"),
         "sites/hang-bac.yml:5:1", ["unknown key 'organisaton'", "did you mean 'organisation'?"],
         ("missing required key 'organisation'",)),
    Case("a 4G camera pulled in clear (VII.2.2.5)",
         lambda inv: (inv / CITY).write_text((inv / CITY).read_text("utf-8") + "cameras: {rtsps: false}\n", "utf-8"),
         "cameras/trang-tien.csv:7:1", ["camera 'tt-c06': a 'cellular' camera must be pulled over RTSPS",
                                        "city.yml cameras.rtsps is off"]),
    Case("an Internet camera with a plain rtsp:// stream_url",
         lambda inv: _over_the_internet(inv / HK),
         "cameras/hoan-kiem.csv:2:1", ["camera 'hk-c01': a 'internet_vpn' camera must be pulled over RTSPS",
                                       "its stream_url is rtsp://"]),
    # hostile files
    Case("a camera CSV linked to the vault password file",
         lambda inv: _link(inv, "cameras/hang-bac.csv", _vault_file(inv)),
         "cameras/hang-bac.csv", ["file is a symbolic link", "regular files"], (SECRET,)),
    Case("a camera CSV linked to the environment",
         lambda inv: _link(inv, "cameras/hang-bac.csv", "/proc/self/environ"),
         "cameras/hang-bac.csv", ["file is a symbolic link"], (os.environ.get("PATH", "PATH="),)),
    Case("a camera CSV linked to /dev/zero", lambda inv: _link(inv, "cameras/hang-bac.csv", "/dev/zero"),
         "cameras/hang-bac.csv", ["file is a symbolic link"]),
    Case("a FIFO for a camera CSV", _fifo, "cameras/hang-bac.csv", ["not a regular file (a FIFO"]),
    Case("a 65 MiB camera CSV", _huge, "cameras/hang-bac.csv", ["over the 67108864 byte limit"]),
    Case("a linked folder of sites", _linked_folder, "sites/more", ["is a symbolic link", "inside the inventory"]),
    Case("600 nested levels", _deep, "sites/hang-bac.yml:2:", ["values nested more than 32 levels deep"]),
]


@pytest.fixture(scope="module")
def earlier_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of the example, rendered once: every case renders over a copy of it."""
    out = tmp_path_factory.mktemp("earlier") / "build"
    inv = out.parent / "inv"
    shutil.copytree(EXAMPLE, inv)
    res = CliRunner().invoke(main, ["render", str(inv), "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_refused_cleanly(case: Case, tmp_path: Path, earlier_build: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE, inv)
    case.breaks(inv)
    monkeypatch.chdir(tmp_path)  # messages name files relative to the working directory
    runner = CliRunner()
    res = runner.invoke(main, ["validate", "inv"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == 2, res.output
    first = f"error: inv/{case.where}"
    assert any(line.startswith(first) and all(w in line for w in case.words) for line in res.output.splitlines()), \
        res.output
    for bad in case.never:
        assert bad not in res.output
    assert "Traceback" not in res.output and "\x1b" not in res.output and "\x07" not in res.output

    build = tmp_path / "build"
    shutil.copytree(earlier_build, build)
    before = _tree(build)
    res = runner.invoke(main, ["render", "inv", "--out", "build"])
    assert res.exit_code == 2 and "nothing was written" in res.output, res.output
    assert _tree(build) == before  # the earlier build is intact
