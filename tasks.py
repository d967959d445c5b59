"""Developer tasks (invoke). Thin wrappers: the logic lives in the camkit package.

    invoke setup            create .venv and install camkit with its test dependencies
    invoke validate         camkit validate on an inventory
    invoke render           camkit render on an inventory
    invoke test             the whole test suite (what .ci/run runs)
    invoke goldens [--update]
    invoke bench            validate and render of inventories/hanoi, median of several runs
    invoke rig-up --site ID [--site ID ...]   the site's servers as systemd containers, site.yml applied
    invoke rig-verify --site ID               camkit verify --hosts podman on the rig
    invoke rig-down                           remove every rig container and network
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import Context, Exit, task

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"


def _python() -> str:
    return str(PY) if PY.exists() else sys.executable


@task
def setup(c: Context) -> None:
    """Create .venv and install camkit with its pinned test dependencies."""
    if not PY.exists():
        c.run(f"{sys.executable} -m venv {VENV}")
    c.run(f"{PY} -m pip install -q --upgrade pip")
    c.run(f"{PY} -m pip install -q -e '{ROOT}[test]'")


@task(help={"inventory": "inventory folder", "locked": "fail when ipplan.lock.yml is stale",
            "strict": "capacity findings fail (what an inventory's CI runs)"})
def validate(c: Context, inventory: str = "inventories/example", locked: bool = False, strict: bool = False) -> None:
    """Validate an inventory (writes nothing)."""
    c.run(f"{_python()} -m camkit.cli validate {inventory}" + (" --locked" if locked else "")
          + (" --strict" if strict else ""), pty=False)


@task(help={"inventory": "inventory folder", "only": "comma-separated families", "site": "one site"})
def render(c: Context, inventory: str = "inventories/example", only: str = "", site: str = "") -> None:
    """Render an inventory into build/<city>/."""
    args = [f"--only {only}"] if only else []
    args += [f"--site {site}"] if site else []
    c.run(f"{_python()} -m camkit.cli render {inventory} " + " ".join(args))


@task(help={"k": "pytest -k expression", "fast": "skip the city-scale (slow) tests"})
def test(c: Context, k: str = "", fast: bool = False) -> None:
    """Run the test suite."""
    args = ["-q"]
    if k:
        args.append(f"-k '{k}'")
    if fast:
        args.append("-m 'not slow'")
    c.run(f"{_python()} -m pytest {' '.join(args)}", pty=False)


@task(help={"update": "rewrite tests/goldens/ from the current renderers"})
def goldens(c: Context, update: bool = False) -> None:
    """Check (or with --update refresh) the golden files of the example inventory."""
    from camkit.goldens import compare, render_tree
    from camkit.goldens import update as write_goldens

    tree = render_tree(ROOT / "inventories" / "example")
    golden = ROOT / "tests" / "goldens" / "example"
    if update:
        n = write_goldens(tree, golden)
        print(f"wrote {n} golden files to {golden.relative_to(ROOT)}; review with `git diff tests/goldens`")
        return
    problems = compare(tree, golden)
    for p in problems:
        print(p)
    if problems:
        raise Exit(f"{len(problems)} golden file(s) differ: `invoke goldens --update` if intended", code=1)
    print(f"{len(tree)} golden files match")


@task(help={"inventory": "inventory folder", "runs": "runs per step (median reported)",
            "radius": "also measure the RADIUS server of the biggest area (needs root, freeradius)",
            "cameras": "also apply and audit 1,000 simulated cameras", "camera_runs": "runs of the camera bench"})
def bench(c: Context, inventory: str = "inventories/hanoi", runs: int = 5, radius: bool = True,
          cameras: bool = True, camera_runs: int = 3) -> None:
    """Wall time and peak RSS of validate and render (fresh process per run), median of several runs;
    RADIUS start-up and request latency for the biggest area; 1,000 simulated cameras applied and audited."""
    from camkit.bench import CAMERA_TARGET_S, TARGETS, report, run
    from camkit.bench import cameras as camera_bench
    from camkit.bench import radius as radius_bench

    if runs < 1:
        raise Exit("--runs must be at least 1", code=2)
    results = run(ROOT / inventory, runs)
    report(Path(inventory), results)
    if radius:
        r = radius_bench(ROOT / inventory)
        print(f"RADIUS {r['site']}: {r['cameras']} cameras ({r['mab']} MAB), {r['clients']} switch clients; "
              f"ready (load + first accept) {r['ready_s']} s; MAB accept median {r['mab_median_ms']} ms, "
              f"max {r['mab_max_ms']} ms over {r['mab_requests']} requests; EAP-TLS exchange (eapol_test) "
              f"median {r['eap_tls_median_ms']} ms")
        if r["mab_max_ms"] >= 1000 or r["eap_tls_median_ms"] >= 1000:
            raise Exit("RADIUS answers slower than 1 s per request", code=1)
    slow_cameras = False
    if cameras:
        r = camera_bench(ROOT / inventory, runs=camera_runs)
        print(f"cameras {r['site']}: {r['cameras']} simulated cameras, {r['workers']} workers, {r['runs']} runs: "
              f"apply median {r['apply_median_s']} s + audit median {r['audit_median_s']} s = "
              f"{r['total_median_s']} s (max {r['total_max_s']} s; target {CAMERA_TARGET_S:g} s); inventory load + "
              f"plan + flows once {r['load_plan_s']} s; {r['status']}")
        if float(r["total_median_s"]) > CAMERA_TARGET_S:  # type: ignore[arg-type]
            slow_cameras = True
    failed = [m.step for m in results if m.median_s > TARGETS[m.step][0] or m.max_mib > TARGETS[m.step][1]]
    if slow_cameras:
        failed.append("cameras")
    if failed:
        raise Exit(f"over target: {', '.join(failed)}", code=1)


@task(iterable=["site"], help={"inventory": "inventory folder", "site": "site id (repeat for several)"})
def rig_up(c: Context, site: list[str], inventory: str = "inventories/example") -> None:
    """Create the sites' networks and server containers and converge them with playbooks/site.yml."""
    from camkit.siterig import SiteRig

    if not site:
        raise Exit("give at least one --site", code=2)
    rig = SiteRig(ROOT / inventory)
    print(rig.up(site))
    print("timings (s):", rig.timings)


@task(help={"inventory": "inventory folder", "site": "site id"})
def rig_verify(c: Context, site: str, inventory: str = "inventories/example") -> None:
    """Run `camkit verify --hosts podman` against the rig's containers of a site."""
    from camkit.siterig import SiteRig

    rig = SiteRig(ROOT / inventory)
    env = rig.env()
    c.run(f"{_python()} -m camkit.cli verify {inventory} --site {site} --hosts podman --store {rig.store} "
          f"--out {rig.work / 'verify' / site}", env=env, pty=False)


@task
def rig_down(c: Context) -> None:
    """Remove every container and network the rig created (by label)."""
    from camkit.siterig import SiteRig

    print(f"removed {SiteRig.down()} rig objects")
