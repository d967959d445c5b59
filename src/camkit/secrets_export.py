"""A contractor's secrets kit: `camkit secrets export --site X [--with-children] --dest D --password-file P`.

A new store in D, under a new password (written to P, mode 600), holding only what deploying the selection
needs: the selection's site vaults without any CA key (`issuing_ca_key`), the factory logins of the
selection's cameras (by camera, and by the vendors and models they use), and the public files (root and issuing
CA certificates and CRLs, the selection's certificates, WireGuard public keys, every site's service
certificate: relays pin them). The root CA's vault is never exported, and the city's password opens nothing in
the kit nor the other way round: a contractor for one district never holds another district's secrets or the
city's keys.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from camkit.cameras.accounts import ACCOUNTS_KEY, BOOTSTRAP_DOC, PINS_KEY, PREVIOUS_KEY
from camkit.diagnostics import Diagnostic, InventoryError, Position
from camkit.loader import Inventory
from camkit.secrets import Store, random_secret, write_private

CA_KEYS = ("issuing_ca_key",)  # site-vault keys a deployment never needs (only `secrets init/rotate` sign)
# what one camera run (`cameras apply|audit`) reads of a site's vault: the accounts, the set a rotation replaced,
# the pinned certificates (`--cameras-only`: the kit roles/camera_hardening copies to a site's server)
CAMERA_RUN_KEYS = (ACCOUNTS_KEY, PREVIOUS_KEY, PINS_KEY)


def export(inv: Inventory, store: Store, sites: frozenset[str], dest: Path, password_file: Path,
           cameras_only: bool = False) -> list[str]:
    """Write the kit; returns the vault files written. Refuses an existing destination or password file.
    `cameras_only`: the sites' camera secrets and their cameras' factory logins alone, no public file."""
    for path, what in ((dest, "destination"), (password_file, "password file")):
        if path.exists() or path.is_symlink():
            raise InventoryError([Diagnostic(Position(str(path)), f"the {what} exists",
                                             "give a new path: an export never overwrites a store or a password")])
    password = random_secret(40)
    write_private(password_file, (password + "\n").encode())
    try:
        return _write(inv, store, sites, Store.open(dest, password.encode(), create=True), cameras_only)
    except BaseException:  # nothing half-written: no kit, no password of a kit that does not exist
        shutil.rmtree(dest, ignore_errors=True)
        password_file.unlink(missing_ok=True)
        raise


def _write(inv: Inventory, store: Store, sites: frozenset[str], kit: Store, cameras_only: bool = False) -> list[str]:
    for sid in sorted(sites):
        doc = {k: v for k, v in store.doc(sid).items()
               if (k in CAMERA_RUN_KEYS if cameras_only else k not in CA_KEYS)}
        if doc:
            for key, value in doc.items():
                kit.put(sid, key, value)
    boot = store.doc(BOOTSTRAP_DOC)
    cams = [c for sid in sites for c in inv.cameras_by_site[sid]]
    mine = {"cameras": {c.id: boot["cameras"][c.id] for c in cams if c.id in boot.get("cameras", {})},
            "models": {m: v for m, v in boot.get("models", {}).items() if m in {f"{c.vendor}/{c.model}" for c in cams}},
            "vendors": {m: v for m, v in boot.get("vendors", {}).items() if m in {c.vendor for c in cams}}}
    for key, value in mine.items():
        if value:
            kit.put(BOOTSTRAP_DOC, key, value)
    if cameras_only:
        return kit.save()
    pub = store.root / "public"
    for rel in ("root-ca.pem", "root-ca.crl.pem"):
        if (pub / rel).is_file():
            kit.write_public(rel, (pub / rel).read_bytes())
    if (pub / "wireguard").is_dir():
        for f in sorted((pub / "wireguard").iterdir()):
            kit.write_public(f"wireguard/{f.name}", f.read_bytes())
    for site_dir in sorted((pub / "sites").iterdir()) if (pub / "sites").is_dir() else []:
        if site_dir.name in sites:
            shutil.copytree(site_dir, kit.public(f"sites/{site_dir.name}"), dirs_exist_ok=True)
        else:
            for f in sorted(site_dir.glob("*-tls.pem")) + sorted(site_dir.glob("issuing-ca*.pem")):
                kit.write_public(f"sites/{site_dir.name}/{f.name}", f.read_bytes())
    return kit.save()
