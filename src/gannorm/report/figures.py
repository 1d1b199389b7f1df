"""The report's figures (matplotlib, PNG), each full width and labelled with what it shows."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from . import analysis as A

WIDTH = 12.0  # inches at 100 dpi: the page's full width


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scale(ax, values, log: bool) -> None:
    """Log scale only when the values span more than a decade: on a narrower range a log axis
    has no labelled ticks."""
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0])
    if log and len(v) and v.max() / v.min() > 10:
        ax.set_yscale("log")


def _axes(n_panels: int, height: float = 4.0):
    plt = _plt()
    cols = min(n_panels, 2)
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, height * rows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return plt, fig, list(axes.flat)


def curves(study: A.StudyResults, key: str, ylabel: str, path: Path, log: bool = False,
           smooth: int = 1) -> Optional[Path]:
    """Mean +- std over seeds of a logged value per method; where runs stopped early the line
    turns dashed and the mean is over the runs still alive (n in the legend)."""
    plt, fig, axes = _axes(len(study.panels))
    drawn = False
    for ax, panel in zip(axes, study.panels):
        for method, runs in study.groups[panel].items():
            c = A.curve(study.store, runs, key)
            if c is None:
                continue
            its, mean, std, n = c
            if smooth > 1 and len(mean) > 10 * smooth:  # short curves stay as logged
                k = np.ones(smooth) / smooth
                mean, std = np.convolve(mean, k, "valid"), np.convolve(std, k, "valid")
                its, n = its[smooth - 1:], n[smooth - 1:]  # n only falls: a window's n is its last
            full = n == n.max()
            label = f"{method} (n={n.max()}" + (f", {n.min()} after iteration {its[~full][0]}" if (~full).any() else "") + ")"
            line, = ax.plot(np.where(full, its, np.nan), np.where(full, mean, np.nan), label=label)
            if (~full).any():
                cut = np.argmax(~full) - 1 if np.argmax(~full) > 0 else 0
                ax.plot(its[cut:], mean[cut:], ls="--", color=line.get_color())
            ax.fill_between(its, mean - std, mean + std, color=line.get_color(), alpha=0.15)
            drawn = True
        if panel:
            ax.set_title(str(panel))
        ax.set_xlabel("training iteration")
        ax.set_ylabel(ylabel)
        _scale(ax, [y for line in ax.get_lines() for y in line.get_ydata()], log)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=9)
    fig.tight_layout()
    if drawn:
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return path if drawn else None


def budgets(study: A.StudyResults, tables: Dict[str, "A.Budgets"], ylabel: str, path: Path) -> Optional[Path]:
    """Final-test error against the z-step budget, per method (mean +- std over seeds)."""
    panels = [p for p in study.panels if tables.get(p)]
    if not panels:
        return None
    plt, fig, axes = _axes(len(panels))
    for ax, panel in zip(axes, panels):
        t = tables[panel]
        for method, per in t.stats.items():
            # a budget whose values are all missing (stored NULL) has no mean: a gap in the line
            mean = np.array([np.nan if per[b].mean is None else per[b].mean for b in t.budgets], dtype=float)
            std = np.array([per[b].std or 0.0 for b in t.budgets], dtype=float)
            n = min(per[b].n for b in t.budgets)
            line, = ax.plot(t.budgets, mean, marker="o", label=f"{method} (n={n})")
            ax.fill_between(t.budgets, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        ax.set_xscale("log")
        _scale(ax, [y for line in ax.get_lines() for y in line.get_ydata()], True)
        ax.set_xticks(t.budgets, [str(b) for b in t.budgets])
        ax.minorticks_off()
        ax.set_xlabel("z-optimisation steps (budget)")
        ax.set_ylabel(ylabel)
        if panel:
            ax.set_title(str(panel))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def pairs(rows: List[tuple], path: Path, pad: int = 2) -> Optional[Path]:
    """Held-out images over their reconstructions, one block of two rows per method, the rows
    labelled "real" and "reconstruction". ``rows``: (title, real uint8 (N,C,H,W), recon uint8)."""
    if not rows:
        return None
    plt = _plt()
    c, h, w = rows[0][1].shape[1:]
    n = max(len(r[1]) for r in rows)
    tile = lambda imgs: np.concatenate(  # noqa: E731  one row of images with a white gap between
        [np.pad(imgs[j].transpose(1, 2, 0) if j < len(imgs) else np.full((h, w, c), 255, np.uint8),
                ((pad, pad), (pad, pad), (0, 0)), constant_values=255) for j in range(n)], axis=1)
    blocks, ticks, labels = [], [], []
    y = 0
    for title, real, rec in rows:
        for name, imgs in (("real", real), ("reconstruction", rec)):
            blocks.append(tile(imgs))
            ticks.append(y + (h + 2 * pad) / 2)
            labels.append(f"{title}\n{name}" if name == "real" else name)
            y += h + 2 * pad
        blocks.append(np.full((3 * pad, blocks[-1].shape[1], c), 255, np.uint8))  # space between methods
        y += 3 * pad
    mosaic = np.concatenate(blocks, axis=0)
    scale = 4  # pixels per image pixel at 100 dpi
    fig, ax = plt.subplots(figsize=(mosaic.shape[1] * scale / 100 + 3.5, mosaic.shape[0] * scale / 100 + 0.2))
    ax.imshow(mosaic[..., 0] if c == 1 else mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks(ticks, labels, fontsize=9)
    for sp in ax.spines.values():
        sp.set_visible(False)
    ax.tick_params(left=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def tuning(tun: "A.Tuning", ylabel: str, path: Path) -> Optional[Path]:
    """Per panel: each method's validation score of every draw (a strip, failed draws as x at
    the panel's worst score) and the expected best after k draws with its bootstrap band
    (Dodge et al. 2019)."""
    panels = list(tun.scores)
    if not panels:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(panels), 2, figsize=(WIDTH, 4.0 * len(panels)), squeeze=False)
    for row, panel in zip(axes, panels):
        strip, curve = row
        for i, (method, draws) in enumerate(tun.scores[panel].items()):
            v = np.asarray(list(draws.values()), dtype=float)
            x = i + np.linspace(-0.15, 0.15, len(v)) if len(v) > 1 else np.full(len(v), float(i))
            ok = np.isfinite(v)
            strip.plot(x[ok], v[ok], "o", alpha=0.7, color=f"C{i}")
            if (~ok).any() and tun.failed_value[panel] is not None:
                strip.plot(x[~ok], np.full((~ok).sum(), tun.failed_value[panel]), "x", color=f"C{i}")
            c = tun.curves[panel][method]
            curve.plot(c.k, c.mean, "-o", ms=3, color=f"C{i}", label=f"{method} ({c.n} draws)")
            curve.fill_between(c.k, c.low, c.high, color=f"C{i}", alpha=0.15)
        names = list(tun.scores[panel])
        strip.set_xticks(range(len(names)))
        strip.set_xticklabels(names, rotation=20)
        strip.set_ylabel(ylabel)
        strip.set_title((f"{panel}: " if panel else "") + "score of each draw (x: failed)")
        curve.set_xlabel("draws k")
        curve.set_ylabel(f"expected best of k\n{ylabel}")
        curve.set_title("expected best after k draws, 95% bootstrap band")
        curve.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
