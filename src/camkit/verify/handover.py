"""`camkit handover --site S`: the folder a contractor hands over for one site, from the results on record.

It collects, without re-running them: `camkit verify`'s report, JUnit and expectations; the camera audit's
compliance matrix (`camkit cameras audit`). It runs what is cheap and offline: `camkit charts check` of the
site's charts, and the hashes of every file the site's render holds (`configs.sha256`, for `sha256sum -c` in
`build/<city>/`). It writes the checklist of what camkit cannot check (the cameras' manual criteria, the
checks verify could not make from where it ran, and the site items of `camkit/data/handover_checklist.yml`),
each with empty fields for the evidence, who and when.

A part is `pass`, `FAIL`, `missing` (no result on record), `stale` (the result was taken against another
render of the site than today's), `not run` (a program it needs is missing) or `n/a`. The bundle is ready
only when every part passes and no result came from a stand-in (the ONVIF simulator, loopback, the podman
site rig): then it is headed NOT A HANDOVER. Every bundle is kept (`<results>/handover/<site>/<time>/`, and
the same as a `.tar.gz` beside it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from camkit import pipeline
from camkit.loader import Inventory
from camkit.model import ServerRole
from camkit.provenance import camkit_version, inventory_version, results_root
from camkit.render import csv_bytes, md_table

CHECKLIST = Path(__file__).resolve().parents[1] / "data" / "handover_checklist.yml"
CHECKLIST_COLUMNS = ("id", "item", "scope", "how", "evidence", "who", "when")
PASSING = ("pass", "n/a")


@dataclass
class Part:
    """One section of the bundle: what it proves, its status, and the files it brought."""

    name: str
    status: str
    detail: str
    stand_in: str | None = None
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Bundle:
    site: str
    folder: Path
    archive: Path
    parts: list[Part]
    checklist: list[dict[str, str]]
    stand_ins: list[str]

    @property
    def ready(self) -> bool:
        return not self.stand_ins and all(p.status in PASSING for p in self.parts)


def checklist_items() -> dict[str, Any]:
    return dict(yaml.safe_load(CHECKLIST.read_text("utf-8")))


def site_checklist(inv: Inventory, site: str, audit: dict[str, Any] | None, skipped: list[str]) -> list[dict[str, str]]:
    """The manual items of the site's handover, each with empty evidence, who and when."""
    from camkit.cameras import criteria

    s = inv.sites[site]
    rows: list[dict[str, str]] = []

    def row(rid: str, item: str, scope: str, how: str) -> None:
        rows.append({"id": rid, "item": item, "scope": scope, "how": how, "evidence": "", "who": "", "when": ""})

    cams = [c["camera"] for c in (audit or {}).get("cameras", [])]
    if inv.cameras_by_site.get(site):
        for c in criteria():
            manual = [r["camera"] for r in (audit or {}).get("cameras", [])
                      if r.get("compliance", {}).get(c["id"]) == "manual"]
            if c["check"] == "manual" or manual:
                n = len(manual) if manual else len(cams) or len(inv.cameras_by_site[site])
                row(f"camera-{c['id']}", c["title"], f"{n} cameras",
                    c.get("manual") or "not readable over ONVIF for these cameras: check in the vendor UI")
    for n, what in enumerate(skipped, 1):
        row(f"verify-{n}", f"not checked by camkit verify: {what}", site, "check it on site and attach the output")
    data = checklist_items()
    pushed = set(data["pushed_by_play"])
    k8s = any(ServerRole.k8s_control in sv.roles for sv in s.servers)
    for item in data["items"]:
        kind = item["for"]
        if kind == "switch":
            for sw in s.switches:
                how = item["how"] if sw.dialect.value in pushed or "how_manual" not in item else item["how_manual"]
                row(f"{item['id']}:{sw.id}", item["item"].replace("<site>", site).replace("<host>", s.hostname(sw.id)),
                    f"{s.hostname(sw.id)} ({sw.dialect.value})", how)
        elif kind == "every_site" or (kind == "kubernetes" and k8s) \
                or (kind == "cameras" and inv.cameras_by_site.get(site)):
            row(item["id"], item["item"], site, item["how"])
    return rows


def _regular(path: Path) -> bool:
    """A result file is read or copied only if it is a regular file (a FIFO would block, a link point anywhere)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _json(path: Path) -> dict[str, Any] | None:
    if not _regular(path):
        return None
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _copy(src: Path, names: tuple[str, ...], dest: Path, prefix: str) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for name in names:
        if _regular(src / name):
            shutil.copyfile(src / name, dest / name)
            files.append(f"{prefix}/{name}")
    return files


def _verify_part(vdir: Path, rhash: str, dest: Path, cluster: bool) -> tuple[Part, list[str]]:
    """`cluster`: the site runs charts (a cluster verify should have checked)."""
    from camkit.verify import not_checked, results

    expect = _json(vdir / "expectations.json")
    try:
        rows = results(vdir / "junit.xml") if _regular(vdir / "junit.xml") else []
    except ET.ParseError:
        rows = []
    if expect is None or not rows:
        return Part("verify", "missing", f"no verify result in {vdir}: run `camkit verify --site`"), []
    files = _copy(vdir, ("report.html", "junit.xml", "expectations.json"), dest, "verify")
    counts = {k: sum(r["status"] == k for r in rows) for k in ("pass", "fail", "error", "skipped")}
    detail = (f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors, "
              f"{counts['skipped']} skipped ({expect.get('generated', '?')})")
    status = "pass" if counts["fail"] == counts["error"] == 0 else "FAIL"
    notes = []
    if expect.get("render_sha256") != rhash:
        status = "stale" if status == "pass" else status
        notes.append(f"verified against render sha256 {str(expect.get('render_sha256'))[:16]}…, the site's render is "
                     f"now {rhash[:16]}…: deploy it and run `camkit verify` again")
    skipped = not_checked(expect) + [f"{r['test']}: {r['detail'].splitlines()[0] if r['detail'] else 'skipped'}"
                                     for r in rows if r["status"] == "skipped"]
    if not expect.get("kubernetes") and cluster:
        skipped.append("the cluster (workloads ready, Services at their planned addresses, NetworkPolicies and Pod "
                       "Security labels as rendered, volumes as sized): run `camkit verify --kubeconfig F`")
    return Part("verify", status, detail, expect.get("stand_in"), files, notes), skipped


def _cameras_part(inv: Inventory, site: str, adir: Path, expected: list[str], inv_sha: str, dest: Path
                  ) -> tuple[Part, dict[str, Any] | None]:
    if not expected:
        return Part("cameras", "n/a", "the site hosts no camera camkit configures"), None
    doc = _json(adir / "audit.json")
    if doc is None:
        return Part("cameras", "missing", f"no camera audit in {adir}: run `camkit cameras audit --site {site}`"), None
    files = _copy(adir, ("audit.md", "audit.json"), dest, "cameras")
    by_id = {c.get("camera"): c for c in doc.get("cameras", []) if isinstance(c, dict)}
    absent = [c for c in expected if c not in by_id]
    failing = [c for c in expected if c in by_id and (by_id[c].get("status") != "ok"
                                                      or "fail" in by_id[c].get("compliance", {}).values())]
    status = "FAIL" if failing else "missing" if absent else "pass"
    detail = f"{len(expected) - len(absent) - len(failing)} of {len(expected)} cameras compliant"
    notes = []
    if failing:
        notes.append("drift, failure or a failed criterion: " + ", ".join(failing[:20])
                     + (f" and {len(failing) - 20} more" if len(failing) > 20 else ""))
    if absent:
        notes.append("never audited: " + ", ".join(absent[:20]) + (f" and {len(absent) - 20} more" if len(absent) > 20 else ""))
    run = doc.get("run") or {}
    if (run.get("inventory") or {}).get("content_sha256") not in (None, inv_sha):
        notes.append("the last audit ran against another inventory version than today's (see audit.md): audit again "
                     "if the change touched these cameras")
    return Part("cameras", status, detail, run.get("stand_in"), files, notes), doc


def _charts_part(files: dict[str, bytes], site: str, kube_version: str, lint: bool, dest: Path) -> Part:
    from camkit.k8s.check import check, site_values
    from camkit.k8s.helm import HelmUnavailable

    charts = list(site_values(files, [site]))
    if not charts:
        return Part("charts", "n/a", "the site runs no chart")
    try:
        reports = [check(chart, sid, values, kube_version, run_lint=lint) for sid, chart, values in charts]
    except HelmUnavailable as exc:
        return Part("charts", "not run", str(exc))
    (dest / "charts.json").write_text(json.dumps({"kubernetes": kube_version, "lint": lint, "reports": [
        {"chart": r.chart, "ok": r.ok, "objects": r.objects, "schema_checked": r.schema_checked,
         "crds_not_schema_checked": sorted(set(r.crds)), "errors": r.errors} for r in reports]}, indent=1) + "\n")
    bad = [r for r in reports if not r.ok]
    return Part("charts", "FAIL" if bad else "pass",
                f"{len(reports) - len(bad)} of {len(reports)} charts pass helm {'lint, ' if lint else ''}template, "
                f"kubernetes-validate and camkit's policy (Kubernetes {kube_version})", None, ["charts.json"],
                [f"{r.chart}: {e.splitlines()[0][:200]}" for r in bad for e in r.errors])


def build(inventory: Path, site: str, results: Path | None = None, out: Path | None = None, lint: bool = True,
          now: dt.datetime | None = None) -> Bundle:
    """Collect the site's results into a new bundle folder (and its archive); nothing earlier is replaced."""
    from camkit.cameras.site import settings_for
    from camkit.k8s.check import site_values
    from camkit.verify import render_hash

    inv = pipeline.load(inventory)
    plan = pipeline.plan(inv)
    if site not in inv.sites:
        raise KeyError(site)
    results = Path(results) if results else results_root(inv.city.id)
    out = Path(out) if out else results / "handover" / site
    when = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    stamp, n = when.isoformat().replace(":", ""), 1
    folder = out / stamp
    while folder.exists() or folder.with_name(folder.name + ".tar.gz").exists():
        n += 1
        folder = out / f"{stamp}-{n}"
    work = out / f".{folder.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        rhash, files = render_hash(inv, plan, site)
        version = inventory_version(Path(inventory))
        vpart, skipped = _verify_part(results / "verify" / site, rhash, work / "verify",
                                      any(True for _ in site_values(files, [site])))
        cpart, audit = _cameras_part(inv, site, results / "cameras" / site / "audit",
                                     [p.id for p in settings_for(inv, plan, site).cameras], version["content_sha256"],
                                     work / "cameras")
        hpart = _charts_part(files, site, inv.city.kubernetes.version, lint, work)
        (work / "configs.sha256").write_text("".join(f"{hashlib.sha256(c).hexdigest()}  {p}\n"
                                                     for p, c in sorted(files.items())))
        configs = Part("configs", "pass", f"{len(files)} rendered files of the site, render sha256 {rhash[:16]}…",
                       files=["configs.sha256"])
        parts = [vpart, cpart, hpart, configs]
        checklist = site_checklist(inv, site, audit, skipped)
        (work / "checklist.csv").write_bytes(csv_bytes(list(CHECKLIST_COLUMNS),
                                                       ([r[c] for c in CHECKLIST_COLUMNS] for r in checklist)))
        stand_ins = sorted({f"{p.name}: {p.stand_in}" for p in parts if p.stand_in})
        bundle = Bundle(site, folder, folder.with_name(folder.name + ".tar.gz"), parts, checklist, stand_ins)
        context = {"time": when.isoformat(), "camkit": camkit_version(),
                   "inventory": {"path": str(inventory), **version}, "render_sha256": rhash}
        manifest = {"site": site, "site_name": inv.sites[site].name, "city": inv.city.id, "ready": bundle.ready,
                    "stand_ins": stand_ins, "run": context, "parts": [asdict(p) for p in parts],
                    "checklist": checklist}
        (work / "handover.md").write_text(markdown(inv, site, bundle, context), "utf-8")
        (work / "handover.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", "utf-8")
        sums = "".join(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.relative_to(work).as_posix()}\n"
                       for f in sorted(work.rglob("*")) if f.is_file())
        (work / "SHA256SUMS").write_text(sums)
        tmp_tar = out / f".{folder.name}.tar.gz.partial"
        with tarfile.open(tmp_tar, "w:gz") as tar:
            for f in sorted(work.rglob("*")):
                tar.add(f, arcname=f"{site}-handover-{folder.name}/{f.relative_to(work).as_posix()}", recursive=False)
        work.rename(folder)
        tmp_tar.rename(bundle.archive)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        (out / f".{folder.name}.tar.gz.partial").unlink(missing_ok=True)
        raise
    return bundle


def markdown(inv: Inventory, site: str, bundle: Bundle, context: dict[str, Any]) -> str:
    s = inv.sites[site]
    iv = context["inventory"]
    dirty = iv.get("dirty")
    lines = [f"# Handover — {s.name} (`{site}`), {inv.city.name}\n\n"]
    if bundle.stand_ins:
        lines.append("> **NOT A HANDOVER: results in this bundle come from stand-ins, not the site's devices: "
                     + "; ".join(bundle.stand_ins) + ".**\n\n")
    verdict = "READY" if bundle.ready else "NOT READY"
    lines.append(f"**{verdict}**: " + ", ".join(f"{p.name} {p.status}" for p in bundle.parts) + ".\n\n")
    lines.append(f"Collected {context['time']} with camkit {context['camkit']} from the inventory `{iv['path']}` "
                 f"(sha256 `{iv['content_sha256'][:16]}…`"
                 + (f", git `{iv['git_commit'][:12]}`" if iv.get("git_commit") else ", not in git")
                 + (f", **uncommitted changes to {len(dirty)} file(s)**" if dirty else "")
                 + f"); the site's render has sha256 `{context['render_sha256']}`.\n\n")
    lines += ["## Results\n\n", md_table(["part", "status", "result", "stand-in", "files"],
                                         [[p.name, p.status, p.detail, p.stand_in or "-", ", ".join(p.files) or "-"]
                                          for p in bundle.parts])]
    notes = [(p.name, n) for p in bundle.parts for n in p.notes]
    if notes:
        lines.append("\n" + "".join(f"- **{name}**: {n}\n" for name, n in notes))
    lines.append("\n`configs.sha256` holds every rendered file of the site: `cd build/<city> && sha256sum -c "
                 "<bundle>/configs.sha256` proves a render is the one handed over. `SHA256SUMS` covers this "
                 "bundle's own files.\n\n")
    lines += ["## Checklist (manual items)\n\n",
              "Fill evidence (a file in this bundle, a photo, a console log), who and when in `checklist.csv`; "
              "the table below is the same list.\n\n",
              md_table(["id", "item", "scope", "how", "evidence", "who", "when"],
                       [[r[c] for c in CHECKLIST_COLUMNS] for r in bundle.checklist])]
    return "".join(lines)
