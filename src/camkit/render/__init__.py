"""The render pipeline: one renderer per artifact family, one registry, atomic deterministic output.

A renderer is a pure function of (model, plan, access model) to artifacts. Each artifact belongs to
a family and a scope (the city, or one site), so a partial render (`--only`, `--site`) replaces
exactly the files of the families and scopes it rendered. A render of a site selection (`Selection`) writes
those sites' files and the city-scope files a deployment of them needs (`Renderer.deploys`: the Ansible
inventory, limited to the selection). The build folder of a city is owned by
camkit: a manifest (`.camkit-manifest.json`) records which family and scope wrote each file.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Iterable

from camkit import parallel
from camkit.access import AccessModel
from camkit.diagnostics import Diagnostic, InventoryError, Position, UsageProblem
from camkit.flows import FlowMatrix
from camkit.ipplan import Plan
from camkit.loader import Inventory
from camkit.sizing import CitySize, size_city
from camkit.topology import Topology

CITY_SCOPE = "city"
MANIFEST = ".camkit-manifest.json"


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to build/<city>/, POSIX separators
    content: bytes
    scope: str = CITY_SCOPE
    mode: int = 0o644


@dataclass(frozen=True)
class Selection:
    """The sites a partial render writes: those asked for (with their descendants on `--with-children`), then the
    sites whose shared services they use (the RADIUS servers of their switches), added so that a deployment of
    the selection has every host and file its plays need."""

    requested: tuple[str, ...]
    shared: tuple[str, ...] = ()

    @cached_property
    def sites(self) -> frozenset[str]:
        return frozenset(self.requested) | frozenset(self.shared)

    def __contains__(self, sid: object) -> bool:
        return sid in self.sites

    def keeps(self, scope: str, deploys: bool) -> bool:
        """Whether an artifact of `scope` belongs to this selection's render: its sites' files, and the city-wide
        files of a family a deployment reads (`Renderer.deploys`)."""
        return scope in self.sites or (scope == CITY_SCOPE and deploys)

    @classmethod
    def of(cls, inv: Inventory, sites: Iterable[str], with_children: bool = False) -> "Selection":
        from camkit.diagnostics import suggest

        asked = list(dict.fromkeys(sites))
        for sid in asked:
            if sid not in inv.sites:
                raise UsageProblem([Diagnostic(Position("--site"), f"'{sid}' is not a site",
                                               suggest(sid, inv.sites.keys()))])
        chosen = set(asked)
        if with_children:
            for sid in asked:
                chosen.update(inv.descendants(sid))
        topo = Topology.of(inv)
        shared = {r for sid in chosen if inv.sites[sid].switches and (r := topo.radius_site(sid))} - chosen
        order = {sid: i for i, sid in enumerate(inv.sites)}
        return cls(tuple(sorted(chosen, key=order.__getitem__)), tuple(sorted(shared, key=order.__getitem__)))


@dataclass
class RenderContext:
    inv: Inventory
    plan: Plan
    access: AccessModel
    selection: Selection | None = None  # render only these sites' scopes (None: the whole city)

    @cached_property
    def topology(self) -> Topology:
        """Every relationship between sites and cameras, derived once; every family reads it."""
        shared = Topology.of(self.inv)
        return shared if shared.access is self.access else Topology(self.inv, self.access)

    @cached_property
    def flows(self) -> FlowMatrix:
        """The flow matrix, computed once per render for every family that needs it."""
        return FlowMatrix(self.inv, self.plan, self.access, self.topology)

    @cached_property
    def sizing(self) -> CitySize:
        """The sizing model, computed once per render (sizing, cameras and helm families read it)."""
        return size_city(self.inv, self.topology)

    def sites(self) -> list[str]:
        return [s for s in self.inv.sites if self.includes(s)]

    def includes(self, sid: str) -> bool:
        """Whether this render writes site `sid`'s files."""
        return self.selection is None or sid in self.selection

    @property
    def city_scope(self) -> bool:
        return self.selection is None


class Renderer(ABC):
    """One artifact family. Subclasses set `family` and `description` and yield artifacts."""

    family: ClassVar[str]
    description: ClassVar[str]
    cost: ClassVar[float] = 1.0  # seconds to render Hanoi (measured): balances the render processes
    reads: ClassVar[tuple[str, ...]] = ()  # shared context it reads ("sizing", "flows"): computed once before a fork
    deploys: ClassVar[bool] = False  # a selection's render still writes its city-scope files, limited to the selection

    @abstractmethod
    def render(self, ctx: RenderContext) -> Iterable[Artifact]:
        raise NotImplementedError


def registry() -> dict[str, type[Renderer]]:
    """The one table of artifact families. Later families register here and nowhere else."""
    from camkit.render.ansible_inventory import AnsibleInventoryRenderer
    from camkit.render.cameras import CamerasRenderer
    from camkit.render.camera_registry import RegistryRenderer
    from camkit.render.firewall import FirewallMatrixRenderer
    from camkit.render.helm_values import HelmValuesRenderer
    from camkit.render.ipplan import IpPlanRenderer
    from camkit.render.netplan import NetplanRenderer
    from camkit.render.publisher import PublisherRenderer
    from camkit.render.nftables import NftablesRenderer
    from camkit.render.radius import RadiusRenderer
    from camkit.render.sizing import SizingRenderer
    from camkit.render.stacks import StacksRenderer
    from camkit.render.switches import SwitchRenderer
    from camkit.render.wireguard import WireguardRenderer

    table: list[type[Renderer]] = [IpPlanRenderer, AnsibleInventoryRenderer, RegistryRenderer,
                                   FirewallMatrixRenderer, NftablesRenderer, NetplanRenderer, SwitchRenderer,
                                   RadiusRenderer, WireguardRenderer, PublisherRenderer, SizingRenderer, CamerasRenderer,
                                   HelmValuesRenderer, StacksRenderer]
    return {r.family: r for r in table}


def select_families(only: Iterable[str] | None) -> list[str]:
    known = registry()
    if not only:
        return list(known)
    chosen = []
    for fam in only:
        if fam not in known:
            raise UsageProblem([Diagnostic(Position("--only"), f"unknown artifact family '{fam}'",
                                             "known families: " + ", ".join(known))])
        if fam not in chosen:
            chosen.append(fam)
    return chosen


@dataclass
class RenderResult:
    families: list[str]
    selection: Selection | None
    artifacts: dict[str, tuple[str, Artifact]] = field(default_factory=dict)  # path -> (family, artifact)

    def owns(self, family: str, scope: str) -> bool:
        if family not in self.families:
            return False
        if self.selection is None:
            return True
        return self.selection.keeps(scope, registry()[family].deploys)


def render(inv: Inventory, plan: Plan, families: Iterable[str] | None = None,
           selection: Selection | str | None = None, jobs: int | None = None) -> RenderResult:
    """Render `families` (all by default) of the whole city, or of a site selection (a site id is a selection
    of that one site, without the shared services it uses)."""
    chosen = select_families(families)
    if isinstance(selection, str):
        Selection.of(inv, [selection])  # the unknown-site error
        selection = Selection((selection,))
    ctx = RenderContext(inv, plan, Topology.of(inv).access, selection)
    result = RenderResult(chosen, selection)
    table = registry()
    groups = _groups(chosen, table, selection, parallel.jobs() if jobs is None else jobs)
    if len(groups) == 1:
        rendered = {fam: _render_family(ctx, table[fam]) for fam in chosen}
    else:
        rendered = _render_forked(ctx, table, groups)
    for fam in chosen:  # the registry's order whatever process rendered it: output is the same as serial
        for art in rendered[fam]:
            if art.path in result.artifacts:
                raise RuntimeError(f"renderer bug: {art.path} written twice ({fam}, {result.artifacts[art.path][0]})")
            result.artifacts[art.path] = (fam, art)
    return result


def _render_family(ctx: RenderContext, renderer: type[Renderer]) -> list[Artifact]:
    sel = ctx.selection
    return [a for a in renderer().render(ctx)
            if sel is None or sel.keeps(a.scope, renderer.deploys)]


def _groups(chosen: list[str], table: dict[str, type[Renderer]], selection: Selection | None,
            jobs: int) -> list[list[str]]:
    """Families split over `jobs` processes, longest first onto the least loaded (deterministic). A selection's
    render is small: it stays in one process (a fork costs more than it saves)."""
    if selection is not None or jobs <= 1 or len(chosen) <= 1 or not parallel.can_fork():
        return [chosen]
    loads = [0.0] * min(jobs, len(chosen))
    groups: list[list[str]] = [[] for _ in loads]
    for fam in sorted(chosen, key=lambda f: (-table[f].cost, chosen.index(f))):
        i = loads.index(min(loads))
        groups[i].append(fam)
        loads[i] += table[fam].cost
    if sum(loads) - max(loads) < 1.0:  # the other processes would save less than a second
        return [chosen]
    return groups


_FORKED: RenderContext | None = None  # the context a forked render process inherits (never pickled)


def _render_in_child(families: list[str]) -> dict[str, list[Artifact]]:
    assert _FORKED is not None
    table = registry()
    return {fam: _render_family(_FORKED, table[fam]) for fam in families}


def _render_forked(ctx: RenderContext, table: dict[str, type[Renderer]], groups: list[list[str]]) -> dict[str, list[Artifact]]:
    """Render the first group here and the others in forked processes that inherit the loaded inventory, the
    plan and the shared context (computed once, before the fork, when more than one process reads it)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _FORKED
    for shared in ("sizing", "flows"):
        if sum(any(shared in table[f].reads for f in g) for g in groups) > 1:
            value = getattr(ctx, shared)
            if shared == "flows":
                value.flows  # noqa: B018 - the matrix itself is lazy
    _FORKED = ctx
    try:
        with ProcessPoolExecutor(len(groups) - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_render_in_child, g) for g in groups[1:]]
            out = {fam: _render_family(ctx, table[fam]) for fam in groups[0]}
            for fut in futures:
                out.update(fut.result())  # a renderer's exception is raised here, as in a serial render
    finally:
        _FORKED = None
    return out


# --- comparing with and writing the build folder ------------------------------------------------


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.deleted)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(out: Path) -> dict[str, dict[str, str]]:
    path = out / MANIFEST
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text("utf-8"))["files"])
    except (ValueError, KeyError, TypeError):
        return {}


def compare(result: RenderResult, out: Path) -> tuple[Changes, dict[str, dict[str, str]]]:
    """What writing `result` to `out` would do, and the manifest it would leave."""
    old = read_manifest(out)
    changes = Changes()
    new_manifest: dict[str, dict[str, str]] = {}
    for path, meta in old.items():
        if result.owns(meta.get("family", ""), meta.get("scope", "")):
            if path not in result.artifacts:
                changes.deleted.append(path)
        else:
            new_manifest[path] = meta
    for path, (fam, art) in result.artifacts.items():
        digest = _digest(art.content)
        new_manifest[path] = {"family": fam, "scope": art.scope, "sha256": digest}
        prev = old.get(path)
        on_disk = out / path
        if prev is None or not on_disk.exists():
            changes.added.append(path)
        elif prev.get("sha256") != digest or _digest(on_disk.read_bytes()) != digest:
            changes.changed.append(path)
        else:
            changes.unchanged += 1
    for lst in (changes.added, changes.changed, changes.deleted):
        lst.sort()
    return changes, dict(sorted(new_manifest.items()))


def unified(result: RenderResult, out: Path, changes: Changes) -> str:
    chunks = []
    for path in changes.changed + changes.added + changes.deleted:
        old_bytes = (out / path).read_bytes() if (out / path).exists() else b""
        new_bytes = result.artifacts[path][1].content if path in result.artifacts else b""
        try:
            a, b = old_bytes.decode("utf-8").splitlines(True), new_bytes.decode("utf-8").splitlines(True)
        except UnicodeDecodeError:
            chunks.append(f"Binary files a/{path} and b/{path} differ\n")
            continue
        chunks.extend(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}"))
    return "".join(chunks)


def write(result: RenderResult, out: Path) -> Changes:
    """Write atomically: build the new tree beside the old one, then swap the two folders."""
    changes, manifest = compare(result, out)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.new-{os.getpid()}"
    old_tmp = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        dirs = sorted({(tmp / path).parent for path in manifest})
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)

        def put(path: str) -> None:
            dest = tmp / path
            if path in result.artifacts:
                art = result.artifacts[path][1]
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, art.mode)
                with os.fdopen(fd, "wb") as fh:
                    os.fchmod(fd, art.mode)  # whatever the umask
                    fh.write(art.content)
            else:
                src = out / path
                if not src.exists():
                    return  # lost by hand; the next full render restores it
                try:
                    os.link(src, dest)
                except OSError:
                    shutil.copy2(src, dest)

        for path in manifest:
            put(path)
        (tmp / MANIFEST).write_text(json.dumps({"version": 1, "files": manifest}, indent=1, sort_keys=True) + "\n",
                                    "utf-8")
        if out.exists():
            out.rename(old_tmp)
        tmp.rename(out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old_tmp.exists() and not out.exists():
            old_tmp.rename(out)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(out)) from exc  # a full disk names the build it stopped
        raise
    shutil.rmtree(old_tmp, ignore_errors=True)
    return changes


# --- helpers shared by renderers ----------------------------------------------------------------


def csv_bytes(header: list[str], rows: Iterable[Iterable[object]]) -> bytes:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([_cell(v) for v in r] for r in rows)
    return buf.getvalue().encode("utf-8")


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(v: object) -> object:
    """A text cell a spreadsheet would run as a formula (=, +, -, @ first) is written with a leading
    apostrophe (OWASP "CSV injection"); numbers are data and stay as they are."""
    return "'" + v if isinstance(v, str) and v.startswith(_FORMULA) else v


def yaml_dumper() -> type:
    """libyaml's safe emitter (~10x faster at city scale), PyYAML's own where libyaml is missing."""
    import yaml

    return getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def yaml_bytes(data: object, header: str = "") -> bytes:
    import yaml

    text = yaml.dump(data, Dumper=yaml_dumper(), sort_keys=True, allow_unicode=True, width=120, default_flow_style=False)
    return (header + text).encode("utf-8")


def json_bytes(data: object) -> bytes:
    """json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1) + newline, byte for byte, with the C
    encoder writing every scalar (indent= alone switches json to its pure-Python encoder: 3x slower)."""
    try:
        text = _indented(data, 0)
    except _Unusual:
        text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1)
    return (text + "\n").encode("utf-8")


_SCALAR = json.JSONEncoder(ensure_ascii=False).encode


class _Unusual(Exception):
    """A value json's own indenting treats specially (a non-str key, a custom type): use json.dumps."""


def _indented(x: object, level: int) -> str:
    if isinstance(x, dict):
        if not x:
            return "{}"
        if not all(type(k) is str for k in x):
            raise _Unusual
        pad = "\n" + " " * (level + 1)
        return ("{" + ",".join(pad + _SCALAR(k) + ": " + _indented(x[k], level + 1) for k in sorted(x))
                + "\n" + " " * level + "}")
    if isinstance(x, (list, tuple)):
        if not x:
            return "[]"
        pad = "\n" + " " * (level + 1)
        return "[" + ",".join(pad + _indented(e, level + 1) for e in x) + "\n" + " " * level + "]"
    if x is None or isinstance(x, (str, int, float)):
        return _SCALAR(x)
    raise _Unusual


def md_table(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
