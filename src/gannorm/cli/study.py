"""gannorm study / results / report: run a grid of runs, query it, render it."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import GannormError
from . import Count, cli


@cli.command()
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Study directory (default studies/<name>).")
@click.option("--jobs", "-j", default=1, show_default=True, type=Count(1, 1024), help="Cells run at once (CPU threads are split among them).")
@click.option("--threads", type=Count(1, 4096), default=None, help="CPU threads per cell (default: cores / jobs).")
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
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a setting of every cell (after the study's own overrides, before its axes), "
                   "e.g. --set data.root=/data/cifar10; repeatable. Give the same --set again to resume.")
@click.option("--halving", is_flag=True, help="Successive halving instead of the full grid (synchronous by default, "
                                              "on either backend); settings under halving: in the study file.")
@click.option("--allow-changes", is_flag=True, help="Train anew the cells whose run was trained with other settings "
                                                    "than the study file now gives (the old runs are kept aside).")
def study(study_file, out_dir, jobs, threads, retry_failed, dry_run, no_report, backend, address, storage,
          cpus_per_cell, gpus_per_cell, max_retries, halving, allow_changes, sets):
    """Run every cell of STUDY_FILE (base config x axes), store the results, render the report.

    Finished cells are skipped, interrupted ones resume from their checkpoint, and a failing
    cell is recorded (with its one-line reason) while the others go on; a rerun says which
    cells it skips and why. Every cell's config is validated before any run starts, and a
    cell whose run was trained with other settings is refused (or, with --allow-changes,
    trained anew). SIGTERM or Ctrl-C stops the running cells and starts no other; run the
    same command again to resume. With --backend ray the cells are Ray tasks on a local
    instance or a cluster (--address), several per GPU with fractional --gpus-per-cell.
    """
    from ..report import build_report
    from ..study import load_study, run_study
    from ..study.backends import BackendOptions

    s = load_study(study_file, list(sets))
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
    from ..store import Store
    from .study_progress import StudyProgress

    skip = 0
    if (out / "study.db").exists():
        from ..study.runner import needs_work

        st = Store(out / "study.db")
        skip = sum(1 for c in s.cells if not needs_work(st, s, c, retry_failed))
        st.close()
    resources = {**s.resources, **({"cpu": cpus_per_cell} if cpus_per_cell else {}),
                 **({"gpu": gpus_per_cell} if gpus_per_cell is not None else {})}
    opts = BackendOptions(address=address, storage=storage, resources=resources, max_retries=max_retries,
                          halving=halving or s.strategy == "halving")
    if backend == "local" and (address or storage or cpus_per_cell or gpus_per_cell is not None):
        raise GannormError("--address, --storage and --cpus/--gpus-per-cell need --backend ray")
    from ..study.cells import StudyInterrupted

    try:
        with StudyProgress(s.cells, storage_dir(storage, out / "runs"), len(s.cells), skip,
                           configs=out / "configs") as progress:
            run_study(s, out, jobs=jobs, retry_failed=retry_failed, on_done=progress.done, threads=threads,
                      backend=backend, options=opts, allow_changes=allow_changes,
                      say=lambda line: click.echo(line, err=True))
    except StudyInterrupted as e:
        click.echo(f"gannorm: {e}", err=True)
        raise SystemExit(128 + e.signum) from None
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
@click.option("--by", "by", default=None, help="One row per label of this axis (e.g. --by norm): n, mean, 95% CI, cost.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--tuning", is_flag=True, help="A study with drawn settings (sample:): per method its draws, its best "
                                             "draw, and the expected best score after 1, half and all draws.")
def results(study_dir, where, by, fmt, tuning):
    """List the runs of a study: final-test and best running reconstruction errors, cost."""
    import csv
    import io
    import json

    from ..report import analysis
    from ..store import Store

    db = Path(study_dir) / "study.db"
    if not db.exists():
        raise GannormError(f"{study_dir} holds no study results (no study.db)")
    filt = {}
    for w in where:
        if "=" not in w:
            raise GannormError(f"--where {w!r} is not axis=label")
        k, v = w.split("=", 1)
        filt[k] = v
    store = Store(db, readonly=True)  # results only read: a read-only study folder is fine
    st = analysis.load(store)
    if tuning:
        cols, rows, sentences = analysis.tuning_table(st)
    else:
        cols, rows = analysis.group_table(st, by, filt) if by else analysis.run_table(st, filt)
    store.close()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    if fmt == "csv":  # the csv module quotes cell ids, which contain commas
        buf = io.StringIO()
        w = csv.DictWriter(buf, cols, lineterminator="\n")
        w.writeheader()
        w.writerows({k: ("" if r[k] is None else r[k]) for k in cols} for r in rows)
        click.echo(buf.getvalue(), nl=False)
        return
    click.echo(_text_table(cols, rows))
    if tuning:
        for line in sentences:
            click.echo(line)
        click.echo("(score: lowest running reconstruction error of a draw's runs, on the validation split when "
                   "data.validation is set; a failed draw counts as the worst score; expected best after k draws: "
                   "Dodge et al. 2019)")
        return
    first = (st.checkpoints() or ["best"])[0]
    click.echo(f"({len(rows)} {'groups' if by else 'runs'}; reconstruction error = MSE per pixel value on [0,1], "
               f"held-out images{'; mean and 95% CI over finished runs, ' + first + ' checkpoint' if by else ''}; "
               f"train_seconds: wall-clock training time per run)")


def _text_table(cols, rows) -> str:
    """Columns as wide as their header or widest value, numbers right-aligned."""
    def fmt(v, col):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.1f}" if col in ("train_seconds", "it_per_s") else f"{v:.5f}" if abs(v) < 10 else f"{v:.4g}"
        return str(v)

    show = [c for c in cols if c != "error"]
    cells = [[fmt(r[c], c) for c in show] for r in rows]
    width = [max([len(c)] + [len(x[i]) for x in cells]) for i, c in enumerate(show)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(show, width)))]
    for r, x in zip(rows, cells):
        line = "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(x, width)))
        lines.append(line + (f"  {r['error']}" if r.get("error") else ""))
    return "\n".join(lines)


@cli.command()
@click.argument("study_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--study", "study_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The study file: records its settings (final test, axes, base config) for the report.")
def report(study_dir, study_file):
    """Render STUDY_DIR/report/index.html (self-contained) and its figures as PNG."""
    from ..report import build_report

    if study_file is not None:
        _record_settings(Path(study_dir), study_file)
    click.echo(f"report: {build_report(study_dir)}")


def _record_settings(study_dir: Path, study_file) -> None:
    """Record a study file's settings (final test, axes, base config) in a store written before
    the runner recorded them, so the report (which reads only the store) shows them."""
    from ..store import Store
    from ..study import load_study
    from ..study.provenance import record_study

    db = study_dir / "study.db"
    if not db.exists():
        raise GannormError(f"{study_dir} holds no study results (no study.db); run 'gannorm study' first")
    study = load_study(study_file)
    store = Store(db)
    try:
        record_study(store, study)
    finally:
        store.close()
