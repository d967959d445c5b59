"""`camkit cameras apply|audit|simulate` for one site: profiles from the model, credentials from the store,
per-camera result files, a summary and (audit) the compliance matrix in JSON and Markdown."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from camkit.access import AccessModel
from camkit.cameras import criteria, loop_run
from camkit.cameras.accounts import PINS_KEY, credentials
from camkit.cameras.onvif import CameraResult, RunOptions, run, targets_from
from camkit.cameras.profile import CameraProfile, SiteCameraSettings, site_settings
from camkit.flows import FlowMatrix
from camkit.ipplan import Plan
from camkit.diagnostics import InventoryError
from camkit.loader import STREAM_COLUMNS, STREAMS_NAME, Inventory
from camkit.render import csv_bytes, md_table
from camkit.secrets import Store
from camkit.sources import SourceError, diagnostics_of, display_name, load_csv

MARK = {"pass": "pass", "fail": "**FAIL**", "manual": "manual", "n/a": "n/a"}


def pins(store: Store, sid: str) -> dict[str, str]:
    return dict(store.get(sid, PINS_KEY) or {})


def record_pins(store: Store, sid: str, results: list[CameraResult]) -> int:
    """Pin each camera's certificate as the run ended on it: first contact, or a certificate camkit assigned
    over the pinned session. A camera whose certificate was refused keeps its pin. Returns the pins changed."""
    have = pins(store, sid)
    changed = 0
    for r in results:
        if r.tls_pin is not None and have.get(r.camera) != r.tls_pin:
            have[r.camera] = r.tls_pin
            changed += 1
    if changed:
        store.put(sid, PINS_KEY, dict(sorted(have.items())))
        store.save()
    return changed


def import_pins(inv: Inventory, store: Store, kit: Store, sid: str) -> int:
    """The pins a run recorded in its kit (`secrets export --cameras-only`) into the city's store: the site's
    cameras only, a kit's pin replacing the store's (the run is the later contact). Returns the pins changed."""
    mine = {c.id for c in inv.cameras_by_site[sid]}
    have, theirs = pins(store, sid), {c: p for c, p in pins(kit, sid).items() if c in mine}
    changed = {c: p for c, p in theirs.items()
               if isinstance(p, str) and re.fullmatch("[0-9a-f]{64}", p) and have.get(c) != p}
    if changed:
        have.update(changed)
        store.put(sid, PINS_KEY, dict(sorted(have.items())))
        store.save()
    return len(changed)


def unpin(store: Store, sid: str, camera: str) -> bool:
    """Forget a camera's pin (a replaced or factory-reset camera, checked on site): the next contact pins anew."""
    have = pins(store, sid)
    if have.pop(camera, None) is None:
        return False
    store.put(sid, PINS_KEY, have)
    store.save()
    return True


def settings_for(inv: Inventory, plan: Plan, sid: str) -> SiteCameraSettings:
    return site_settings(inv, plan, FlowMatrix(inv, plan, AccessModel(inv)), sid)


def select(settings: SiteCameraSettings, cameras: tuple[str, ...] = (), limit: int | None = None) -> list[CameraProfile]:
    profs = [p for p in settings.cameras if not cameras or p.id in cameras]
    return profs[:limit] if limit else profs


@dataclass
class SiteRun:
    site: str
    mode: str
    results: list[CameraResult]
    seconds: float
    streams_recorded: int = 0  # rows of the stream lock this run added or changed
    pins_recorded: int = 0  # camera certificates pinned (first contact, or a certificate camkit assigned)

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.status for r in self.results).items()))

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.results)

    def summary(self) -> dict[str, Any]:
        return {"site": self.site, "mode": self.mode, "cameras": len(self.results), "by_status": self.counts,
                "seconds": round(self.seconds, 2), "streams_recorded": self.streams_recorded,
                "pins_recorded": self.pins_recorded,
                "failed": {r.camera: r.error for r in self.results if r.status == "failed"},
                "not_applied": {r.camera: r.not_applied for r in self.results if r.not_applied}}


def execute(inv: Inventory, plan: Plan, store: Store, sid: str, opts: RunOptions, endpoints: dict[str, Any] | None,
            cameras: tuple[str, ...] = (), limit: int | None = None,
            progress: Callable[[CameraResult], None] | None = None, workers: int = 1,
            streams_lock: Path | None = None) -> SiteRun:
    """Run apply or audit over the site's cameras; the main stream each camera reports is recorded in
    `streams_lock` (the inventory's streams.lock.csv unless given)."""
    settings = settings_for(inv, plan, sid)
    profs = select(settings, cameras, limit)
    cams = inv.camera_index
    streams = {p.id: inv.pull_path(cams[p.id]) for p in profs}  # where the VMS pulls each camera today
    # passwords exist in the (saved) store before any camera carries them: `camkit secrets init` made them (only it
    # creates secrets); a camera without them is refused before any camera is touched
    creds = {p.id: credentials(inv, store, p.id) for p in profs}
    targets = targets_from(settings, endpoints, pins(store, sid))
    t0 = time.perf_counter()
    if workers <= 1 or len(profs) < 2 * workers:
        results = loop_run(run(settings, profs, targets, creds.__getitem__, opts, criteria(), progress, streams))
    else:
        results = _in_workers(settings, profs, targets, creds, opts, workers, progress, streams)
    out = SiteRun(sid, opts.mode, results, time.perf_counter() - t0)
    out.streams_recorded = record_streams(streams_lock or inv.root / STREAMS_NAME, results, set(cams))
    out.pins_recorded = record_pins(store, sid, results)
    if opts.out is not None:
        from camkit.provenance import run_context

        simulator = bool(endpoints and "control_port" in endpoints)  # the map `camkit cameras simulate` writes
        reached = "the endpoint map's addresses" if endpoints else "the cameras' planned addresses"
        write_reports(inv, settings, out, opts.out,
                      run_context(inv.root, reached, sorted({t.host for t in targets.values()}), simulator))
    return out


# State a forked worker inherits (set just before the fork; never pickled, so secrets never cross a pipe)
_SHARD: dict[str, Any] = {}


def _worker(index: int) -> list[CameraResult]:
    job = _SHARD
    queue = job["queue"]
    shard = job["profs"][index::job["workers"]]
    opts = RunOptions(**{**vars(job["opts"]), "concurrency": max(1, job["opts"].concurrency // job["workers"])})
    return loop_run(run(job["settings"], shard, job["targets"], job["creds"].__getitem__, opts, criteria(),
                        lambda r: queue.put(r.camera), job["streams"]))


def _in_workers(settings: SiteCameraSettings, profs: list[CameraProfile], targets: dict[str, Any],
                creds: dict[str, Any], opts: RunOptions, workers: int,
                progress: Callable[[CameraResult], None] | None,
                streams: dict[str, str | None]) -> list[CameraResult]:
    """Shard the cameras over forked processes (the ONVIF client is CPU-bound: one core per worker)."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    _SHARD.update(settings=settings, profs=profs, targets=targets, creds=creds, opts=opts, workers=workers,
                  queue=queue, streams=streams)
    done = threading.Event()

    def pump() -> None:
        while not done.is_set():
            try:
                cam = queue.get(timeout=0.2)
            except Exception:  # noqa: BLE001 - queue.Empty
                continue
            if progress:
                progress(CameraResult(cam, opts.mode))

    t = threading.Thread(target=pump, daemon=True)
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = [pool.submit(_worker, i) for i in range(workers)]
            t.start()  # after the workers are forked: a child never inherits a lock this thread holds
            parts = [f.result() for f in futures]
    finally:
        done.set()
        if t.is_alive():
            t.join()
        _SHARD.clear()
    order = {p.id: i for i, p in enumerate(profs)}
    return sorted((r for part in parts for r in part), key=lambda r: order[r.camera])


def _earlier(path: Path, known: set[str]) -> dict[str, CameraResult]:
    """The site report's cameras from earlier runs (those still cameras of the site); none if unreadable."""
    try:
        doc = json.loads(path.read_text("utf-8"))
        return {c["camera"]: CameraResult(**c) for c in doc.get("cameras", []) if c.get("camera") in known}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def write_reports(inv: Inventory, settings: SiteCameraSettings, sr: SiteRun, out: Path,
                  context: dict[str, Any] | None = None) -> None:
    """The site's report (`<mode>.json`, and `audit.md`) is every camera's latest result: a run of some cameras
    (`--camera`, `--limit`) replaces theirs and keeps the others'. Each run is also kept as it was, under
    `runs/<time>-<mode>.json`. `context`: where the results came from (`camkit.provenance.run_context`)."""
    out.mkdir(parents=True, exist_ok=True)
    latest = _earlier(out / f"{sr.mode}.json", {p.id for p in settings.cameras})
    latest.update({r.camera: r for r in sr.results})
    order = [p.id for p in settings.cameras]
    view = SiteRun(sr.site, sr.mode, [latest[c] for c in order if c in latest], sr.seconds, sr.streams_recorded,
                   sr.pins_recorded)
    doc: dict[str, Any] = {"summary": view.summary(), "run": context, "this_run": sorted(r.camera for r in sr.results),
                           "cameras": [r.as_json() for r in view.results]}
    if sr.mode == "audit":
        doc["criteria"] = criteria()
    stamp = (context or {}).get("time") or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    (out / "runs").mkdir(exist_ok=True)
    run_doc = {"summary": sr.summary(), "run": context, "cameras": [r.as_json() for r in sr.results]}
    name, n = f"{stamp.replace(':', '')}-{sr.mode}", 1
    while (out / "runs" / f"{name}.json").exists():  # two runs in one second
        n += 1
        name = f"{stamp.replace(':', '')}-{sr.mode}-{n}"
    _atomic(out / "runs" / f"{name}.json", json.dumps(run_doc, indent=1, sort_keys=True, default=str))
    _atomic(out / f"{sr.mode}.json", json.dumps(doc, indent=1, sort_keys=True, default=str))
    if sr.mode == "audit":
        _atomic(out / "audit.md", audit_markdown(inv, settings, view, context))


def record_streams(path: Path, results: list[CameraResult], known: set[str], today: str | None = None) -> int:
    """Merge what the cameras reported over GetStreamUri into the stream lock; a row changes only when its path
    (or profile) does, so a repeated audit leaves the file as it is; rows of cameras no longer in the registry
    (`known`) go. Returns the rows added, changed or dropped."""
    rows: dict[str, dict[str, str]] = {}
    if path.exists() or path.is_symlink():
        try:
            table = load_csv(path, display_name(path, None), STREAM_COLUMNS[:3], STREAM_COLUMNS[3:])
        except SourceError as exc:
            raise InventoryError(diagnostics_of(exc)) from exc
        rows = {row["id"]: row for _, row in table.rows if "id" in row}
    when = today or dt.date.today().isoformat()
    stale = [cid for cid in rows if cid not in known]
    for cid in stale:
        del rows[cid]
    changed = len(stale)
    for r in results:
        if r.stream is None:
            continue
        old = rows.get(r.camera, {})
        if old.get("path") == r.stream["path"] and old.get("profile", "") == r.stream["profile"] \
                and old.get("source") == "onvif":
            continue
        rows[r.camera] = {"id": r.camera, "path": r.stream["path"], "source": "onvif",
                          "profile": r.stream["profile"], "observed": when}
        changed += 1
    if changed:  # csv_bytes: a cell a spreadsheet would run as a formula is escaped, as in every CSV camkit writes
        _atomic(path, csv_bytes(list(STREAM_COLUMNS), ([rows[cid].get(c, "") for c in STREAM_COLUMNS]
                                                       for cid in sorted(rows))).decode("utf-8"))
    return changed


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)


def audit_markdown(inv: Inventory, settings: SiteCameraSettings, sr: SiteRun,
                   context: dict[str, Any] | None = None) -> str:
    crit = criteria()
    site = inv.sites[sr.site]
    lines = [f"# Camera audit — {site.name} (`{sr.site}`)\n\n"]
    if context:
        if context.get("stand_in"):
            lines.append(f"> **NOT A HANDOVER: these results come from {context['stand_in']}.**\n\n")
        iv = context["inventory"]
        dirty = iv.get("dirty")
        lines.append(f"Last run {context['time']} with camkit {context['camkit']}, against {context['reached']}; "
                     f"inventory `{iv['path']}` sha256 `{iv['content_sha256'][:16]}…`"
                     + (f", git `{iv['git_commit'][:12]}`" if iv.get("git_commit") else ", not in git")
                     + (f" **with uncommitted changes to {len(dirty)} file(s)**" if dirty else "") + ". "
                     "Each camera's row is its latest check (`checked`).\n\n")
    lines += [
             f"{len(sr.results)} cameras; by status: "
             + ", ".join(f"{k} {v}" for k, v in sr.counts.items()) + ".\n\n",
             "Each criterion of Decision 724/QĐ-BTTTT and QCVN 135:2024/BTTTT as checked over ONVIF: pass, "
             "FAIL (bold), or manual (not readable over ONVIF: a handover checklist item below).\n\n",
             "## Criteria\n\n",
             md_table(["id", "criterion", "sources", "checked"],
                      [[c["id"], c["title"], "; ".join(c["sources"]),
                        "manual" if c["check"] == "manual" else "ONVIF"] for c in crit]),
             "\n## Compliance matrix\n\n",
             md_table(["camera", "status", "checked", "firmware"] + [c["id"] for c in crit],
                      [[r.camera, r.status, r.checked or "-", r.firmware or "-"]
                       + [MARK.get(r.compliance.get(c["id"], ""), "-") for c in crit] for r in sr.results])]
    drifted = [r for r in sr.results if r.drift or r.error]
    lines.append("\n## Drift and failures\n\n")
    if not drifted:
        lines.append("None: every camera matches its profile.\n")
    for r in drifted:
        lines.append(f"### {r.camera}\n\n")
        if r.error:
            lines.append(f"- error: {r.error}\n")
        for d in r.drift:
            lines.append(f"- `{d['setting']}`: expected `{json.dumps(d['expected'], default=str)}`, "
                         f"found `{json.dumps(d['actual'], default=str)}`\n")
        lines.append("\n")
    lines.append("\n## Handover checklist (not checkable over ONVIF)\n\n")
    for c in crit:
        if c["check"] == "manual" or any(r.compliance.get(c["id"]) == "manual" for r in sr.results):
            how = c.get("manual") or "not readable over ONVIF for some cameras of this site"
            cams = [r.camera for r in sr.results if r.compliance.get(c["id"]) == "manual"]
            lines.append(f"- [ ] **{c['id']}** {c['title']}: {how} ({len(cams)} cameras)\n")
    models = sorted({(p.vendor, p.model) for p in settings.cameras})
    lines.append("\n### Vendor vulnerability disclosure (C16)\n\n")
    lines.append(md_table(["vendor", "model", "disclosure page"],
                          [[v, m, (inv.models.get(f"{v}/{m}").vulnerability_disclosure  # type: ignore[union-attr]
                                   if inv.models.get(f"{v}/{m}") else "") or "not recorded"] for v, m in models]))
    return "".join(lines)


def simulate(inv: Inventory, settings: SiteCameraSettings, profs: list[CameraProfile], factory_password: str,
             quirks: dict[str, dict[str, Any]], endpoints_file: Path, base_port: int = 20000) -> None:
    """The simulated cameras report their model's documented stream path (the catalog's), not the stream lock's:
    they stand in for the cameras the lock is read from."""
    from camkit.cameras.simulator import serve

    paths = {}
    for p in profs:
        spec = inv.models.get(f"{p.vendor}/{p.model}")
        if spec is not None and spec.rtsp_path:
            paths[p.id] = spec.rtsp_path
    loop_run(serve(profs, factory_password, quirks, endpoints_file, base_port=base_port, stream_paths=paths))
