"""Installing a rendered FreeRADIUS directory with its certificates and secrets from the store.

The rendered directory (build/<city>/sites/<site>/radius/<host>/) holds no secret; this step
writes `certs/` (CA chain with CRLs, server certificate and key) and `secrets/<switch>.conf`.
Used by the freeradius Ansible role and by the live tests.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from camkit.diagnostics import Diagnostic, InventoryError, Position
from camkit.loader import Inventory
from camkit.pki import radius_area
from camkit.secrets import SWITCH_SECRETS_KEY, Store


def install(inv: Inventory, store: Store, rendered: Path, host: str, dest: Path, *, run_as_root: bool = False,
            logdir: Path | None = None, run_dir: Path | None = None, listen: str | None = None,
            port: int | None = None) -> Path:
    """Copy `rendered` to `dest` and fill in certs/ and secrets/. Options serve test rigs.

    Built in a staging folder beside `dest` and swapped in whole: a wrong vault password or a missing secret
    leaves the previous installation as it was and no partial folder behind."""
    if not rendered.is_dir():
        raise InventoryError([Diagnostic(Position(str(rendered)), "no rendered RADIUS configuration here",
                                         "run `camkit render` first (or pass --build)")])
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.rmtree(stage)
        _build(inv, store, rendered, host, stage, run_as_root=run_as_root, logdir=logdir, run_dir=run_dir,
               listen=listen, port=port)
        old = dest.with_name(f".{dest.name}.old")
        if dest.exists():
            if old.exists():
                shutil.rmtree(old)
            dest.rename(old)
        stage.rename(dest)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if stage.exists():
            shutil.rmtree(stage)
    return dest


def _build(inv: Inventory, store: Store, rendered: Path, host: str, dest: Path, *, run_as_root: bool,
           logdir: Path | None, run_dir: Path | None, listen: str | None, port: int | None) -> None:
    sid, _ = inv.hosts[host]
    area = radius_area(inv)[sid]
    shutil.copytree(rendered, dest)
    pub = store.public
    certs = dest / "certs"
    certs.mkdir()
    chain = [pub("root-ca.pem"), pub(f"sites/{sid}/issuing-ca.pem")]
    crls = [pub("root-ca.crl.pem"), pub(f"sites/{sid}/issuing-ca.crl.pem")]
    missing = [p for p in [*chain, *crls, pub(f"sites/{sid}/{host}.pem")] if not p.exists()]
    if missing:
        raise InventoryError([Diagnostic(Position(str(missing[0])), "the secrets store lacks this file",
                                         "run `camkit secrets init`")])
    (certs / "ca.pem").write_bytes(b"".join(p.read_bytes() for p in chain + crls))
    (certs / "server.pem").write_bytes(pub(f"sites/{sid}/{host}.pem").read_bytes() + chain[1].read_bytes())
    key = certs / "server.key"
    key.write_text(store.doc(sid)["server_keys"][host])
    os.chmod(key, 0o600)
    secrets = dest / "secrets"
    secrets.mkdir()
    os.chmod(secrets, 0o700)
    for served in area:
        for sw_host, secret in sorted(store.doc(served).get(SWITCH_SECRETS_KEY, {}).items()):
            f = secrets / f"{sw_host}.conf"
            f.write_text(f'secret = "{secret}"\n')
            os.chmod(f, 0o600)
    conf = dest / "radiusd.conf"
    text = conf.read_text()
    if logdir is not None:
        text = re.sub(r"^logdir = .*$", f"logdir = {logdir}", text, flags=re.M)
    if run_dir is not None:
        text = re.sub(r"^run_dir = .*$", f"run_dir = {run_dir}", text, flags=re.M)
    if run_as_root:
        text = re.sub(r"^\tuser = freerad\n\tgroup = freerad\n", "", text, flags=re.M)
    if listen is not None:
        text = re.sub(r"ipaddr = \S+\n", f"ipaddr = {listen}\n", text)
    if port is not None:
        text = text.replace("port = 1812", f"port = {port}").replace("port = 1813", f"port = {port + 1}")
    conf.write_text(text)
