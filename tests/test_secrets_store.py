"""Per-site vault IDs and passwords in the city's store (issue 15, part 5): each site's vault opens with the site's
own password, derived one way from the store's, and that password opens nothing else — checked with the real
`ansible-vault`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from click.testing import Result

from camkit.secrets import CAMERA_BOOTSTRAP_DOC, ROOT_CA_DOC, Store, ca_doc, site_password

from conftest import EXAMPLE, edit
from test_validation import has, problems

PASSWORD = b"the city's vault password"
SITES = ("hoan-kiem", "hang-bac", "ioc")


def _ansible_vault(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("ansible-vault", path=str(Path(sys.executable).parent)) or "ansible-vault"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_VAULT")}
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    st = Store.open(tmp_path / "store", PASSWORD, create=True)
    for sid in SITES:
        st.put(sid, "switch_radius_secrets", {f"{sid}-sw1": f"secret of {sid}"})
    st.put(ROOT_CA_DOC, "key", "the root CA key")
    st.put(ca_doc("hoan-kiem"), "key", "hoan-kiem's issuing CA key")
    st.put(CAMERA_BOOTSTRAP_DOC, "vendors", {"Hikvision": {"user": "admin", "password": "factory"}})
    st.save()
    return st


def test_each_site_vault_is_under_its_own_vault_id_and_the_rest_under_the_store_password(store: Store) -> None:
    for sid in SITES:
        assert (store.root / f"{sid}.vault.yml").read_bytes().startswith(f"$ANSIBLE_VAULT;1.2;AES256;{sid}\n".encode())
    for name in (ROOT_CA_DOC, ca_doc("hoan-kiem"), CAMERA_BOOTSTRAP_DOC):
        assert (store.root / f"{name}.vault.yml").read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256\n"), name
    again = Store.open(store.root, PASSWORD)  # the store's password still opens every site
    assert {sid: again.doc(sid) for sid in SITES} == {sid: store.doc(sid) for sid in SITES}


def test_a_site_password_opens_its_site_vault_and_nothing_else(
        cli: Callable[..., Result], store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text(PASSWORD.decode() + "\n")
    monkeypatch.setenv("CAMKIT_VAULT_PASSWORD_FILE", str(tmp_path / "pw"))
    res = cli("secrets", "site-password", EXAMPLE, "--site", "hoan-kiem", "--store", store.root,
              "--password-file", tmp_path / "hk.pw")
    assert res.exit_code == 0, res.output
    hk = tmp_path / "hk.pw"
    assert hk.stat().st_mode & 0o777 == 0o600
    assert hk.read_text().strip().encode() == site_password(PASSWORD, "hoan-kiem") != PASSWORD

    seen = _ansible_vault("view", "--vault-id", f"hoan-kiem@{hk}", store.root / "hoan-kiem.vault.yml")
    assert seen.returncode == 0, seen.stderr
    assert "secret of hoan-kiem" in seen.stdout
    for other in sorted(store.root.glob("*.vault.yml")):
        if other.name == "hoan-kiem.vault.yml":
            continue
        denied = _ansible_vault("view", "--vault-id", f"hoan-kiem@{hk}", other)
        assert denied.returncode != 0 and "Decryption failed" in denied.stderr, other.name
        assert "secret of" not in denied.stdout and "key" not in denied.stdout
    # the store's password is not a site's password: a site vault opens only with the site's derived password
    plain = _ansible_vault("view", "--vault-password-file", tmp_path / "pw", store.root / "hang-bac.vault.yml")
    assert plain.returncode != 0 and "Decryption failed" in plain.stderr

    # never over an existing file, and an unknown site is a usage error that writes nothing
    again = cli("secrets", "site-password", EXAMPLE, "--site", "hoan-kiem", "--store", store.root,
                "--password-file", hk)
    assert again.exit_code == 2 and "the password file exists" in again.output
    bad = cli("secrets", "site-password", EXAMPLE, "--site", "hoan-kiemm", "--store", store.root,
              "--password-file", tmp_path / "x.pw")
    assert bad.exit_code == 64 and "did you mean 'hoan-kiem'" in bad.output and not (tmp_path / "x.pw").exists()


def test_site_passwords_are_distinct_and_one_way() -> None:
    derived = {sid: site_password(PASSWORD, sid) for sid in SITES}
    assert len(set(derived.values())) == len(SITES)
    assert all(PASSWORD not in d for d in derived.values())
    assert site_password(b"another city's password", "hoan-kiem") != derived["hoan-kiem"]
    assert site_password(PASSWORD, "hoan-kiem") == derived["hoan-kiem"]  # stable: a handed-out password keeps working


def test_a_site_vault_written_before_per_site_passwords_opens_and_is_rewritten_under_its_id(store: Store) -> None:
    from ansible.parsing.vault import VaultLib, VaultSecret

    path = store.root / "hang-bac.vault.yml"
    path.write_bytes(VaultLib([("default", VaultSecret(PASSWORD))]).encrypt(b"switch_radius_secrets: {old: kept}\n"))
    old = Store.open(store.root, PASSWORD)
    assert old.doc("hang-bac") == {"switch_radius_secrets": {"old": "kept"}}
    old.put("hang-bac", "sso_service_client_secret", "s")
    old.save()
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;hang-bac\n")
    assert Store.open(store.root, PASSWORD).doc("hang-bac")["switch_radius_secrets"] == {"old": "kept"}


def test_the_wireguard_key_comes_from_its_own_site_vault(
        cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("pw\n")
    monkeypatch.setenv("CAMKIT_VAULT_PASSWORD_FILE", str(tmp_path / "pw"))
    st = Store.open(tmp_path / "s", b"pw", create=True)
    st.put("hoan-kiem", "wireguard_keys", {"hoan-kiem-gw1": "hub-private-key"})
    st.put("toa-nha-hang-bac", "wireguard_keys", {"toa-nha-hang-bac-nvr1": "spoke-private-key"})
    st.save()
    res = cli("secrets", "wireguard-key", EXAMPLE, "hoan-kiem-gw1", "--store", tmp_path / "s")
    assert res.exit_code == 0 and res.output == "hub-private-key\n"
    none = cli("secrets", "wireguard-key", EXAMPLE, "hoan-kiem-node3", "--store", tmp_path / "s")
    assert none.exit_code == 2 and "no WireGuard key for hoan-kiem-node3" in none.output
    assert "private-key" not in none.output


@pytest.mark.parametrize("reserved", [ROOT_CA_DOC, CAMERA_BOOTSTRAP_DOC])
def test_a_site_cannot_take_the_name_of_a_city_vault(inventory: Path, reserved: str) -> None:
    site = inventory / "sites" / "hang-bac.yml"
    (inventory / "sites" / "copy.yml").write_text(site.read_text("utf-8"), "utf-8")
    edit(inventory / "sites" / "copy.yml", "id: hang-bac", f"id: {reserved}")
    assert has(problems(inventory), "copy.yml:1:5:", f"site id '{reserved}' is reserved", "secrets store")
