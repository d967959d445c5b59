"""The `camkit` command line: validate, plan, render, diff, schema, access.

Exit status: 0 success, 1 `diff` found changes, 2 bad input (every problem is listed), 64 a wrong command line,
69 a program it runs is missing, 73 an output that cannot be written, 74 another system error (`Camkit` below).
"""

from __future__ import annotations

import errno
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from rich.markup import escape

from camkit import pipeline
from camkit.diagnostics import EX_CANTCREAT, EX_IOERR, EX_UNAVAILABLE, EX_USAGE, Diagnostic, InventoryError, Position, UsageProblem

# Wide tables stay readable when piped into a file or CI log
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
out = Console(width=None if sys.stdout.isatty() else 200)
DEFAULT_INVENTORY = os.environ.get("CAMKIT_INVENTORY", "inventories/example")


class Stages:
    """Progress on stderr: a bar while files are read, a spinner per later stage (hidden off a terminal)."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.task: Any = None
        self.stage = ""

    def _switch(self, text: str, total: int | None) -> None:
        assert self.progress is not None
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(text, total=total)
        self.stage = text

    def __call__(self, text: str) -> None:
        if self.progress is not None:
            self._switch(text, None)

    def files(self, stage: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        if stage != self.stage:
            self._switch(stage, total or None)
        if total:
            self.progress.update(self.task, completed=done)


@contextmanager
def stages(enabled: bool = True) -> Iterator[Stages]:
    if not enabled or not err.is_terminal:
        yield Stages(None)
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as progress:
        yield Stages(progress)


def fail(exc: InventoryError, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps({"ok": False, "errors": [d.as_dict() for d in exc.diagnostics]}, ensure_ascii=False))
    else:
        for d in exc.diagnostics:
            _problem("error", "bold red", d)
        err.print(f"[red]{len(exc.diagnostics)} problem(s) found; nothing was written[/]")
    sys.exit(exc.exit_code)


def printable(text: str) -> str:
    """Inventory text as it may reach a terminal: control characters (escape codes, newlines) shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _problem(label: str, style: str, d: Any) -> None:
    """One diagnostic line. The values in it come from pull requests: they are never read as Rich markup and
    their control characters are escaped (a `[/x]` or an escape code is shown, not interpreted)."""
    line = Text.assemble((label, style), f": {printable(str(d.position))}: {printable(d.message)}")
    if d.hint:
        line.append(f" ({printable(d.hint)})", style="dim")
    err.print(line, highlight=False, soft_wrap=True)


class Camkit(click.Group):
    """Exit statuses CI can tell apart, and no traceback for what the machine refuses:
    a usage error (unknown option, bad value) exits 64 instead of click's 2, which means an invalid inventory;
    an output that cannot be written (a file where a folder goes, read-only, disk full) exits 73 with the path."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.exit_code = EX_USAGE
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EX_USAGE
            raise
        except OSError as exc:
            if exc.errno is None:
                raise
            sys.exit(os_failure(exc))


# what the file system says when an output cannot be written (else: another system error, EX_IOERR)
_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR,
                 errno.EEXIST, errno.ENOENT, errno.EFBIG, errno.ENAMETOOLONG}


def _spawning(exc: OSError) -> bool:
    """Whether the error came from starting a program (subprocess), not from a file camkit reads or writes."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_execute_child" and "subprocess" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def os_failure(exc: OSError) -> int:
    """Print an OSError as one line (the path, the cause) and return the exit status for it."""
    if _spawning(exc):  # a program camkit runs is missing or cannot run: 69, naming it (not an output problem)
        err.print(Text.assemble(("error", "bold red"), f": cannot run {printable(str(exc.filename or '?'))}: "
                                f"{exc.strerror} (install it, or put it on PATH; `.ci/run` lists the packages)"),
                  highlight=False, soft_wrap=True)
        return EX_UNAVAILABLE
    where = f"{exc.filename}: " if exc.filename else ""
    writing = exc.errno in _CANNOT_WRITE
    hint = (" (outputs go to a folder you may write, on a disk with room; a failed render leaves the earlier build "
            "as it was)") if writing else ""
    err.print(Text.assemble(("error", "bold red"), f": {printable(where)}{exc.strerror}", (hint, "dim")),
              highlight=False, soft_wrap=True)
    return EX_CANTCREAT if writing else EX_IOERR


@click.group(cls=Camkit, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="camkit")
def main() -> None:
    """camkit: infrastructure as code for a city-wide video-surveillance platform.

    Exit status: 0 ok; 1 a check found differences or failures; 2 invalid inventory; 64 wrong command line
    (unknown option, site, camera, unit or family); 69 a program it runs is missing or did not run; 73 an output
    could not be written; 74 another system error."""


inventory_arg = click.argument("inventory", type=click.Path(path_type=Path), default=DEFAULT_INVENTORY, required=False)


@main.command()
@inventory_arg
@click.option("--json", "as_json", is_flag=True, help="machine-readable result")
@click.option("--locked", is_flag=True, help="fail when ipplan.lock.yml is not up to date (for CI)")
@click.option("--strict", is_flag=True, help="capacity findings fail (exit 2) instead of warning (for CI)")
def validate(inventory: Path, as_json: bool, locked: bool, strict: bool) -> None:
    """Check the whole inventory, its IP plan, its capacity and the planning rules (VII.2.6); write nothing."""
    from camkit import capacity, planning

    try:
        with stages() as stage:
            stage("loading inventory")
            inv = pipeline.load(inventory, stage.files)
            stage("planning addresses")
            plan = pipeline.plan(inv)
            stage("checking capacity and planning rules")
            found = pipeline.check(inv, strict)
        stale = pipeline.lock_is_stale(inv, plan)
        if locked and stale:
            from camkit.diagnostics import Diagnostic, Position

            raise InventoryError([Diagnostic(Position(str(inventory / "ipplan.lock.yml")),
                                             "the IP plan lock is not up to date with the inventory",
                                             "run `camkit plan --write-lock` (or `camkit render`) and commit the lock")])
    except InventoryError as exc:
        fail(exc, as_json)
    summary = {"ok": True, "city": inv.city.id, "sites": len(inv.sites), "cameras": len(inv.cameras),
               "lock_up_to_date": not stale, "warnings": [f.as_dict() for f in found]}
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
    else:
        for f in found:
            _problem("warning", "yellow", f.diagnostic)
        if found:
            by_rule = {r: sum(f.rule == r for f in found) for r in capacity.RULES + planning.RULES}
            err.print(Text(f"{len(found)} warning(s): "
                           + ", ".join(f"{r} {n}" for r, n in by_rule.items() if n)
                           + "; `validate --strict` fails on them", style="yellow"), soft_wrap=True)
        out.print(f"[green]ok[/]: {inv.city.id}: {len(inv.sites)} sites, {len(inv.cameras)} cameras"
                  + ("" if not stale else " [yellow](ipplan.lock.yml would change: run `camkit plan --write-lock`)[/]"))


@main.command("plan")
@inventory_arg
@click.option("--json", "as_json", is_flag=True, help="the plan as JSON")
@click.option("--write-lock", is_flag=True, help="record the allocations in ipplan.lock.yml")
@click.option("--site", help="show only this site's subnets")
def plan_cmd(inventory: Path, as_json: bool, write_lock: bool, site: str | None) -> None:
    """Print the IP plan and a per-site summary."""
    try:
        with stages() as stage:
            stage("loading inventory")
            inv = pipeline.load(inventory, stage.files)
            stage("planning addresses")
            plan = pipeline.plan(inv)
    except InventoryError as exc:
        fail(exc, as_json)
    if site and site not in inv.sites:
        from camkit.diagnostics import Diagnostic, Position, suggest

        fail(UsageProblem([Diagnostic(Position("--site"), f"'{site}' is not a site", suggest(site, inv.sites.keys()))]),
             as_json)
    if write_lock:
        changed = pipeline.write_lock(inv, plan)
        err.print("ipplan.lock.yml " + ("updated" if changed else "already up to date"))
    sites = [site] if site else list(inv.sites)
    if as_json:
        data = {
            "city": inv.city.id,
            "sites": {sid: {
                "tier": inv.sites[sid].tier, "kind": inv.sites[sid].kind.value, "parent": inv.sites[sid].parent,
                "block": str(plan.blocks[sid]) if sid in plan.blocks else None,
                "transit": str(plan.transit[sid]) if sid in plan.transit else None,
                "cameras": len(inv.cameras_by_site[sid]),
                "subnets": {s.role.value: {"prefix": str(s.cidr), "vlan": s.vlan, "gateway": str(s.gateway),
                                           "hosts": s.hosts, "capacity": s.capacity, "pinned": s.pinned}
                            for s in plan.site_subnets(sid)},
            } for sid in sites},
        }
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=f"IP plan of {inv.city.name}", show_lines=False)
    for col in ("site", "tier", "kind", "block", "role", "vlan", "prefix", "hosts", "capacity", "pinned"):
        table.add_column(col)
    for sid in sites:
        s = inv.sites[sid]
        first = True
        for sub in plan.site_subnets(sid):
            table.add_row(sid if first else "", str(s.tier) if first else "", s.kind.value if first else "",
                          str(plan.blocks.get(sid, "-")) if first else "", sub.role.value, str(sub.vlan), str(sub.cidr),
                          str(sub.hosts), str(sub.capacity), "yes" if sub.pinned else "")
            first = False
    out.print(table)
    summary = Table(title="Sites")
    for col in ("site", "name", "tier", "kind", "parent", "cameras", "servers", "switches", "uplink", "transit"):
        summary.add_column(col)
    for sid in sites:
        s = inv.sites[sid]
        summary.add_row(sid, s.name, str(s.tier), s.kind.value, s.parent or "-", str(len(inv.cameras_by_site[sid])),
                        str(len(s.servers)), str(len(s.switches)), f"{s.uplink.type.value} {s.uplink.capacity_mbps} Mb/s",
                        str(plan.transit.get(sid, "-")))
    out.print(summary)


def site_selection(f: Callable[..., Any]) -> Callable[..., Any]:
    """`--site` (repeatable) and `--with-children`: the sites a render writes (`camkit.render.Selection`)."""
    f = click.option("--with-children", is_flag=True, help="also every site below the --site ones")(f)
    return click.option("--site", "sites", multiple=True, help="render only this site's files (repeatable)")(f)


def _selection(inv: Any, sites: tuple[str, ...], with_children: bool) -> Any:
    from camkit.render import Selection

    if with_children and not sites:
        raise UsageProblem([Diagnostic(Position("--with-children"), "--with-children needs --site",
                                       "name the site(s) whose children to render: --site X --with-children")])
    return Selection.of(inv, sites, with_children) if sites else None


@main.command("render")
@inventory_arg
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("build"), show_default=True,
              help="build root; files go to <out>/<city id>/")
@click.option("--only", help="comma-separated artifact families (see `camkit families`)")
@site_selection
@click.option("--json", "as_json", is_flag=True)
def render_cmd(inventory: Path, out_dir: Path, only: str | None, sites: tuple[str, ...], with_children: bool,
               as_json: bool) -> None:
    """Render artifacts into build/<city>/ atomically (nothing is half-written on error).

    With --site, only those sites' files, the shared sites they use (RADIUS) and an Ansible inventory limited to
    them: what deploying them needs (render into a build folder of its own, e.g. --out build/hoan-kiem)."""
    families = [f.strip() for f in only.split(",") if f.strip()] if only else None
    try:
        with stages() as stage:
            stage("loading inventory")
            inv = pipeline.load(inventory, stage.files)
            stage("planning addresses")
            plan = pipeline.plan(inv)
            stage("rendering")
            selection = _selection(inv, sites, with_children)
            result = pipeline.render(inv, plan, families, selection)
            stage("writing")
            target = out_dir / inv.city.id
            changes = pipeline.write(result, target)
            lock_changed = pipeline.write_lock(inv, plan)
    except InventoryError as exc:
        fail(exc, as_json)
    data = {"out": str(target), "families": result.families, "files": len(result.artifacts),
            "added": len(changes.added), "changed": len(changes.changed), "deleted": len(changes.deleted),
            "lock_updated": lock_changed}
    if selection is not None:
        data |= {"sites": list(selection.requested), "shared_sites": list(selection.shared)}
    if as_json:
        out.print_json(json.dumps(data))
    else:
        out.print(f"[green]rendered[/] {len(result.artifacts)} files of {', '.join(result.families)} to {target}: "
                  f"{len(changes.added)} added, {len(changes.changed)} changed, {len(changes.deleted)} deleted"
                  + ("; ipplan.lock.yml updated" if lock_changed else ""))
        if selection is not None:
            out.print(f"sites: {', '.join(selection.requested)}"
                      + (f"; with the shared services of {', '.join(selection.shared)} (RADIUS)" if selection.shared else ""),
                      highlight=False)


@main.command("diff")
@inventory_arg
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("build"), show_default=True)
@click.option("--only", help="comma-separated artifact families")
@site_selection
@click.option("--unified", "-u", is_flag=True, help="print a unified diff of the changed files")
@click.option("--json", "as_json", is_flag=True)
def diff_cmd(inventory: Path, out_dir: Path, only: str | None, sites: tuple[str, ...], with_children: bool,
             unified: bool, as_json: bool) -> None:
    """Which files a render would add, change or delete; exit 1 when there are changes."""
    families = [f.strip() for f in only.split(",") if f.strip()] if only else None
    try:
        inv = pipeline.load(inventory)
        plan = pipeline.plan(inv)
        result = pipeline.render(inv, plan, families, _selection(inv, sites, with_children))
    except InventoryError as exc:
        fail(exc, as_json)
    target = out_dir / inv.city.id
    from camkit.render import compare, unified as unified_diff

    changes, _ = compare(result, target)
    lock_stale = pipeline.lock_is_stale(inv, plan)
    if as_json:
        out.print_json(json.dumps({"added": changes.added, "changed": changes.changed, "deleted": changes.deleted,
                                   "unchanged": changes.unchanged, "lock_stale": lock_stale}))
    else:
        for p in changes.added:
            out.print(f"[green]A[/] {p}", highlight=False)
        for p in changes.changed:
            out.print(f"[yellow]M[/] {p}", highlight=False)
        for p in changes.deleted:
            out.print(f"[red]D[/] {p}", highlight=False)
        if lock_stale:
            out.print("[yellow]M[/] ipplan.lock.yml (inventory)", highlight=False)
        if unified:
            sys.stdout.write(unified_diff(result, target, changes))
        if not changes.any and not lock_stale:
            out.print(f"no changes ({changes.unchanged} files up to date)")
    sys.exit(1 if changes.any or lock_stale else 0)


@main.command()
def families() -> None:
    """List the artifact families."""
    from camkit.render import registry

    for name, cls in registry().items():
        out.print(f"[bold]{name}[/]: {cls.description}", highlight=False)


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), help="write one <document>.schema.json per document")
def schema(out_dir: Path | None) -> None:
    """JSON Schema of every inventory document (for editors and CI)."""
    from camkit.schema import schemas

    docs = schemas()
    if out_dir is None:
        sys.stdout.write(json.dumps(docs, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (out_dir / f"{name}.schema.json").write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    err.print(f"wrote {len(docs)} schemas to {out_dir}")


@main.group()
def access() -> None:
    """The access model: who can see which camera."""


inventory_opt = click.option("--inventory", "-i", type=click.Path(path_type=Path), default=DEFAULT_INVENTORY,
                             show_default=True)


@access.command("who-can-see")
@click.argument("camera")
@inventory_opt
@click.option("--json", "as_json", is_flag=True)
def who_can_see(camera: str, inventory: Path, as_json: bool) -> None:
    """Every unit that may see CAMERA, with the rule that grants it."""
    from camkit.access import AccessModel
    from camkit.diagnostics import Diagnostic, Position, suggest

    try:
        inv = pipeline.load(inventory)
        cam = inv.camera_index.get(camera)
        if cam is None:
            raise UsageProblem([Diagnostic(Position(camera), f"'{camera}' is not a camera",
                                             suggest(camera, inv.camera_index.keys()))])
    except InventoryError as exc:
        fail(exc, as_json)
    grants = AccessModel(inv).who_can_see(cam)
    if as_json:
        out.print_json(json.dumps({"camera": camera, "grants": [g.__dict__ for g in grants]}, ensure_ascii=False))
        return
    table = Table(title=f"Who can see {camera} ({cam.purpose}, owner {cam.unit}, site {cam.site})")
    for col in ("unit", "tier", "reason", "condition"):
        table.add_column(col)
    for g in grants:
        table.add_row(g.unit, str(inv.sites[g.unit].tier), g.reason, g.condition)
    out.print(table)


@access.command("visible-to")
@click.argument("unit")
@inventory_opt
@click.option("--json", "as_json", is_flag=True)
def visible_to(unit: str, inventory: Path, as_json: bool) -> None:
    """Every camera UNIT (a site id) may see, with the rule that grants it."""
    from camkit.access import AccessModel
    from camkit.diagnostics import Diagnostic, Position, suggest

    try:
        inv = pipeline.load(inventory)
        if unit not in inv.sites:
            raise UsageProblem([Diagnostic(Position(unit), f"'{unit}' is not a unit (site id)",
                                             suggest(unit, inv.sites.keys()))])
    except InventoryError as exc:
        fail(exc, as_json)
    rows = AccessModel(inv).visible_to(unit)
    if as_json:
        out.print_json(json.dumps({"unit": unit, "cameras": [{"camera": c.id, "reason": g.reason,
                                                               "condition": g.condition} for c, g in rows]},
                                  ensure_ascii=False))
        return
    table = Table(title=f"Cameras visible to {unit}: {len(rows)}")
    for col in ("camera", "site", "purpose", "reason", "condition"):
        table.add_column(col)
    for c, g in rows:
        table.add_row(c.id, c.site, c.purpose, g.reason, g.condition)
    out.print(table)


def _access_build(inventory: Path, build: Path | None, as_json: bool) -> tuple[Any, dict[str, bytes]]:
    """The inventory and the rendered files the access check reads: a build folder, else rendered in memory."""
    from camkit.verify.access_check import files_of, read_by_check

    try:
        inv = pipeline.load(inventory)
        if build is None:
            result = pipeline.render(inv, pipeline.plan(inv), ["firewall", "nftables", "cameras", "helm", "publisher"])
            return inv, {p: a.content for p, (_, a) in result.artifacts.items() if read_by_check(p)}
    except InventoryError as exc:
        fail(exc, as_json)
    city = build / inv.city.id if (build / inv.city.id).is_dir() else build
    if not (city / "firewall" / "flows.json").is_file():
        from camkit.diagnostics import Diagnostic, Position

        fail(InventoryError([Diagnostic(Position(str(build)), "no rendered city here (firewall/flows.json missing)",
                                        f"run `camkit render {inventory} --out {build}` first, or leave out --build")]),
             as_json)
    return inv, files_of(city)


build_opt = click.option("--build", type=click.Path(path_type=Path, file_okay=False), default=None,
                         help="a rendered build folder (build/ or build/<city>/); default: render in memory")


@access.command("check")
@inventory_arg
@build_opt
@click.option("--json", "as_json", is_flag=True)
def access_check(inventory: Path, build: Path | None, as_json: bool) -> None:
    """Prove from the rendered artifacts who can watch each camera: exit 1 with every violation."""
    from camkit.verify.access_check import check

    inv, files = _access_build(inventory, build, as_json)
    rep = check(inv, files)
    if as_json:
        out.print_json(json.dumps({"ok": rep.ok, "cameras": rep.cameras, "paths": rep.paths, "relays": rep.relays,
                                   "violations": rep.violations}, ensure_ascii=False))
    else:
        for v in rep.violations:
            err.print(f"[bold red]violation[/]: {escape(v)}", highlight=False, soft_wrap=True)
        (out if rep.ok else err).print(
            f"{'ok' if rep.ok else 'FAILED'}: {rep.cameras} cameras, {rep.paths} VMS paths, {rep.relays} relays; "
            f"{len(rep.violations)} violation(s)", highlight=False)
    sys.exit(0 if rep.ok else 1)


@access.command("explain")
@click.argument("camera")
@inventory_opt
@build_opt
def access_explain(camera: str, inventory: Path, build: Path | None) -> None:
    """One camera's chain: grants, VMS paths carrying it, the units whose SSO roles read them, its IVA."""
    from camkit.diagnostics import Diagnostic, Position, suggest
    from camkit.verify.access_check import explain

    inv, files = _access_build(inventory, build, False)
    if camera not in inv.camera_index:
        fail(UsageProblem([Diagnostic(Position(camera), f"'{camera}' is not a camera",
                                        suggest(camera, inv.camera_index.keys()))]), False)
    for line in explain(inv, files, camera):
        out.print(escape(line), highlight=False, soft_wrap=True)


@access.command("export")
@inventory_arg
@click.option("--json", "as_json", is_flag=True, required=True, help="(the only format)")
def access_export(inventory: Path, as_json: bool) -> None:
    """Every unit's visible cameras with the granting rule (JSON)."""
    from camkit.access import AccessModel

    try:
        inv = pipeline.load(inventory)
    except InventoryError as exc:
        fail(exc, True)
    access = AccessModel(inv)
    units: dict[str, list[dict[str, str]]] = {sid: [] for sid in inv.sites}
    for cam in inv.cameras:
        for g in access.who_can_see(cam):
            units[g.unit].append({"camera": cam.id, "reason": g.reason, "condition": g.condition})
    sys.stdout.write(json.dumps({"city": inv.city.id, "units": units}, ensure_ascii=False, separators=(",", ":"))
                     + "\n")


@main.group("charts")
def charts_group() -> None:
    """The Helm charts in charts/ with the values camkit generates per site."""


@charts_group.command("check")
@inventory_arg
@click.option("--site", "sites", multiple=True, help="site id (repeatable; default: every site)")
@click.option("--no-lint", is_flag=True, help="skip `helm lint` (template, kubernetes-validate and policy only)")
@click.option("--json", "as_json", is_flag=True)
def charts_check(inventory: Path, sites: tuple[str, ...], no_lint: bool, as_json: bool) -> None:
    """helm lint + helm template of every chart with each site's values, kubernetes-validate --strict for the
    city's Kubernetes version, and camkit's policy (restricted pods, default deny, pinned images, limits).
    Credentials are placeholders here: the stack supplies them from the vault at deploy time. Exit 1 on a
    violation."""
    from camkit.diagnostics import Diagnostic, Position, suggest
    from camkit.k8s.check import check, site_values
    from camkit.k8s.helm import HelmUnavailable

    try:
        inv = pipeline.load(inventory)
        for sid in sites:
            if sid not in inv.sites:
                raise UsageProblem([Diagnostic(Position("--site"), f"'{sid}' is not a site",
                                                 suggest(sid, inv.sites.keys()))])
        result = pipeline.render(inv, pipeline.plan(inv), ["helm"])
    except InventoryError as exc:
        fail(exc, as_json)
    reports = []
    try:
        for sid, chart, values in site_values({p: art.content for p, (_, art) in result.artifacts.items()}, sites):
            reports.append(check(chart, sid, values, inv.city.kubernetes.version, run_lint=not no_lint))
    except HelmUnavailable as exc:
        out.print(f"[red]error:[/] {exc}")
        sys.exit(2)
    bad = [r for r in reports if not r.ok]
    if as_json:
        out.print_json(json.dumps({"ok": not bad, "kubernetes": inv.city.kubernetes.version, "reports": [
            {"site": r.site, "chart": r.chart, "objects": r.objects, "schema_checked": r.schema_checked,
             "crds_not_schema_checked": sorted(set(r.crds)), "errors": r.errors} for r in reports]}))
    else:
        for r in reports:
            mark = "[green]ok[/]" if r.ok else "[red]FAIL[/]"
            out.print(f"{mark} {r.site} {r.chart}: {r.objects} objects, {r.schema_checked} schema-checked"
                      + (f", CRDs not schema-checked: {', '.join(sorted(set(r.crds)))}" if r.crds else ""))
            for e in r.errors:
                out.print(f"    {e}")
        out.print(f"{len(reports)} chart renderings, {len(bad)} failing (Kubernetes {inv.city.kubernetes.version})")
    sys.exit(1 if bad else 0)


@main.group("size")
def size_group() -> None:
    """Sizing: storage and WAN load (figures and sources in camkit/data/sizing.yml)."""


UNITS_OPT = click.option("--units", type=click.Choice(["si", "binary", "vendor"]), default="si", show_default=True,
                         help="si: 1 TB = 10^12 B; binary: TiB; vendor: MB = 10^6 B, GB = 1024 MB, TB = 1024 GB")


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """A range check passes NaN (every comparison with it is false): refuse it, and infinities, as usage errors."""
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", ctx, param)
    return value


# Bounds far beyond any city (Hanoi plans ~60,000 cameras; no camera streams 10 Gb/s; a century of days), so a
# mistyped figure is refused instead of overflowing
@size_group.command("storage")
@click.option("--cameras", type=click.IntRange(0, 100_000_000), required=True)
@click.option("--bitrate-mbps", type=click.FloatRange(0, 10_000, min_open=True), required=True, callback=_finite,
              help="10^6 bit/s")
@click.option("--hours-per-day", type=click.FloatRange(0, 24), default=24, show_default=True, callback=_finite)
@click.option("--days", type=click.FloatRange(0, 36_500), required=True, callback=_finite)
@UNITS_OPT
@click.option("--json", "as_json", is_flag=True)
def size_storage(cameras: int, bitrate_mbps: float, hours_per_day: float, days: float, units: str,
                 as_json: bool) -> None:
    """Recorded bytes for N cameras at a bitrate: to check the model against published calculators."""
    from camkit.sizing import in_units, storage_bytes

    total = storage_bytes(cameras, bitrate_mbps, hours_per_day, days)
    big, big_label = in_units(total, units)
    small, small_label = in_units(total, units, small=True)
    if as_json:
        out.print_json(json.dumps({"bytes": total, "units": units, "value": big, "unit": big_label.split(" ")[0],
                                   "value_small": small, "unit_small": small_label.split(" ")[0]}))
    else:
        out.print(f"{total} bytes = {big:.4f} {big_label} = {small:.2f} {small_label.split(' ')[0]}")


@size_group.command("city")
@inventory_arg
@UNITS_OPT
@click.option("--json", "as_json", is_flag=True)
def size_city_cmd(inventory: Path, units: str, as_json: bool) -> None:
    """Storage per site (hot, warm, cold) and uplink load, with city totals."""
    from camkit.sizing import in_units, size_city

    try:
        inv = pipeline.load(inventory)
    except InventoryError as exc:
        fail(exc, as_json)
    sz = size_city(inv)
    if as_json:
        out.print_json(json.dumps({"units": units, "sites": {sid: {
            "cameras": s.cameras, "bitrate_mbps": round(s.bitrate_mbps, 3), "daily_bytes": s.daily_bytes,
            "hot_bytes": s.hot_bytes, "warm_bytes": s.warm_bytes, "cold_bytes": s.cold_bytes,
            "total_bytes": s.total_bytes, "uplink_mbps": round(s.uplink_mbps, 3),
            "uplink_capacity_mbps": s.uplink_capacity_mbps,
            "iva": {"cameras_analysed": len(s.compute.analysed), "gpu_model": s.compute.gpu_model,
                    "gpus_available": s.compute.gpus_available, "gpus_needed": s.compute.gpus_needed,
                    "streams_per_gpu": s.compute.streams_per_gpu} if s.compute else None,
            "vms_shards": s.compute.vms_shards if s.compute else 0} for sid, s in sz.sites.items()},
            "total_bytes": sz.total("total_bytes"), "total_bitrate_mbps": round(sz.total("bitrate_mbps"), 3),
            "gpus_needed": sum(s.compute.gpus_needed for s in sz.sites.values() if s.compute),
            "gpus_available": sum(s.compute.gpus_available for s in sz.sites.values() if s.compute)}))
        return
    label = in_units(0, units)[1].split(" ")[0]
    table = Table(title=f"Sizing of {inv.city.name} ({label}; {in_units(0, units)[1]})")
    for col in ("site", "tier", "cameras", "Mb/s recorded", "hot", "warm", "cold", "total", "uplink Mb/s", "of capacity"):
        table.add_column(col, justify="right")
    for sid, s in sz.sites.items():
        table.add_row(sid, str(s.tier), str(s.cameras), f"{s.bitrate_mbps:.0f}", f"{in_units(s.hot_bytes, units)[0]:.1f}",
                      f"{in_units(s.warm_bytes, units)[0]:.1f}", f"{in_units(s.cold_bytes, units)[0]:.1f}",
                      f"{in_units(s.total_bytes, units)[0]:.1f}", f"{s.uplink_mbps:.0f}",
                      f"{s.uplink_utilisation:.0%}")
    out.print(table)
    out.print(f"city: {sz.total('cameras'):.0f} cameras, {sz.total('bitrate_mbps') / 1000:.2f} Gb/s recorded, "
              f"{in_units(sz.total('total_bytes'), units)[0]:.0f} {label} provisioned, "
              f"{sum(s.compute.gpus_needed for s in sz.sites.values() if s.compute)} GPUs needed for IVA "
              f"({sum(s.compute.gpus_available for s in sz.sites.values() if s.compute)} in the inventory)")


@main.group("secrets")
def secrets_group() -> None:
    """The secrets store (Ansible Vault): PKI, RADIUS secrets; password from CAMKIT_VAULT_PASSWORD_FILE."""


store_opt = click.option("--store", type=click.Path(path_type=Path), default=None,
                         help="store folder (default: $CAMKIT_SECRETS_DIR or secrets/<city id>)")


def _store_dir(store: Path | None, city: str) -> Path:
    if store is not None:
        return store
    return Path(os.environ.get("CAMKIT_SECRETS_DIR", "secrets")) / city


@secrets_group.command("init")
@inventory_arg
@store_opt
def secrets_init(inventory: Path, store: Path | None) -> None:
    """Generate every missing secret: CAs, RADIUS server and camera certificates, switch secrets, camera
    accounts, the sites' SSO service clients."""
    from camkit.pki import Pki
    from camkit.secrets import Store

    try:
        inv = pipeline.load(inventory)
        plan = pipeline.plan(inv)
        st = Store.open(_store_dir(store, inv.city.id), create=True)  # the one command that creates a store
        pki = Pki(inv, plan, st)
        with stages() as stage:
            stage("generating missing secrets")
            created = pki.ensure_all()
            created += pki.ensure_services()
            from camkit.stack_secrets import ensure_deploy_secrets

            created += ensure_deploy_secrets(inv, st)
            from camkit.wireguard import ensure_keys

            created += ensure_keys(inv, plan, st)
            from camkit.cameras.accounts import ensure_accounts

            created += ensure_accounts(inv, st)
            from camkit.model import SiteKind
            from camkit.secrets import ensure_service_clients

            from camkit.render.helm_values import service_clients
            from camkit.topology import Topology

            # every site that runs a VMS (its relays and IVA read with it) and every private system that publishes
            created += ensure_service_clients(sorted({s.id for s in inv.sites.values()
                                                      if s.kind is not SiteKind.private_system}
                                                     | set(service_clients(Topology.of(inv)))), st)
            written = st.save()
    except InventoryError as exc:
        fail(exc, False)
    out.print(f"{len(created)} secrets created, {len(written)} vault files written in {st.root}")


@secrets_group.command("rotate")
@inventory_arg
@store_opt
@click.option("--camera", "cameras", multiple=True, help="new key and certificate; the old one is revoked")
@click.option("--switch", "switches", multiple=True, help="new RADIUS shared secret for this switch host")
@click.option("--camera-accounts", "accounts", multiple=True,
              help="new passwords for this camera's three accounts (the applier still logs in with the old "
                   "administrator password until the camera carries the new one)")
def secrets_rotate(inventory: Path, store: Path | None, cameras: tuple[str, ...], switches: tuple[str, ...],
                   accounts: tuple[str, ...]) -> None:
    """Replace chosen secrets on purpose (re-render and re-apply afterwards)."""
    from camkit.pki import Pki
    from camkit.secrets import Store

    try:
        inv = pipeline.load(inventory)
        st = Store.open(_store_dir(store, inv.city.id))
        pki = Pki(inv, pipeline.plan(inv), st)
        for cam in cameras:
            if cam not in inv.camera_index or inv.camera_index[cam].dot1x != "eap-tls":
                raise click.BadParameter(f"'{cam}' is not an eap-tls camera", param_hint="--camera")
            pki.rotate_camera(cam)
        for sw in switches:
            pki.rotate_switch_secret(sw)
        from camkit.cameras.accounts import rotate_accounts

        for cam in accounts:
            if cam not in inv.camera_index:
                raise click.BadParameter(f"'{cam}' is not a camera", param_hint="--camera-accounts")
            rotate_accounts(inv, st, cam)
        st.save()
    except InventoryError as exc:
        fail(exc, False)
    out.print(f"rotated {len(cameras)} camera certificate(s), {len(switches)} switch secret(s), "
              f"{len(accounts)} camera account set(s)")


@secrets_group.command("bootstrap")
@inventory_arg
@store_opt
@click.option("--camera", default=None, help="factory login of one camera (QCVN 135: unique per device)")
@click.option("--model", default=None, help="factory login of a model, as vendor/model")
@click.option("--vendor", default=None, help="factory login of a vendor")
@click.option("--user", required=True, help="factory user name")
def secrets_bootstrap(inventory: Path, store: Path | None, camera: str | None, model: str | None,
                      vendor: str | None, user: str) -> None:
    """Store a factory (bootstrap) login the applier uses on cameras camkit has not hardened yet.
    The password is read from standard input (one line), never from the command line."""
    from camkit.cameras.accounts import set_bootstrap
    from camkit.secrets import Store

    chosen = [(k, v) for k, v in (("cameras", camera), ("models", model), ("vendors", vendor)) if v]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --camera, --model, --vendor")
    scope, key = chosen[0]
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise click.UsageError("no password on standard input")
    try:
        inv = pipeline.load(inventory)
        if scope == "cameras" and key not in inv.camera_index:
            raise click.BadParameter(f"'{key}' is not a camera", param_hint="--camera")
        if scope == "models" and key not in inv.models:
            from camkit.diagnostics import suggest

            raise click.BadParameter(f"'{key}' is not in camera-models.yml{suggest(key, list(inv.models))}",
                                     param_hint="--model")
        st = Store.open(_store_dir(store, inv.city.id))
        set_bootstrap(st, scope, key, user, password)
        st.save()
    except InventoryError as exc:
        fail(exc, False)
    out.print(f"bootstrap login stored for {scope[:-1]} {key}")


@secrets_group.command("export")
@inventory_arg
@site_selection
@store_opt
@click.option("--dest", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="the new store to write (must not exist)")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="where to write the kit's new vault password (must not exist; mode 600)")
@click.option("--cameras-only", is_flag=True,
              help="only what one camera run reads: the sites' camera accounts and pins, their factory logins "
                   "(the kit roles/camera_hardening copies to a site's server)")
def secrets_export(inventory: Path, sites: tuple[str, ...], with_children: bool, store: Path | None, dest: Path,
                   password_file: Path, cameras_only: bool) -> None:
    """A contractor's kit: the secrets deploying these sites needs, under a new password, no CA key and no other
    site's secrets (camkit.secrets_export)."""
    from camkit.secrets import Store
    from camkit.secrets_export import export

    try:
        inv = pipeline.load(inventory)
        if not sites:
            raise UsageProblem([Diagnostic(Position("--site"), "name the site(s) to export",
                                           "--site X [--with-children]")])
        selection = _selection(inv, sites, with_children)
        chosen = frozenset(selection.requested) if cameras_only else selection.sites  # no shared RADIUS site
        written = export(inv, Store.open(_store_dir(store, inv.city.id)), chosen, dest, password_file, cameras_only)
    except InventoryError as exc:
        fail(exc, False)
    out.print(f"exported {', '.join(sorted(chosen))}: {len(written)} vault files in {escape(str(dest))}; "
              f"its password is in {escape(str(password_file))} (hand it over separately)", highlight=False)


@secrets_group.command("site-password")
@inventory_arg
@click.option("--site", required=True, help="the site whose vault the password opens")
@store_opt
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="where to write it (must not exist; mode 600)")
def secrets_site_password(inventory: Path, site: str, store: Path | None, password_file: Path) -> None:
    """Write SITE's own vault password: it opens <site>.vault.yml of the city's store (`ansible-vault view
    --vault-id <site>@FILE`) and nothing else, neither another site's vault nor a CA key."""
    from camkit.secrets import Store, site_password, write_private

    try:
        inv = pipeline.load(inventory)
        _site_or_fail(inv, site)
        st = Store.open(_store_dir(store, inv.city.id))
        st.doc(site)  # the store's password must open the site's vault before its derived password is handed out
        write_private(password_file, site_password(st.password, site) + b"\n")
    except InventoryError as exc:
        fail(exc, False)
    out.print(f"{escape(site)}'s vault password is in {escape(str(password_file))} "
              f"(ansible-vault view --vault-id {escape(site)}@{escape(str(password_file))} ...)", highlight=False)


@secrets_group.command("wireguard-key")
@inventory_arg
@click.argument("host")
@store_opt
def secrets_wireguard_key(inventory: Path, host: str, store: Path | None) -> None:
    """Print HOST's WireGuard private key from its site's vault (for the WireGuard play on the controller, which
    registers it with no_log; never pipe it anywhere else)."""
    from camkit.secrets import Store

    try:
        inv = pipeline.load(inventory)
        if host not in inv.hosts:
            from camkit.diagnostics import suggest

            raise click.BadParameter(f"'{host}' is not a server; {suggest(host, list(inv.hosts))}", param_hint="HOST")
        sid, _ = inv.hosts[host]
        st = Store.open(_store_dir(store, inv.city.id))
        key = (st.get(sid, "wireguard_keys") or {}).get(host)
        if not key:
            raise InventoryError([Diagnostic(Position(str(st.root / f"{sid}.vault.yml")),
                                             f"no WireGuard key for {host}",
                                             "it ends no tunnel, or run `camkit secrets init`")])
    except InventoryError as exc:
        fail(exc, False)
    click.echo(key)


@secrets_group.command("fill-switch")
@inventory_arg
@click.argument("host")
@store_opt
@click.option("--build", "build_root", type=click.Path(path_type=Path), default=Path("build"), show_default=True)
@click.option("--dest", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="where to write the filled configuration (mode 600)")
def secrets_fill_switch(inventory: Path, host: str, store: Path | None, build_root: Path, dest: Path) -> None:
    """Write HOST's rendered switch configuration with its RADIUS secret from the store (playbooks/switches.yml,
    or a manual load)."""
    from camkit import switch_install
    from camkit.secrets import Store

    try:
        inv = pipeline.load(inventory)
        switch_install.write(inv, Store.open(_store_dir(store, inv.city.id)), build_root, host, dest)
    except InventoryError as exc:
        fail(exc, False)
    out.print(f"filled {host} into {dest}")


@secrets_group.command("install-radius")
@inventory_arg
@click.argument("host")
@store_opt
@click.option("--build", "build_root", type=click.Path(path_type=Path), default=Path("build"), show_default=True)
@click.option("--dest", type=click.Path(path_type=Path), required=True, help="FreeRADIUS config dir to write")
def secrets_install_radius(inventory: Path, host: str, store: Path | None, build_root: Path, dest: Path) -> None:
    """Install HOST's rendered FreeRADIUS directory with its certificates and secrets."""
    from camkit.radius_install import install
    from camkit.secrets import Store

    try:
        inv = pipeline.load(inventory)
        if host not in inv.hosts:
            raise click.BadParameter(f"'{host}' is not a server", param_hint="HOST")
        sid, _ = inv.hosts[host]
        st = Store.open(_store_dir(store, inv.city.id))
        install(inv, st, build_root / inv.city.id / "sites" / sid / "radius" / host, host, dest)
    except InventoryError as exc:
        fail(exc, False)
    out.print(f"installed {host} into {dest}")


@main.command("verify")
@inventory_arg
@click.option("--site", required=True, help="site id to verify")
@click.option("--hosts", "mode", type=click.Choice(["podman", "ssh"]), default="ssh", show_default=True,
              help="reach servers over ssh (their planned addresses) or as the rig's podman containers")
@click.option("--ssh-user", default=None, help="ssh user (ssh mode)")
@click.option("--ssh-config", default=None, help="ssh_config file (ssh mode)")
@store_opt
@click.option("--kubeconfig", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="also check the site's cluster through its API: workloads ready, Services at their planned "
                   "addresses, NetworkPolicies and Pod Security labels as rendered, volumes as sized")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="report folder (default: build/results/<city>/verify/<site>)")
def verify_cmd(inventory: Path, site: str, mode: str, ssh_user: str | None, ssh_config: str | None,
               store: Path | None, kubeconfig: Path | None, out_dir: Path | None) -> None:
    """Check a deployed site against the model: sockets, services, nftables, addresses, sshd, time,
    RADIUS answers, and with --kubeconfig its Kubernetes side. Writes junit.xml and an HTML handover report;
    exit 1 when anything differs."""
    from camkit import verify

    try:
        inv = pipeline.load(inventory)
    except InventoryError as exc:
        fail(exc, False)
    if site not in inv.sites:
        from camkit.diagnostics import suggest

        raise click.BadParameter(f"'{site}' is not a site; {suggest(site, list(inv.sites))}", param_hint="--site")
    from camkit.provenance import results_root

    dest = out_dir or results_root(inv.city.id) / "verify" / site
    st = _store_dir(store, inv.city.id)
    try:
        with stages() as stage:
            stage(f"verifying {site} ({len(inv.sites[site].servers)} servers)")
            rc, junit, report = verify.run(inventory, site, verify.Targets(mode, ssh_user, ssh_config), dest,
                                           st if st.exists() else None, kubeconfig)
    except verify.SuiteUnavailable as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(EX_UNAVAILABLE)
    rows = verify.results(junit)
    table = Table(title=f"camkit verify {site}")
    for col in ("check", "result", "finding"):
        table.add_column(col)
    for r in rows:
        colour = {"pass": "green", "skipped": "yellow"}.get(r["status"], "red")
        table.add_row(escape(r["test"]), f"[{colour}]{r['status']}[/]",
                      escape(r["detail"].splitlines()[0][:160]) if r["detail"] else "")
    out.print(table)
    out.print(f"JUnit: {junit}\nreport: {report}")
    if rc != 0 or not rows:
        sys.exit(1)


@main.command("handover")
@inventory_arg
@click.option("--site", required=True, help="site id")
@click.option("--results", "results_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="the results to collect (default: build/results/<city>, where verify and cameras write)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="where bundles go (default: <results>/handover/<site>)")
@click.option("--no-lint", is_flag=True, help="charts: skip `helm lint`")
def handover_cmd(inventory: Path, site: str, results_dir: Path | None, out_dir: Path | None, no_lint: bool) -> None:
    """Collect one site's handover bundle: the verify report and JUnit, the camera audit's compliance matrix,
    `charts check`, the hashes of the site's rendered files and the checklist of manual items (evidence, who,
    when). Earlier bundles are kept. Exit 0 when the site is ready to hand over; 1 when a result fails, is
    missing or stale, or came from a stand-in (simulator, loopback, the podman rig)."""
    from camkit.verify import handover

    try:
        inv = pipeline.load(inventory)
        _site_or_fail(inv, site)
        with stages() as stage:
            stage(f"collecting the handover of {site}")
            bundle = handover.build(inventory, site, results_dir, out_dir, lint=not no_lint)
    except InventoryError as exc:
        fail(exc, False)
    table = Table(title=f"camkit handover {site}")
    for col in ("part", "status", "result"):
        table.add_column(col)
    for p in bundle.parts:
        colour = "green" if p.status in handover.PASSING else "red"
        table.add_row(p.name, f"[{colour}]{escape(p.status)}[/]", escape(p.detail))
    out.print(table)
    for p in bundle.parts:
        for n in p.notes:
            out.print(f"  {p.name}: {escape(n)}")
    for s in bundle.stand_ins:
        out.print(f"[red]NOT A HANDOVER[/]: {escape(s)}")
    out.print(f"{len(bundle.checklist)} manual items to sign in {bundle.folder / 'checklist.csv'}\n"
              f"bundle: {bundle.folder}\narchive: {bundle.archive}")
    sys.exit(0 if bundle.ready else 1)


# --- cameras ------------------------------------------------------------------------------------


@main.group("cameras")
def cameras_group() -> None:
    """Hardened camera settings over ONVIF: apply, audit (724/QĐ-BTTTT, QCVN 135), and a device simulator."""


def _site_or_fail(inv: Any, site: str) -> None:
    if site not in inv.sites:
        from camkit.diagnostics import suggest

        raise click.BadParameter(f"'{site}' is not a site; {suggest(site, list(inv.sites))}", param_hint="--site")


def _read_json(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        from camkit.diagnostics import Diagnostic, Position

        fail(InventoryError([Diagnostic(Position(str(path)), f"cannot read the {what}: {exc}",
                                        f"pass a JSON file ({what})")]), False)
    if not isinstance(data, dict):
        raise click.BadParameter("expected a JSON object", param_hint=what)
    return data


def _camera_run(mode: str, inventory: Path, site: str, store: Path | None, endpoints: Path | None,
                out_dir: Path | None, concurrency: int, call_timeout: float, camera_timeout: float, retries: int,
                cameras: tuple[str, ...], limit: int | None, controller: str | None, resume: bool,
                workers: int = 1, streams_lock: Path | None = None) -> None:
    from camkit.cameras.onvif import RunOptions
    from camkit.cameras.site import execute
    from camkit.secrets import Store

    try:
        inv = pipeline.load(inventory)
        _site_or_fail(inv, site)
        unknown = [c for c in cameras if c not in inv.camera_index or inv.camera_index[c].site != site]
        if unknown:
            raise click.BadParameter(f"not cameras of {site}: {', '.join(unknown)}", param_hint="--camera")
        plan = pipeline.plan(inv)
        st = Store.open(_store_dir(store, inv.city.id))
        from camkit.provenance import results_root

        dest = out_dir or results_root(inv.city.id) / "cameras" / site / mode
        opts = RunOptions(mode, concurrency=concurrency, call_timeout=call_timeout, camera_timeout=camera_timeout,
                          retries=retries, out=dest, resume=resume, controller=controller)
        eps = _read_json(endpoints, "endpoint map")
        total = len(cameras) if cameras else min(limit or 10**9, len(inv.cameras_by_site[site]))
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task(f"{mode} {site}", total=total)
            sr = execute(inv, plan, st, site, opts, eps, cameras, limit,
                         progress=lambda r: progress.advance(task), workers=workers, streams_lock=streams_lock)
    except InventoryError as exc:
        fail(exc, False)
    table = Table(title=f"camkit cameras {mode} {site}")
    for col in ("camera", "status", "changed" if mode == "apply" else "drift", "note"):
        table.add_column(col)
    for r in sr.results:
        colour = {"ok": "green", "partial": "yellow", "drift": "yellow"}.get(r.status, "red")
        what = len(r.changed) if mode == "apply" else len(r.drift)
        note = r.error or "; ".join(f"{n['setting']}: {n['reason']}" for n in r.not_applied) or ""
        table.add_row(r.camera, f"[{colour}]{r.status}[/]", str(what), escape(note[:160]))
    out.print(table)
    out.print(f"{len(sr.results)} cameras in {sr.seconds:.1f} s: "
              + ", ".join(f"{k} {v}" for k, v in sr.counts.items()) + f"; results in {dest}")
    if sr.streams_recorded:
        from camkit.loader import STREAMS_NAME

        out.print(f"{sr.streams_recorded} main-stream path(s) recorded in "
                  f"{escape(str(streams_lock or inv.root / STREAMS_NAME))}: commit it, the next render pulls them")
    if sr.pins_recorded:
        out.print(f"{sr.pins_recorded} camera certificate(s) pinned in the store: later runs refuse any other")
    if not sr.ok:
        sys.exit(1)


@cameras_group.command("unpin")
@inventory_arg
@click.option("--site", required=True, help="site id")
@click.option("--camera", required=True, help="the camera whose HTTPS certificate pin to forget")
@store_opt
def cameras_unpin(inventory: Path, site: str, camera: str, store: Path | None) -> None:
    """Forget one camera's pinned HTTPS certificate (a camera replaced or factory-reset, checked on site): the
    next apply pins the certificate it then presents."""
    from camkit.cameras.site import unpin
    from camkit.secrets import Store

    try:
        inv = pipeline.load(inventory)
        _site_or_fail(inv, site)
        if camera not in inv.camera_index or inv.camera_index[camera].site != site:
            raise click.BadParameter(f"'{camera}' is not a camera of {site}", param_hint="--camera")
        removed = unpin(Store.open(_store_dir(store, inv.city.id)), site, camera)
    except InventoryError as exc:
        fail(exc, False)
    out.print(f"{camera}: pin removed" if removed else f"{camera}: no pin (nothing to remove)")


@cameras_group.command("import-pins")
@inventory_arg
@click.option("--site", required=True, help="site id")
@click.option("--from", "kit", type=click.Path(path_type=Path, file_okay=False, exists=True), required=True,
              help="the kit store a camera run used (`secrets export --cameras-only`), as the run left it")
@click.option("--kit-password-file", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True)
@store_opt
def cameras_import_pins(inventory: Path, site: str, kit: Path, kit_password_file: Path, store: Path | None) -> None:
    """Take the camera certificates a run pinned in its kit into the city's store (the site's cameras only;
    nothing else of the kit is read back)."""
    from camkit.cameras.site import import_pins
    from camkit.secrets import Store

    try:
        inv = pipeline.load(inventory)
        _site_or_fail(inv, site)
        password = kit_password_file.read_text("utf-8").strip().encode()
        n = import_pins(inv, Store.open(_store_dir(store, inv.city.id)), Store.open(kit, password), site)
    except InventoryError as exc:
        fail(exc, False)
    out.print(f"{site}: {n} camera certificate pin(s) taken from the run")


def _camera_options(f: Any) -> Any:
    for opt in reversed([
        inventory_arg,
        click.option("--site", required=True, help="site id"),
        store_opt,
        click.option("--endpoints", type=click.Path(path_type=Path), default=None,
                     help="JSON map camera -> host/ports (simulator, NAT); default: planned addresses, ports 80/443"),
        click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                     help="result folder (default: build/results/<city>/cameras/<site>/<apply|audit>)"),
        click.option("--concurrency", type=click.IntRange(1, 1000), default=50, show_default=True),
        click.option("--call-timeout", type=click.FloatRange(0.1), default=10.0, show_default=True,
                     help="seconds per ONVIF call"),
        click.option("--camera-timeout", type=click.FloatRange(1), default=120.0, show_default=True,
                     help="seconds per camera, all calls"),
        click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True),
        click.option("--camera", "cameras", multiple=True, help="only these cameras (repeatable)"),
        click.option("--limit", type=click.IntRange(1), default=None, help="only the first N cameras of the site"),
        click.option("--workers", type=click.IntRange(1, 64), default=min(8, os.cpu_count() or 1), show_default=True,
                     help="processes the cameras are sharded over (the ONVIF client is CPU-bound)"),
        click.option("--streams-lock", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="where the main-stream paths the cameras report (ONVIF GetStreamUri) are recorded "
                          "(default: the inventory's streams.lock.csv; commit it)"),
    ]):
        f = opt(f)
    return f


@cameras_group.command("apply")
@_camera_options
@click.option("--controller-address", default=None,
              help="the address cameras see this controller as; the IP filter is applied only if it stays allowed")
@click.option("--no-resume", is_flag=True, help="redo cameras a previous run already finished")
def cameras_apply(inventory: Path, site: str, store: Path | None, endpoints: Path | None, out_dir: Path | None,
                  concurrency: int, call_timeout: float, camera_timeout: float, retries: int,
                  cameras: tuple[str, ...], limit: int | None, workers: int, streams_lock: Path | None,
                  controller_address: str | None, no_resume: bool) -> None:
    """Bring the site's cameras to their hardened profile; change only what differs. Exit 1 if any camera
    failed or has settings it could not apply."""
    _camera_run("apply", inventory, site, store, endpoints, out_dir, concurrency, call_timeout, camera_timeout,
                retries, cameras, limit, controller_address, not no_resume, workers, streams_lock)


@cameras_group.command("audit")
@_camera_options
def cameras_audit(inventory: Path, site: str, store: Path | None, endpoints: Path | None, out_dir: Path | None,
                  concurrency: int, call_timeout: float, camera_timeout: float, retries: int,
                  cameras: tuple[str, ...], limit: int | None, workers: int, streams_lock: Path | None) -> None:
    """Read every camera back: drift against the profile and the 724/QCVN 135 compliance matrix
    (audit.json, audit.md). Exit 1 on any drift or failure."""
    _camera_run("audit", inventory, site, store, endpoints, out_dir, concurrency, call_timeout, camera_timeout,
                retries, cameras, limit, None, False, workers, streams_lock)


@cameras_group.command("simulate")
@inventory_arg
@click.option("--site", required=True, help="simulate this site's cameras (factory state)")
@click.option("--endpoints", type=click.Path(path_type=Path), required=True, help="where to write the endpoint map")
@click.option("--factory-password-file", type=click.Path(path_type=Path, exists=True), required=True,
              help="the simulated factory password of every default account")
@click.option("--quirks", type=click.Path(path_type=Path, exists=True), default=None,
              help="JSON: camera id or vendor/model -> quirks (see camkit.cameras.simulator)")
@click.option("--limit", type=click.IntRange(1), default=None)
@click.option("--base-port", type=click.IntRange(1024, 65000), default=20000, show_default=True,
              help="camera N listens on base+2N (HTTP) and base+2N+1 (HTTPS) on 127.0.0.1")
def cameras_simulate(inventory: Path, site: str, endpoints: Path, factory_password_file: Path, quirks: Path | None,
                     limit: int | None, base_port: int) -> None:
    """Run an ONVIF device SIMULATOR (not a camera) for the site's cameras on loopback until SIGTERM."""
    from camkit.cameras.site import select, settings_for, simulate

    try:
        inv = pipeline.load(inventory)
        _site_or_fail(inv, site)
        settings = settings_for(inv, pipeline.plan(inv), site)
    except InventoryError as exc:
        fail(exc, False)
    password = factory_password_file.read_text("utf-8").strip()
    simulate(inv, settings, select(settings, (), limit), password, _read_json(quirks, "quirks") or {}, endpoints,
             base_port)


def run() -> None:
    """Console entry point: like `main()`, but skips tearing down a city-sized model object by object
    at exit (about 0.4 s for Hanoi); output is flushed first."""
    code = 0
    pipeline.FREEZE_MODEL = True
    try:
        rv = main.main(standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        err.print("Aborted!")
        code = 1
    try:
        sys.stdout.flush()  # `camkit schema > /dev/full` fails here, after the command returned
    except OSError as exc:
        code = os_failure(exc)
    try:
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
