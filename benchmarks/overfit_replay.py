"""Replay the overfit rule over the logged diagnostics of finished runs (no training).

    python benchmarks/overfit_replay.py RUN_DIR [RUN_DIR ...]
    python benchmarks/overfit_replay.py --old RUN_DIR ...   # also the rule before (r_t > 0.6, r_v > 0.3)

For each run (a directory with ``metrics.jsonl`` and ``config.yaml``) it prints one markdown
row: how many images D trained on, the diagnostics' interval, the overfit warning
(onset -> raised) of ``gannorm.health.replay`` at the default thresholds over the diagnostics as
logged and over those at multiples of 100 iterations only (the default
``train.diagnostics_every``; patience counts diagnostics, so a run logged every 50 is also
judged as if logged every 100), the peak of r_v, and the damage: the first running test whose
reconstruction error is more than ``worse_by`` (10%) above the best before it (the study's
"got worse" rule, ``gannorm.health.worse_count``).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gannorm import health  # noqa: E402


def records(run: Path, every=None):
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
    if every:  # keep the other records (losses, tests); drop diagnostics off the coarser grid
        rows = [r for r in rows if not (any(k.startswith("diag/") for k in r) and r["iteration"] % every)]
    return rows


def train_images(run: Path) -> str:
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text()) or {}
    d = cfg.get("data", {})
    if d.get("max_train"):
        return str(d["max_train"])
    return "all but holdout=%s" % d.get("holdout") if d.get("holdout") else "all (default holdout)"


def warning(rows, h) -> str:
    ev = [e for e in health.replay(rows, h) if e.kind == "warning" and e.signal == health.OVERFIT]
    return f"{ev[0].onset} -> {ev[0].iteration}" if ev else "none"


def damage(rows, by=health.HealthConfig.worse_by):
    best = math.inf
    for r in rows:
        if "recon_running" in r:
            v = float(r["recon_running"])
            if v > best * (1 + by):
                return f"{r['iteration']} ({v:.4f} vs best {best:.4f})"
            best = min(best, v)
    return "none"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--old", action="store_true", help="also replay the rule before: r_t > 0.6 and r_v > 0.3")
    a = ap.parse_args()
    new, old = health.HealthConfig(), health.HealthConfig(overfit_rt=0.6, overfit_gap=0.3)
    head = ["run", "D trained on", "every", "warning (as logged)", "warning (every 100)", "peak r_v (at)", "damage"]
    if a.old:
        head.insert(5, "rule before (as logged)")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for run in a.runs:
        if not (run / "metrics.jsonl").exists():
            print(f"{run}: no metrics.jsonl, skipped", file=sys.stderr)
            continue
        rows = records(run)
        diag = [r for r in rows if health.GAP in r]
        its = [r["iteration"] for r in diag]
        every = min((b - a for a, b in zip(its, its[1:])), default=0)
        gaps = [(float(r[health.GAP]), r["iteration"]) for r in diag if math.isfinite(float(r[health.GAP]))]
        peak = "%.3f (%d)" % max(gaps) if gaps else "-"
        cells = [run.name, train_images(run), str(every), warning(rows, new), warning(records(run, 100), new),
                 peak, damage(rows)]
        if a.old:
            cells.insert(5, warning(rows, old))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
