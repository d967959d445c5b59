"""Hostile input is normal input (issue 13): one case per rule and per hostile file.

Each case changes a copy of the example inventory the way a pull request could, then checks what a user sees:
`camkit validate` and `camkit render` exit 2 (never a traceback, never a hang), the message names the file and
line and says what is wrong, no secret and no raw control character is echoed, and the build rendered before
is left byte for byte as it was."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
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
         "sites/hang-bac.yml:3:7", ["kind '" + "w" * 40 + "'... is not a site kind"], ("w" * 41,)),
    Case("an invalid kind: did you mean, no cascade", lambda inv: edit(inv / HB, "kind: ward", "kind: wardd"),
         "sites/hang-bac.yml:3:7", ["kind 'wardd' is not a site kind", "did you mean 'ward'?"],
         ("tier", "networks")),
    Case("a duplicate MAC names both rows alike",
         lambda inv: edit(inv / HK, "02:ca:03:00:00:09,mab", "02:ca:03:00:00:08,mab"),
         "cameras/hoan-kiem.csv:2:1", ["camera 'hk-c01': MAC 02:ca:03:00:00:08 is also that of camera 'hk-c02' at "
                                       "inv/cameras/hoan-kiem.csv:3:1"]),
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


def test_one_pass_reports_every_mistake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mistakes in city.yml, a site and two camera rows: one run names them all (the checks across files run on
    the rows that passed their schema, even when city.yml did not), and the duplicate MAC on both rows."""
    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE, inv)
    edit(inv / CITY, "address_space:", "adress_space:")
    edit(inv / HB, "kind: ward", "kind: wardd")
    edit(inv / HK, "02:ca:03:00:00:09,mab", "02:ca:03:00:00:08,mab")
    edit(inv / "cameras" / "trang-tien.csv", ",sw1,2,", ",sw9,2,")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["validate", "inv"])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("error: ")]
    want = [("inv/city.yml:10:1", "unknown key 'adress_space'"),
            ("inv/sites/hang-bac.yml:3:7", "kind 'wardd' is not a site kind"),
            ("inv/cameras/hoan-kiem.csv:2:1", "is also that of camera 'hk-c02' at inv/cameras/hoan-kiem.csv:3:1"),
            ("inv/cameras/hoan-kiem.csv:3:1", "is also that of camera 'hk-c01' at inv/cameras/hoan-kiem.csv:2:1"),
            ("inv/cameras/trang-tien.csv:3:1", "switch 'sw9' is not a switch of site 'trang-tien'")]
    for where, words in want:
        assert any(line.startswith(f"error: {where}") and words in line for line in lines), (where, res.output)
    assert len(lines) == len(want), res.output


def _camkit(*args: str, cwd: Path, stdout: int | None = None, prefix: tuple[str, ...] = ()) \
        -> subprocess.CompletedProcess[str]:
    """The installed entry point as a user runs it (`camkit.cli:run`), in a subprocess."""
    import sys

    cmd = [*prefix, sys.executable, "-c", "from camkit.cli import run; run()", *args]
    return subprocess.run(cmd, cwd=cwd, stdout=stdout if stdout is not None else subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=300, check=False)


class Command(NamedTuple):
    name: str
    args: list[str]
    code: int  # 64 wrong command line, 73 an output that cannot be written
    words: list[str]


COMMANDS = [
    Command("an unknown option", ["validate", "--bogus"], 64, ["No such option '--bogus'"]),
    Command("an unknown command", ["rendre"], 64, ["No such command 'rendre'", "Did you mean 'render'?"]),
    Command("--out at a file", ["render", str(EXAMPLE), "--out", "a-file"], 64, ["'--out'", "is a file"]),
    Command("an unknown family", ["render", str(EXAMPLE), "--out", "b", "--only", "netplans"], 64,
            ["unknown artifact family 'netplans'"]),
    Command("an unknown site", ["plan", str(EXAMPLE), "--site", "hang-bak"], 64, ["'hang-bak' is not a site",
                                                                                  "did you mean 'hang-bac'?"]),
    Command("size storage: huge numbers", ["size", "storage", "--cameras", "10" * 20, "--bitrate-mbps", "1e300",
                                           "--days", "1e300"], 64, ["'--cameras'", "not in the range"]),
    Command("size storage: NaN", ["size", "storage", "--cameras", "1", "--bitrate-mbps", "nan", "--days", "1"], 64,
            ["'--bitrate-mbps': nan is not a finite number"]),
    Command("schema --out below a file", ["schema", "--out", "a-file/schemas"], 73, ["a-file/schemas", "Not a directory"]),
]


@pytest.mark.parametrize("case", COMMANDS, ids=[c.name for c in COMMANDS])
def test_commands_fail_cleanly(case: Command, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder\n", "utf-8")
    res = _camkit(*case.args, cwd=tmp_path)
    assert res.returncode == case.code, res.stderr
    assert all(w in res.stderr for w in case.words), res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def test_schema_to_a_full_disk_fails_cleanly(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        res = _camkit("schema", cwd=tmp_path, stdout=full.fileno())
    assert res.returncode == 73 and "No space left on device" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="mounting a small or read-only file system needs root (CI runs as root)")
@pytest.mark.parametrize("mount, words", [("size=8m", "No space left on device"), ("ro", "Read-only file system")],
                         ids=["full disk", "read-only folder"])
def test_render_to_a_disk_that_refuses_fails_cleanly(mount: str, words: str, tmp_path: Path) -> None:
    """A render onto a full (or read-only) file system: exit 73 naming the cause; the earlier build is intact.
    The file system is a tmpfs in a private mount namespace (nothing else sees it)."""
    import sys

    disk = tmp_path / "disk"
    disk.mkdir()
    script = tmp_path / "run.sh"
    first = "" if mount == "ro" else f"{shlex.quote(sys.executable)} -c 'from camkit.cli import run; run()' " \
                                     f"render {shlex.quote(str(EXAMPLE))} --out disk/build >/dev/null || exit 99\n" \
                                     "cat /dev/zero > disk/filler 2>/dev/null"  # the disk is now full
    script.write_text(f"""set -u
mount -t tmpfs -o {mount} tmpfs disk || exit 98
{first}
before=$(cd disk && find . -type f -exec sha256sum {{}} + | sort)
{shlex.quote(sys.executable)} -c 'from camkit.cli import run; run()' render {shlex.quote(str(EXAMPLE))} --out disk/build
echo "rc=$?"
after=$(cd disk && find . -type f -exec sha256sum {{}} + | sort)
[ "$before" = "$after" ] && echo intact
""", "utf-8")
    res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", str(script)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, check=False)
    assert "rc=73" in res.stdout and "intact" in res.stdout, (res.stdout, res.stderr)
    assert words in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert "disk/" in res.stderr, res.stderr  # names the path


def test_a_missing_program_is_exit_69_naming_it_not_an_output_problem(tmp_path: Path) -> None:
    """verify lists the generated ruleset with `unshare` + `nft`: with neither on PATH it names the program."""
    import sys

    (tmp_path / "empty").mkdir()
    res = subprocess.run([sys.executable, "-c", "from camkit.cli import run; run()", "verify", str(EXAMPLE), "--site",
                          "hang-trong", "--out", str(tmp_path / "v")], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, PATH=str(tmp_path / "empty")))
    assert res.returncode == 69, res.stderr
    assert "cannot run unshare: No such file or directory" in res.stderr and "outputs go to" not in res.stderr
    assert "Traceback" not in res.stderr
