"""`camkit cameras apply|audit|simulate` for one site: profiles from the model, credentials from the store,
per-camera result files, a summary and (audit) the compliance matrix in JSON and Markdown."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from camkit.access import AccessModel
from camkit.cameras import criteria, loop_run
from camkit.cameras.accounts import credentials, ensure_accounts
from camkit.cameras.onvif import CameraResult, RunOptions, run, targets_from
from camkit.cameras.profile import CameraProfile, SiteCameraSettings, site_settings
from camkit.flows import FlowMatrix
from camkit.ipplan import Plan
from camkit.loader import Inventory
from camkit.render import md_table
from camkit.secrets import Store

MARK = {"pass": "pass", "fail": "**FAIL**", "manual": "manual", "n/a": "n/a"}


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

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.status for r in self.results).items()))

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.results)

    def summary(self) -> dict[str, Any]:
        return {"site": self.site, "mode": self.mode, "cameras": len(self.results), "by_status": self.counts,
                "seconds": round(self.seconds, 2),
                "failed": {r.camera: r.error for r in self.results if r.status == "failed"},
                "not_applied": {r.camera: r.not_applied for r in self.results if r.not_applied}}


def execute(inv: Inventory, plan: Plan, store: Store, sid: str, opts: RunOptions, endpoints: dict[str, Any] | None,
            cameras: tuple[str, ...] = (), limit: int | None = None,
            progress: Callable[[CameraResult], None] | None = None, workers: int = 1) -> SiteRun:
    settings = settings_for(inv, plan, sid)
    profs = select(settings, cameras, limit)
    if opts.mode == "apply":
        # passwords exist in the (saved) store before any camera carries them
        if ensure_accounts(inv, store, [sid]):
            store.save()
    creds = {p.id: credentials(inv, store, p.id) for p in profs}
    targets = targets_from(settings, endpoints)
    t0 = time.perf_counter()
    if workers <= 1 or len(profs) < 2 * workers:
        results = loop_run(run(settings, profs, targets, creds.__getitem__, opts, criteria(), progress))
    else:
        results = _in_workers(settings, profs, targets, creds, opts, workers, progress)
    out = SiteRun(sid, opts.mode, results, time.perf_counter() - t0)
    if opts.out is not None:
        write_reports(inv, settings, out, opts.out)
    return out


# State a forked worker inherits (set just before the fork; never pickled, so secrets never cross a pipe)
_SHARD: dict[str, Any] = {}


def _worker(index: int) -> list[CameraResult]:
    job = _SHARD
    queue = job["queue"]
    shard = job["profs"][index::job["workers"]]
    opts = RunOptions(**{**vars(job["opts"]), "concurrency": max(1, job["opts"].concurrency // job["workers"])})
    return loop_run(run(job["settings"], shard, job["targets"], job["creds"].__getitem__, opts, criteria(),
                           lambda r: queue.put(r.camera)))


def _in_workers(settings: SiteCameraSettings, profs: list[CameraProfile], targets: dict[str, Any],
                creds: dict[str, Any], opts: RunOptions, workers: int,
                progress: Callable[[CameraResult], None] | None) -> list[CameraResult]:
    """Shard the cameras over forked processes (the ONVIF client is CPU-bound: one core per worker)."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    _SHARD.update(settings=settings, profs=profs, targets=targets, creds=creds, opts=opts, workers=workers,
                  queue=queue)
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


def write_reports(inv: Inventory, settings: SiteCameraSettings, sr: SiteRun, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"summary": sr.summary(), "cameras": [r.as_json() for r in sr.results]}
    if sr.mode == "audit":
        doc["criteria"] = criteria()
    _atomic(out / f"{sr.mode}.json", json.dumps(doc, indent=1, sort_keys=True, default=str))
    if sr.mode == "audit":
        _atomic(out / "audit.md", audit_markdown(inv, settings, sr))


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)


def audit_markdown(inv: Inventory, settings: SiteCameraSettings, sr: SiteRun) -> str:
    crit = criteria()
    site = inv.sites[sr.site]
    lines = [f"# Camera audit — {site.name} (`{sr.site}`)\n\n",
             f"{len(sr.results)} cameras; by status: "
             + ", ".join(f"{k} {v}" for k, v in sr.counts.items()) + ".\n\n",
             "Each criterion of Decision 724/QĐ-BTTTT and QCVN 135:2024/BTTTT as checked over ONVIF: pass, "
             "FAIL (bold), or manual (not readable over ONVIF: a handover checklist item below).\n\n",
             "## Criteria\n\n",
             md_table(["id", "criterion", "sources", "checked"],
                      [[c["id"], c["title"], "; ".join(c["sources"]),
                        "manual" if c["check"] == "manual" else "ONVIF"] for c in crit]),
             "\n## Compliance matrix\n\n",
             md_table(["camera", "status", "firmware"] + [c["id"] for c in crit],
                      [[r.camera, r.status, r.firmware or "-"]
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


def simulate(settings: SiteCameraSettings, profs: list[CameraProfile], factory_password: str,
             quirks: dict[str, dict[str, Any]], endpoints_file: Path, base_port: int = 20000) -> None:
    from camkit.cameras.simulator import serve

    loop_run(serve(profs, factory_password, quirks, endpoints_file, base_port=base_port))
