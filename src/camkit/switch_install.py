"""An access switch's rendered configuration with its RADIUS shared secret filled in from the store.

The rendered file (build/<city>/sites/<site>/switches/<switch>.cfg) carries the placeholder
`camkit.render.switches.SECRET`; this writes the filled copy (mode 600, atomically) for the switch play
(`playbooks/switches.yml`) or for a manual load on a switch no maintained collection drives.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from camkit.diagnostics import Diagnostic, InventoryError, Position
from camkit.loader import Inventory
from camkit.render.switches import SECRET
from camkit.secrets import SWITCH_SECRETS_KEY, Store


def filled(inv: Inventory, store: Store, build_root: Path, host: str) -> bytes:
    """The switch's rendered config with the secret in place of every placeholder."""
    sid = next((s.id for s in inv.sites.values() for sw in s.switches if s.hostname(sw.id) == host), None)
    if sid is None:
        from camkit.diagnostics import suggest

        names = [s.hostname(sw.id) for s in inv.sites.values() for sw in s.switches]
        raise InventoryError([Diagnostic(Position("HOST"), f"'{host}' is not an access switch of the inventory",
                                         suggest(host, names))])
    rendered = build_root / inv.city.id / "sites" / sid / "switches" / f"{host}.cfg"
    if not rendered.is_file():
        raise InventoryError([Diagnostic(Position(str(rendered)), "no rendered switch configuration here",
                                         "run `camkit render` first (or pass --build)")])
    secret = (store.doc(sid).get(SWITCH_SECRETS_KEY) or {}).get(host)
    if not secret:
        raise InventoryError([Diagnostic(Position(str(store.root / f"{sid}.vault.yml")),
                                         f"no RADIUS shared secret for {host}", "run `camkit secrets init`")])
    text = rendered.read_text("utf-8")
    if SECRET not in text:
        raise InventoryError([Diagnostic(Position(str(rendered)), "the configuration has no secret placeholder",
                                         "render it again with `camkit render` (it was edited by hand?)")])
    return text.replace(SECRET, secret).encode("utf-8")


def write(inv: Inventory, store: Store, build_root: Path, host: str, dest: Path) -> Path:
    data = filled(inv, store, build_root, host)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
