"""Render a study as the comparison a paper would show: a self-contained HTML page plus the
same figures as PNG files.

Methods are the cells with the seed axis removed; their runs over seeds are summarised by
mean and spread. Panels split by the dataset axis when the study has one.
"""
from __future__ import annotations

import base64
import html
import math
import shutil
import statistics
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List

import numpy as np

from ..errors import GannormError
from . import selection
from .stability import COLLAPSE_RATIO, WORSE_BY
from .store import Store

RECON_UNIT = "MSE per pixel value, pixels in [0,1]"


def _method(labels: Dict[str, str], seed_axis, panel_axis) -> str:
    parts = [f"{v}" for k, v in labels.items() if k not in (seed_axis, panel_axis)]
    return " / ".join(parts) or "all"


def _panel_axis(labels_list: List[Dict[str, str]]):
    for key in (labels_list[0] if labels_list else {}):
        if key.split(".")[-1] in ("data", "dataset", "data.name"):
            return key
    return None


def _seed_axis(labels_list):
    for key in (labels_list[0] if labels_list else {}):
        if key in ("seed", "train.seed") or key.endswith(".seed"):
            return key
    return None


def _mean_std(vals):
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    if not vals:
        return None, None, 0
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0), len(vals)


def _curves(store: Store, runs, key):
    """Mean and std over runs at the iterations all runs logged."""
    series = [dict(store.series(r["cell_id"], key)) for r in runs]
    series = [s for s in series if s]
    if not series:
        return None
    its = sorted(set.intersection(*[set(s) for s in series]))
    vals = np.array([[s[i] for i in its] for s in series], dtype=float)
    return np.array(its), np.nanmean(vals, 0), (np.nanstd(vals, 0) if len(series) > 1 else np.zeros(len(its)))


def _fig_curves(store, groups, key, ylabel, path, log=False, smooth=1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(groups)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    any_line = False
    for ax, panel in zip(axes[0], panels):
        for method, runs in groups[panel].items():
            c = _curves(store, runs, key)
            if c is None:
                continue
            its, mean, std = c
            if smooth > 1 and len(mean) > smooth:
                k = np.ones(smooth) / smooth
                mean, std = np.convolve(mean, k, "valid"), np.convolve(std, k, "valid")
                its = its[smooth - 1:]
            line, = ax.plot(its, mean, label=f"{method} (n={len(runs)})")
            ax.fill_between(its, mean - std, mean + std, color=line.get_color(), alpha=0.2)
            any_line = True
        ax.set_title(str(panel))
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    if any_line:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return path if any_line else None


def build_report(study_dir: str | Path, study_file: str | Path | None = None) -> Path:
    study_dir = Path(study_dir)
    db = study_dir / "study.db"
    if not db.exists():
        raise GannormError(f"{study_dir} holds no study results (no study.db); run 'gannorm study' first")
    store = Store(db)
    runs = store.runs()
    if not runs:
        raise GannormError(f"{db} has no runs yet")
    labels_list = [r["labels"] for r in runs]
    seed_axis, panel_axis = _seed_axis(labels_list), _panel_axis(labels_list)
    groups: Dict[str, Dict[str, List[Dict]]] = OrderedDict()
    for r in runs:
        panel = r["labels"].get(panel_axis, "all") if panel_axis else "all"
        groups.setdefault(panel, OrderedDict()).setdefault(_method(r["labels"], seed_axis, panel_axis), []).append(r)
    out = study_dir / "report"
    out.mkdir(exist_ok=True)
    figs = [
        ("Running reconstruction error (mean ± std over seeds)",
         _fig_curves(store, groups, "recon_running", f"reconstruction error\n({RECON_UNIT})", out / "recon_running.png", log=True)),
        ("Discriminator loss", _fig_curves(store, groups, "d_loss", "D loss", out / "d_loss.png", smooth=5)),
        ("Generator loss", _fig_curves(store, groups, "g_loss", "G loss", out / "g_loss.png", smooth=5)),
    ]
    # final-test table and stability summary
    table_rows, stab_rows = [], []
    for panel, methods in groups.items():
        stats = {m: _mean_std([r["final_recon"] for r in rs if r["status"] == "done"]) for m, rs in methods.items()}
        finite = {m: s[0] for m, s in stats.items() if s[0] is not None}
        best = min(finite, key=finite.get) if finite else None
        for m, rs in methods.items():
            mean, std, n = stats[m]
            steps = {r["final_steps"] for r in rs if r["final_steps"]}
            imgs = {r["final_images"] for r in rs if r["final_images"]}
            running = [[v for _, v in store.series(r["cell_id"], "recon_running")] for r in rs]
            last_run = _mean_std([v[-1] for v in running if v])
            best_run = _mean_std([min(v) for v in running if v])
            table_rows.append((panel, m, mean, std, n, len(rs), m == best, steps, imgs, last_run, best_run))
            failed = [r for r in rs if r["status"] != "done"]
            diverged = sum(1 for r in failed if r["error"] and ("nan" in r["error"] or "inf" in r["error"]))
            collapsed = sum(1 for r in rs if r["diversity"] is not None and r["diversity"] < COLLAPSE_RATIO)
            dwins = sum(1 for r in rs if r["d_wins"])
            worse = [r["worse_count"] for r in rs if r["worse_count"] is not None]
            div = _mean_std([r["diversity"] for r in rs])
            stab_rows.append((panel, m, len(rs), diverged, len(failed) - diverged, collapsed, dwins,
                              sum(worse) if worse else None, div[0], std))
    # sample grids side by side: the first seed of each method (same fixed z across methods)
    grids = []
    for panel, methods in groups.items():
        for m, rs in methods.items():
            r = sorted(rs, key=lambda r: str(r["labels"].get(seed_axis, "")))[0]
            src = Path(r["run_dir"]) / "samples" / "final.png"
            if src.exists():
                dst = out / f"samples-{r['cell_id']}.png"
                shutil.copyfile(src, dst)
                grids.append((panel, m, r["cell_id"], dst))
    page = _html(study_dir, figs, table_rows, stab_rows, grids, runs).replace("</body>", selection.render(store) + "</body>")
    (out / "index.html").write_text(page)
    _write_csv(out / "final_test.csv", table_rows)
    store.close()
    return out / "index.html"


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _fmt(mean, std):
    return "–" if mean is None else f"{mean:.5f} ± {std:.5f}"


def _write_csv(path, rows):
    lines = ["panel,method,final_recon_mean,final_recon_std,n_done,n_runs,best"]
    for panel, m, mean, std, n, total, best, *_ in rows:
        lines.append(f"{panel},{m},{'' if mean is None else mean},{'' if std is None else std},{n},{total},{int(best)}")
    path.write_text("\n".join(lines) + "\n")


def _html(study_dir, figs, table_rows, stab_rows, grids, runs) -> str:
    e = html.escape
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>gannorm study: {e(study_dir.name)}</title>",
         "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
         "th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}.best{font-weight:bold;background:#e8f5e9}"
         ".grids{display:flex;flex-wrap:wrap;gap:16px}.grids figure{margin:0}.grids img{width:260px;image-rendering:pixelated}"
         "small{color:#666}</style></head><body>",
         f"<h1>Study {e(study_dir.name)}</h1>",
         f"<p>{len(runs)} runs; {sum(r['status'] == 'done' for r in runs)} finished. Reconstruction error: "
         f"{RECON_UNIT} (Xiang &amp; Li 2017): z optimised by RMSProp from 0 so that G(z) matches each held-out "
         f"image; lower is better.</p>",
         "<h2>Final test (reconstruction error on the held-out final set)</h2>",
         "<table><tr><th>panel</th><th>method</th><th>mean ± std over seeds</th><th>runs done / total</th>"
         "<th>steps</th><th>images</th><th>running test: lowest</th><th>running test: last</th></tr>"]
    for panel, m, mean, std, n, total, best, steps, imgs, last_run, best_run in table_rows:
        cls = " class='best'" if best else ""
        h.append(f"<tr{cls}><td>{e(str(panel))}</td><td>{e(m)}{' (best)' if best else ''}</td><td>{_fmt(mean, std)}</td>"
                 f"<td>{n} / {total}</td><td>{', '.join(map(str, sorted(steps)))}</td>"
                 f"<td>{', '.join(map(str, sorted(imgs)))}</td><td>{_fmt(*best_run[:2])}</td>"
                 f"<td>{_fmt(*last_run[:2])}</td></tr>")
    h.append("</table><p><small>The final test scores each run's checkpoint with the lowest running error "
             "(the authors' protocol). Running test: the running held-out images with the run's "
             "eval.test_steps, every eval.test_interval iterations.</small></p>")
    for title, path in figs:
        if path:
            h.append(f"<h2>{e(title)}</h2><img src='{_img(path)}' style='max-width:100%'>")
    h.append("<h2>Stability</h2><table><tr><th>panel</th><th>method</th><th>runs</th><th>diverged (NaN/inf)</th>"
             "<th>other failures</th><th>collapsed</th><th>D wins outright</th>"
             f"<th>running error worse by &gt;{WORSE_BY:.0%}</th><th>diversity ratio</th><th>final std over seeds</th></tr>")
    for panel, m, n, div, other, col, dw, worse, divr, std in stab_rows:
        h.append(f"<tr><td>{e(str(panel))}</td><td>{e(m)}</td><td>{n}</td><td>{div}</td><td>{other}</td><td>{col}</td>"
                 f"<td>{dw}</td><td>{'–' if worse is None else worse}</td>"
                 f"<td>{'–' if divr is None else f'{divr:.3f}'}</td><td>{'–' if std is None else f'{std:.5f}'}</td></tr>")
    h.append(f"</table><p><small>collapsed: mean pairwise distance of 256 samples below {COLLAPSE_RATIO} of real "
             "images'; D wins outright: D(real) &gt; 0.99 and D(fake) &lt; 0.01 over the last 5 logged steps.</small></p>")
    h.append("<h2>Samples at the same fixed z (first seed of each method)</h2><div class='grids'>")
    for panel, m, cid, path in grids:
        h.append(f"<figure><img src='{_img(path)}'><figcaption>{e(str(panel))}: {e(m)}</figcaption></figure>")
    h.append("</div>")
    failed = [r for r in runs if r["status"] != "done"]
    if failed:
        h.append("<h2>Failed runs</h2><ul>")
        for r in failed:
            h.append(f"<li>{e(r['cell_id'])}: {e(r['error'] or '')}</li>")
        h.append("</ul>")
    h.append("</body></html>")
    return "\n".join(h)
