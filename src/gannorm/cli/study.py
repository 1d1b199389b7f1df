"""gannorm study / results / report: run a grid of runs, query it, render it."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import GannormError
from . import cli


@cli.command()
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Study directory (default studies/<name>).")
@click.option("--jobs", "-j", default=1, show_default=True, help="Cells run at once (CPU threads are split among them).")
@click.option("--threads", type=int, default=None, help="CPU threads per cell (default: cores / jobs).")
@click.option("--retry-failed", is_flag=True, help="Run cells that failed before again.")
@click.option("--dry-run", is_flag=True, help="Validate every cell, check that its data exists, list them; run nothing.")
@click.option("--no-report", is_flag=True, help="Do not render the report at the end.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool here; ray: Ray tasks (needs pip install 'gannorm[ray]').")
@click.option("--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: a new local instance).")
@click.option("--storage", help="Ray: directory for the run directories, shared by the nodes for resuming "
                                "(default: the study's runs/).")
@click.option("--cpus-per-cell", type=float, help="Ray: CPUs per cell (overrides resources.cpu of the study file).")
@click.option("--gpus-per-cell", type=float, help="Ray: GPUs per cell, fractions share a GPU (overrides resources.gpu).")
@click.option("--max-retries", type=int, default=3, show_default=True, help="Ray: attempts after a worker dies mid-cell.")
@click.option("--halving", is_flag=True, help="Successive halving (Ray Tune ASHA) instead of the full grid; "
                                              "settings under halving: in the study file.")
def study(study_file, out_dir, jobs, threads, retry_failed, dry_run, no_report, backend, address, storage,
          cpus_per_cell, gpus_per_cell, max_retries, halving):
    """Run every cell of STUDY_FILE (base config x axes), store the results, render the report.

    Finished cells are skipped, interrupted ones resume from their checkpoint, and a failing
    cell is recorded (with its one-line reason) while the others go on. Every cell's config is
    validated before any run starts. With --backend ray the cells are Ray tasks on a local
    instance or a cluster (--address), several per GPU with fractional --gpus-per-cell.
    """
    from ..study import build_report, load_study, run_study
    from ..study.backends import BackendOptions

    s = load_study(study_file)
    out = Path(out_dir) if out_dir else Path("studies") / s.name
    if jobs < 1:
        raise GannormError(f"--jobs must be >= 1, got {jobs}")
    click.echo(f"study {s.name}: {len(s.cells)} cells ({' x '.join(f'{a.name}[{len(a.values)}]' for a in s.axes)}) "
               f"-> {out}", err=True)
    if dry_run:
        missing = _missing_data(s.cells)
        for c in s.cells:
            click.echo(f"  {c.id}: {' '.join(c.overrides)}" + (f"  [data: {missing[c.id]}]" if c.id in missing else ""))
        if missing:
            raise GannormError(f"{len(missing)} of {len(s.cells)} cells have no data (listed above); "
                               f"fix data.root / data.name before running")
        click.echo(f"data found for all {len(s.cells)} cells", err=True)
        return
    from ..study.ray_backend import storage_dir
    from ..study.store import Store
    from .study_progress import StudyProgress

    skip = 0
    if (out / "study.db").exists():
        st = Store(out / "study.db")
        skip = sum(1 for c in s.cells if st.status(c.id) in ("done", "stopped") or
                   (st.status(c.id) == "failed" and not retry_failed))
        st.close()
    resources = {**s.resources, **({"cpu": cpus_per_cell} if cpus_per_cell else {}),
                 **({"gpu": gpus_per_cell} if gpus_per_cell is not None else {})}
    opts = BackendOptions(address=address, storage=storage, resources=resources, max_retries=max_retries,
                          halving=halving or s.strategy == "halving")
    if backend == "local" and (address or storage or opts.halving or cpus_per_cell or gpus_per_cell is not None):
        raise GannormError("--address, --storage, --cpus/--gpus-per-cell and halving need --backend ray")
    with StudyProgress(s.cells, storage_dir(storage, out / "runs"), len(s.cells), skip) as progress:
        run_study(s, out, jobs=jobs, retry_failed=retry_failed, on_done=progress.done, threads=threads,
                  backend=backend, options=opts)
    if not no_report:
        page = build_report(out)
        click.echo(f"report: {page}")


def _missing_data(cells) -> dict:
    """cell id -> why its data cannot be read. A set data.root is only checked to exist (no
    decoding); a source's own default location is opened, which fails fast when absent."""
    from ..data import load_data

    seen, out = {}, {}
    for c in cells:
        d = c.config.data
        key = (d.name, d.root, repr(sorted(d.args.items())))
        if key not in seen:
            if d.root is not None:
                seen[key] = None if Path(d.root).expanduser().exists() else f"{d.root} does not exist"
            else:
                try:
                    load_data(d, quiet=True)
                    seen[key] = None
                except GannormError as e:
                    seen[key] = str(e)
        if seen[key]:
            out[c.id] = seen[key]
    return out


@cli.command()
@click.argument("study_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--where", multiple=True, help="Filter by axis label, e.g. --where norm=weight (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def results(study_dir, where, fmt):
    """List the runs of a study with their final and best running reconstruction errors."""
    import json

    from ..study.store import Store

    db = Path(study_dir) / "study.db"
    if not db.exists():
        raise GannormError(f"{study_dir} holds no study results (no study.db)")
    filt = {}
    for w in where:
        if "=" not in w:
            raise GannormError(f"--where {w!r} is not axis=label")
        k, v = w.split("=", 1)
        filt[k] = v
    rows = Store(db).runs(filt)
    cols = ["cell_id", "status", "iterations", "final_recon", "best_running", "best_iteration", "diversity", "error"]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    if fmt == "csv":
        click.echo(",".join(cols))
        for r in rows:
            click.echo(",".join("" if r[c] is None else str(r[c]).replace(",", ";") for c in cols))
        return
    click.echo(f"{'cell':40s} {'status':7s} {'iters':>6s} {'final_recon':>11s} {'best_run':>9s} {'@iter':>6s} {'divers':>6s}")
    for r in rows:
        f = lambda v, p: "-" if v is None else f"{v:.{p}f}"  # noqa: E731
        click.echo(f"{r['cell_id']:40s} {r['status']:7s} {r['iterations'] or 0:6d} {f(r['final_recon'], 5):>11s} "
                   f"{f(r['best_running'], 5):>9s} {r['best_iteration'] or 0:6d} {f(r['diversity'], 3):>6s}"
                   + (f"  {r['error']}" if r["error"] else ""))
    click.echo(f"({len(rows)} runs; reconstruction error = MSE per pixel value on [0,1], held-out images)")


@cli.command()
@click.argument("study_dir", type=click.Path(exists=True, file_okay=False))
def report(study_dir):
    """Render STUDY_DIR/report/index.html (self-contained) and its figures as PNG."""
    from ..study import build_report

    click.echo(f"report: {build_report(study_dir)}")
