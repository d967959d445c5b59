"""What a contractor renders for one district (issue 15, part 1): `--site` repeatable and `--with-children`, an
Ansible inventory limited to the selection and the shared services it uses, and every file its plays read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml
from click.testing import Result

from camkit import pipeline
from camkit.render import Selection

from conftest import EXAMPLE, HANOI, ROOT


def hosts_of(doc: dict) -> dict[str, set[str]]:
    """group -> every host under it (children followed), from a rendered hosts.yml."""
    groups = doc["all"]["children"]

    def walk(name: str) -> set[str]:
        g = groups.get(name) or {}
        out = set(g.get("hosts") or {})
        for child in g.get("children") or {}:
            out |= walk(child)
        return out

    return {name: walk(name) for name in groups}


def deployment(out: Path, city: str) -> tuple[dict[str, set[str]], Path]:
    build = out / city
    return hosts_of(yaml.safe_load((build / "ansible" / "hosts.yml").read_text())), build


def test_a_district_with_its_wards_gets_exactly_its_hosts_and_the_files_its_plays_read(
        cli: Callable[..., Result], tmp_path: Path) -> None:
    res = cli("render", EXAMPLE, "--site", "hoan-kiem", "--with-children", "--out", tmp_path / "b", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["sites"] == ["hoan-kiem", "hang-bac", "hang-trong", "toa-nha-hang-bac", "trang-tien"]
    groups, build = deployment(tmp_path / "b", "example")
    inv = pipeline.load(EXAMPLE)
    area = ["hoan-kiem", *inv.descendants("hoan-kiem")]
    expected = {inv.sites[s].hostname(x) for s in area for x in [v.name for v in inv.sites[s].servers]
                + [w.id for w in inv.sites[s].switches]}
    assert groups["camkit_selected"] == expected
    assert set().union(*groups.values()) == expected, "a host of another district is in the contractor's inventory"
    assert groups["camkit_shared"] == set()  # the district is its wards' RADIUS site
    for sid in area:
        assert (build / "ansible" / "group_vars" / f"site_{sid.replace('-', '_')}.yml").is_file()
    assert (build / "ansible" / "group_vars" / "all.yml").is_file()
    for host in groups["servers"]:
        sid = yaml.safe_load((build / "ansible" / "host_vars" / f"{host}.yml").read_text())["camkit_server_name"]
        site = next(s for s in area if host in {inv.sites[s].hostname(v.name) for v in inv.sites[s].servers})
        assert sid and (build / "sites" / site / "netplan" / f"{host}.yaml").is_file()
        assert (build / "sites" / site / "nftables" / f"{host}.nft").is_file()
    for host in groups["role_radius"]:
        assert (build / "sites" / "hoan-kiem" / "radius" / host).is_dir()
    assert not (build / "sites" / "ioc").exists() and not (build / "sites" / "police").exists()


def test_repeated_sites_render_all_of_them_and_a_ward_brings_its_radius_site(cli: Callable[..., Result],
                                                                              tmp_path: Path) -> None:
    res = cli("render", EXAMPLE, "--site", "hang-trong", "--site", "hang-bac", "--out", tmp_path / "b")
    assert res.exit_code == 0, res.output
    assert "with the shared services of hoan-kiem (RADIUS)" in res.output
    groups, build = deployment(tmp_path / "b", "example")
    assert {p.name for p in (build / "sites").iterdir()} == {"hang-trong", "hang-bac", "hoan-kiem"}
    assert groups["camkit_selected"] == {"hang-trong-edge1", "hang-trong-sw1", "hang-bac-edge1", "hang-bac-sw1"}
    assert groups["camkit_shared"] >= {"hoan-kiem-radius1"}
    # the RADIUS server that admits the wards' cameras knows both wards' switches
    clients = next((build / "sites" / "hoan-kiem" / "radius").rglob("clients.conf")).read_text()
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    for sid in ("hang-trong", "hang-bac"):
        for sw in inv.sites[sid].switches:
            assert plan.assignments[(pipeline.ipplan.NetworkRole.management, inv.sites[sid].hostname(sw.id))].ip in clients


def test_selection_errors_are_usage_errors(cli: Callable[..., Result], tmp_path: Path) -> None:
    res = cli("render", EXAMPLE, "--with-children", "--out", tmp_path / "b")
    assert res.exit_code == 64 and "--with-children needs --site" in res.output
    res = cli("render", EXAMPLE, "--site", "hang-trong", "--site", "hoan-kiemm", "--out", tmp_path / "b")
    assert res.exit_code == 64 and "'hoan-kiemm' is not a site" in res.output and "hoan-kiem" in res.output
    assert not (tmp_path / "b").exists()


def test_a_full_render_after_a_selection_restores_the_whole_city_inventory(tmp_path: Path) -> None:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    out = tmp_path / "b"
    pipeline.write(pipeline.render(inv, plan, None, Selection.of(inv, ["trang-tien"])), out)
    limited = hosts_of(yaml.safe_load((out / "ansible" / "hosts.yml").read_text()))
    assert "ioc-node1" not in set().union(*limited.values())
    pipeline.write(pipeline.render(inv, plan), out)
    full = (out / "ansible" / "hosts.yml").read_bytes()
    assert full == pipeline.render(inv, plan, ["ansible-inventory"]).artifacts["ansible/hosts.yml"][1].content
    assert b"camkit_selected" not in full


def ansible_env(tmp_path: Path) -> dict[str, str]:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "ansible_collections.py")], check=True, capture_output=True)
    return dict(os.environ) | {"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"), "NO_COLOR": "1",
                               "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_HOME": str(tmp_path)}


def test_site_playbook_lists_and_parses_on_the_district_inventory(cli: Callable[..., Result], tmp_path: Path) -> None:
    assert cli("render", EXAMPLE, "--site", "hoan-kiem", "--with-children", "--out", tmp_path / "b").exit_code == 0
    env = ansible_env(tmp_path)
    hosts = str(tmp_path / "b" / "example" / "ansible" / "hosts.yml")
    exe = str(Path(sys.executable).parent / "ansible-playbook")
    syntax = subprocess.run([exe, "-i", hosts, "playbooks/site.yml", "--syntax-check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    listed = subprocess.run([exe, "-i", hosts, "playbooks/site.yml", "--list-hosts", "--limit", "camkit_selected"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    radius_play = listed.stdout.split("RADIUS servers")[1].split("play #")[0]
    assert "hoan-kiem-radius1" in radius_play and "ioc-" not in listed.stdout


def test_the_collections_installed_are_the_pinned_ones(tmp_path: Path) -> None:
    ansible_env(tmp_path)
    pins = {c["name"]: c["version"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    for name, version in pins.items():
        manifest = ROOT / ".cache" / "collections" / "ansible_collections" / name.replace(".", "/") / "MANIFEST.json"
        assert json.loads(manifest.read_text())["collection_info"]["version"] == version
    used = set()
    for f in [*ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("roles/*/handlers/*.yml"), *ROOT.glob("playbooks/*.yml")]:
        for doc in yaml.safe_load_all(f.read_text()):
            text = json.dumps(doc)
            used |= {m for m in pins if f'"{m}.' in text}
            for fqcn in __import__("re").findall(r'"([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+"\s*:', text):
                assert fqcn in pins or fqcn == "ansible.builtin", f"{f}: {fqcn} is not pinned in requirements.yml"
    assert "community.general" in used


@pytest.mark.slow
def test_a_hanoi_district_deployment_holds_only_its_area() -> None:
    inv = pipeline.load(HANOI)
    plan = pipeline.plan(inv)
    district = next(s for s in inv.sites.values() if s.kind.value == "district_oc" and inv.children[s.id]).id
    sel = Selection.of(inv, [district], with_children=True)
    result = pipeline.render(inv, plan, ["ansible-inventory", "netplan", "radius"], sel)
    groups = hosts_of(yaml.safe_load(result.artifacts["ansible/hosts.yml"][1].content))
    area = {district, *inv.descendants(district)}
    assert set(sel.requested) == area
    owners = {inv.sites[s].hostname(v.name): s for s in inv.sites for v in inv.sites[s].servers}
    assert {owners[h] for h in groups["servers"]} == area | set(sel.shared)
    assert all(a.scope in sel for _, a in result.artifacts.values() if a.scope != "city")


def test_the_switch_play_fills_each_switch_from_the_vault_and_says_how_to_load_the_others(
        cli: Callable[..., Result], tmp_path: Path) -> None:
    """No switch runs here: the play's fill is byte-compared, and its push stops where no collection drives the
    switch (Huawei VRP, Aruba CX) with the manual route; a Cisco push needs the switch (network_cli)."""
    import secrets as _secrets

    from camkit.render.switches import SECRET
    from camkit.secrets import SWITCH_SECRETS_KEY, Store

    assert cli("render", EXAMPLE, "--site", "hoan-kiem", "--with-children", "--out", tmp_path / "b").exit_code == 0
    (tmp_path / "pw").write_text(_secrets.token_urlsafe(24) + "\n")
    env = ansible_env(tmp_path) | {"CAMKIT_VAULT_PASSWORD_FILE": str(tmp_path / "pw"),
                                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([sys.executable, "-m", "camkit.cli", "secrets", "init", str(EXAMPLE), "--store", str(tmp_path / "s")],
                   check=True, capture_output=True, env=env, timeout=600)
    exe = str(Path(sys.executable).parent / "ansible-playbook")
    base = [exe, "-i", str(tmp_path / "b" / "example" / "ansible" / "hosts.yml"), "playbooks/switches.yml",
            "-e", f"camkit_inventory={EXAMPLE}", "-e", f"camkit_secrets_store={tmp_path / 's'}"]
    filled = tmp_path / "filled"
    res = subprocess.run(base + ["-e", "camkit_switch_push=false", "-e", f"camkit_switch_filled_dir={filled}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    store = Store.open(tmp_path / "s", (tmp_path / "pw").read_text().strip().encode())
    inv = pipeline.load(EXAMPLE)
    switches = {s.hostname(sw.id): s.id for s in inv.sites.values() for sw in s.switches
                if s.id in {"hoan-kiem", *inv.descendants("hoan-kiem")}}
    assert {p.stem for p in filled.iterdir()} == set(switches)
    for host, sid in switches.items():
        rendered = (tmp_path / "b" / "example" / "sites" / sid / "switches" / f"{host}.cfg").read_text()
        secret = store.doc(sid)[SWITCH_SECRETS_KEY][host]
        got = filled / f"{host}.cfg"
        assert got.read_text() == rendered.replace(SECRET, secret) and SECRET in rendered
        assert got.stat().st_mode & 0o777 == 0o600
    assert secret not in res.stdout + res.stderr
    # pushing: the switches no collection drives stop with the manual route, and nothing filled is left behind
    res = subprocess.run(base + ["--check", "--diff", "--limit", "hang-bac-sw1"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    dialect = next(sw.dialect.value for sw in inv.sites["hang-bac"].switches)
    assert res.returncode != 0 and f"hang-bac-sw1 ({dialect}): no maintained Ansible collection" in res.stdout
    assert "camkit secrets fill-switch" in res.stdout
    assert not list(Path(tempfile_dir()).glob("camkit-switch-*"))


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


def test_a_contractors_export_holds_only_its_district_and_no_ca_key(cli: Callable[..., Result], tmp_path: Path) -> None:
    import secrets as _secrets

    from camkit.diagnostics import InventoryError
    from camkit.secrets import Store

    (tmp_path / "pw").write_text(_secrets.token_urlsafe(24) + "\n")
    env = dict(os.environ) | {"CAMKIT_VAULT_PASSWORD_FILE": str(tmp_path / "pw")}
    subprocess.run([sys.executable, "-m", "camkit.cli", "secrets", "init", str(EXAMPLE), "--store", str(tmp_path / "s")],
                   check=True, capture_output=True, env=env, timeout=600)
    kit, kit_pw = tmp_path / "kit", tmp_path / "kit.password"
    res = subprocess.run([sys.executable, "-m", "camkit.cli", "secrets", "export", str(EXAMPLE), "--site", "hoan-kiem",
                          "--with-children", "--store", str(tmp_path / "s"), "--dest", str(kit),
                          "--password-file", str(kit_pw)], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert kit_pw.stat().st_mode & 0o777 == 0o600
    inv = pipeline.load(EXAMPLE)
    area = {"hoan-kiem", *inv.descendants("hoan-kiem")}
    assert {p.name.removesuffix(".vault.yml") for p in kit.glob("*.vault.yml")} == area
    city = Store.open(tmp_path / "s", (tmp_path / "pw").read_text().strip().encode())
    mine = Store.open(kit, kit_pw.read_text().strip().encode())
    for sid in area:
        doc = mine.doc(sid)
        assert "issuing_ca_key" not in doc and doc == {k: v for k, v in city.doc(sid).items() if k != "issuing_ca_key"}
    # the kit's password opens no file of the city's store: not another district, not the root CA
    other = Store.open(tmp_path / "s", kit_pw.read_text().strip().encode())
    for name in ("ioc", "police", "so-gtvt", "root-ca", "hoan-kiem"):
        with pytest.raises(InventoryError, match="cannot decrypt"):
            other.doc(name)
    assert not any("PRIVATE KEY" in p.read_text() for p in (kit / "public").rglob("*.pem"))
    # the kit is a working store for the district: its RADIUS server installs from it alone
    assert cli("render", EXAMPLE, "--site", "hoan-kiem", "--with-children", "--out", tmp_path / "b").exit_code == 0
    res = subprocess.run([sys.executable, "-m", "camkit.cli", "secrets", "install-radius", str(EXAMPLE),
                          "hoan-kiem-radius1", "--store", str(kit), "--build", str(tmp_path / "b"),
                          "--dest", str(tmp_path / "raddb")], capture_output=True, text=True, timeout=600,
                         env=env | {"CAMKIT_VAULT_PASSWORD_FILE": str(kit_pw)})
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "raddb" / "certs").is_dir()
    # an export never overwrites: the same destination again is refused
    again = subprocess.run([sys.executable, "-m", "camkit.cli", "secrets", "export", str(EXAMPLE), "--site", "ioc",
                            "--store", str(tmp_path / "s"), "--dest", str(kit), "--password-file",
                            str(tmp_path / "p2")], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 2 and "the destination exists" in again.stderr and not (tmp_path / "p2").exists()


def test_the_ca_keys_are_under_their_own_offline_password(cli: Callable[..., Result], tmp_path: Path) -> None:
    import secrets as _secrets

    from camkit.diagnostics import InventoryError
    from camkit.secrets import Store, ca_doc

    (tmp_path / "pw").write_text(_secrets.token_urlsafe(24) + "\n")
    (tmp_path / "ca-pw").write_text(_secrets.token_urlsafe(24) + "\n")
    env = dict(os.environ) | {"CAMKIT_VAULT_PASSWORD_FILE": str(tmp_path / "pw")}
    env.pop("CAMKIT_CA_PASSWORD_FILE", None)
    init = [sys.executable, "-m", "camkit.cli", "secrets", "init", str(EXAMPLE), "--store", str(tmp_path / "s")]
    subprocess.run(init, check=True, capture_output=True, timeout=600,
                   env=env | {"CAMKIT_CA_PASSWORD_FILE": str(tmp_path / "ca-pw")})
    vault_pw = (tmp_path / "pw").read_text().strip().encode()
    daily = Store.open(tmp_path / "s", vault_pw)  # what a deployment holds: no CA password
    assert daily.ca_password is None
    cas = sorted(p.name for p in (tmp_path / "s").glob("*.vault.yml") if p.name.startswith(("ca.", "root-ca.")))
    assert "root-ca.vault.yml" in cas and f"{ca_doc('hoan-kiem')}.vault.yml" in cas
    for name in (n.removesuffix(".vault.yml") for n in cas):
        with pytest.raises(InventoryError, match="CA password"):
            daily.doc(name)
    for p in (tmp_path / "s").glob("*.vault.yml"):
        if not p.name.startswith(("ca.", "root-ca.", "camera-bootstrap.")):
            assert "issuing_ca_key" not in daily.doc(p.name.removesuffix(".vault.yml")), p.name
    # a deployment runs without it: the RADIUS server installs from the store with the vault password only
    assert cli("render", EXAMPLE, "--site", "hoan-kiem", "--out", tmp_path / "b").exit_code == 0
    res = subprocess.run([sys.executable, "-m", "camkit.cli", "secrets", "install-radius", str(EXAMPLE),
                          "hoan-kiem-radius1", "--store", str(tmp_path / "s"), "--build", str(tmp_path / "b"),
                          "--dest", str(tmp_path / "raddb")], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    # signing needs it: a new camera certificate without the CA password is refused, naming it
    cam = next(c.id for c in pipeline.load(EXAMPLE).cameras if c.dot1x == "eap-tls")
    res = subprocess.run([sys.executable, "-m", "camkit.cli", "secrets", "rotate", str(EXAMPLE), "--store",
                          str(tmp_path / "s"), "--camera", cam], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 2 and "CAMKIT_CA_PASSWORD_FILE" in res.stderr
    res = subprocess.run([sys.executable, "-m", "camkit.cli", "secrets", "rotate", str(EXAMPLE), "--store",
                          str(tmp_path / "s"), "--camera", cam], capture_output=True, text=True, timeout=600,
                         env=env | {"CAMKIT_CA_PASSWORD_FILE": str(tmp_path / "ca-pw")})
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_camera_run_kit_holds_only_the_sites_camera_secrets_and_only_pins_come_back(
        cli: Callable[..., Result], tmp_path: Path) -> None:
    """What roles/camera_hardening copies to a site's server: that site's camera accounts, pins and factory
    logins under a one-run password (never the city's vault password, RADIUS keys, switch secrets or WireGuard
    keys); what it brings back: the pins alone, for that site's cameras."""
    import secrets as _secrets

    from camkit.cameras.accounts import BOOTSTRAP_DOC, PINS_KEY, set_bootstrap
    from camkit.secrets import Store
    from camkit.secrets_export import CAMERA_RUN_KEYS

    (tmp_path / "pw").write_text(_secrets.token_urlsafe(24) + "\n")
    env = dict(os.environ) | {"CAMKIT_VAULT_PASSWORD_FILE": str(tmp_path / "pw")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "camkit.cli", *a], capture_output=True, text=True,  # noqa: E731
                                    env=env, timeout=600)
    assert run("secrets", "init", str(EXAMPLE), "--store", str(tmp_path / "s")).returncode == 0
    city = Store.open(tmp_path / "s", (tmp_path / "pw").read_text().strip().encode())
    inv = pipeline.load(EXAMPLE)
    mine, other = inv.cameras_by_site["hoan-kiem"][0], inv.cameras_by_site["hang-trong"][0]
    for cam in (mine, other):
        set_bootstrap(city, "cameras", cam.id, "admin", "Factory-" + cam.id)
    city.save()
    kit, kit_pw = tmp_path / "kit", tmp_path / "kit.password"
    res = run("secrets", "export", str(EXAMPLE), "--site", "hoan-kiem", "--cameras-only", "--store",
              str(tmp_path / "s"), "--dest", str(kit), "--password-file", str(kit_pw))
    assert res.returncode == 0, res.stderr
    assert sorted(p.relative_to(kit).as_posix() for p in kit.rglob("*") if p.is_file()) == [
        "camera-bootstrap.vault.yml", "hoan-kiem.vault.yml"]  # no shared RADIUS site, no public files
    k = Store.open(kit, kit_pw.read_text().strip().encode())
    doc = k.doc("hoan-kiem")
    assert set(doc) <= set(CAMERA_RUN_KEYS) and doc["camera_accounts"] == city.doc("hoan-kiem")["camera_accounts"]
    assert set(city.doc("hoan-kiem")) - set(doc), "the site vault holds more than a camera run needs"
    assert list(k.doc(BOOTSTRAP_DOC)["cameras"]) == [mine.id]

    # the run pins certificates in its kit; only well-formed pins of the site's own cameras come back
    before = {key: v for key, v in city.doc("hoan-kiem").items() if key != PINS_KEY}
    k.put("hoan-kiem", PINS_KEY, {mine.id: "ab" * 32, inv.cameras_by_site["hoan-kiem"][1].id: "not-a-pin",
                                  other.id: "cd" * 32})
    k.save()
    res = run("cameras", "import-pins", str(EXAMPLE), "--site", "hoan-kiem", "--from", str(kit),
              "--kit-password-file", str(kit_pw), "--store", str(tmp_path / "s"))
    assert res.returncode == 0 and "1 camera certificate pin(s)" in res.stdout, res.stdout + res.stderr
    city = Store.open(tmp_path / "s", (tmp_path / "pw").read_text().strip().encode())
    assert city.doc("hoan-kiem")[PINS_KEY] == {mine.id: "ab" * 32}
    assert {key: v for key, v in city.doc("hoan-kiem").items() if key != PINS_KEY} == before
    assert PINS_KEY not in city.doc("hang-trong")
