"""Evidence for the live health warnings: planted failures are warned about before the damage,
healthy runs get no warning, and a rollback guard saves a diverging run.

    python benchmarks/health_evidence.py healthy --seeds 0 1 --jobs 2 --workdir /tmp/health
    python benchmarks/health_evidence.py healthy --seeds 1 --jobs 1 --base-features 16 --workdir /tmp/health16
    python benchmarks/health_evidence.py planted --jobs 2 --workdir /tmp/health
    python benchmarks/health_evidence.py report --workdir /tmp/health
    python benchmarks/health_evidence.py healthy-table --workdir /tmp/health

Each run is ``gannorm train configs/quickstart.yaml`` (bundled Fashion-MNIST, DCGAN with 32
base features, or 16 with ``--base-features 16``; CPU, one thread per run) with the overrides
below; the report reads only the
run directories (metrics.jsonl, health.jsonl, outcome.json), replaying the rules of
``gannorm.health`` over the logged diagnostics.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ["train.sample_every=0", "train.checkpoint_every=100", "eval.test_interval=250"]
#: both networks normalised alike, then the D-only normalizations (G keeps the default weight norm)
NORMS = [("none", "none"), ("batch", "batch"), ("weight", "weight"), ("layer", "layer"), ("group", "group"),
         ("instance", "instance"), ("weight", "spectral"), ("weight", "spectral_strict"), ("weight", "bssn")]
#: the planted failures (configs/quickstart.yaml at 16 base features, the overrides below)
SMALL = ["model.base_features=16"]
#: RMSProp with eps 1e10 is plain SGD at lr / eps: here a linear warm-up ramps that rate from 0
#: to 0.5 (diverge-ramp) or 0.25 (diverge-slow) over the run, past what the unnormalised nets bear
DIVERGE = SMALL + ["loss=lsgan", "g_norm=none", "d_norm=none", "optim.eps=1e10", "train.checkpoint_every=50",
                   "eval.test_interval=100"]
PLANTED = {
    # (a) a learning rate that becomes too high after a few hundred iterations
    "diverge-ramp": DIVERGE + ["optim.g_lr=5e9", "optim.d_lr=5e9", "optim.warmup_iters=1000",
                               "train.iterations=1000", "train.diagnostics_every=20"],
    "diverge-slow": DIVERGE + ["optim.g_lr=1e10", "optim.d_lr=1e10", "optim.warmup_iters=4000",
                               "train.iterations=1500", "train.diagnostics_every=10", "train.log_every=5"],
    # (a3) a critic without its Lipschitz constraint (WGAN loss, clipping off) under SGD at
    # 1e-3: D's weights grow exponentially from ~150 iterations and blow up at ~390
    "diverge-critic": SMALL + ["loss=wgan", "train.loss_args={clip: 1000000.0}", "g_norm=none", "d_norm=none",
                               "optim.eps=1e10", "optim.g_lr=1e7", "optim.d_lr=1e7", "train.iterations=1000",
                               "train.diagnostics_every=10", "train.log_every=5", "train.checkpoint_every=50",
                               "eval.test_interval=100"],
    # (b) collapse candidates: no normalization in D (and G), learning rates 10-100x the default
    "collapse-none-lr1e-2": SMALL + ["g_norm=none", "d_norm=none", "optim.g_lr=1e-2", "optim.d_lr=1e-2",
                                     "train.iterations=1000", "train.diagnostics_every=20", "eval.test_interval=100"],
    "collapse-weightG-lr1e-2": SMALL + ["g_norm=weight", "d_norm=none", "optim.g_lr=1e-2", "optim.d_lr=1e-2",
                                        "train.iterations=1000", "train.diagnostics_every=20",
                                        "eval.test_interval=100"],
    # (b4) D stops learning (its learning rate decays linearly to 0 by iteration 300) while G
    # goes on: G converges on what the frozen D scores highest, and its samples become one
    "collapse-frozen-d": SMALL + ["loss=minimax", "optim.d_schedule=linear", "optim.schedule_iters=300",
                                  "train.iterations=800", "train.diagnostics_every=10", "eval.test_interval=100",
                                  "train.checkpoint_every=50"],
    "collapse-frozen-d-s1": SMALL + ["loss=minimax", "optim.d_schedule=linear", "optim.schedule_iters=300",
                                     "train.iterations=800", "train.diagnostics_every=10", "eval.test_interval=100",
                                     "train.checkpoint_every=50", "train.seed=1"],
    # (c) D overfits 200 training images (data.max_train), at 10x the default D learning rate
    "overfit": SMALL + ["data.max_train=200", "optim.d_lr=1e-3", "train.iterations=2500",
                        "train.diagnostics_every=50", "train.checkpoint_every=500"],
    "overfit-default-lr": SMALL + ["data.max_train=200", "train.iterations=3000", "train.diagnostics_every=50",
                                   "train.checkpoint_every=500"],
    "overfit-32": ["data.max_train=200", "train.iterations=2000", "train.diagnostics_every=50",
                   "train.checkpoint_every=500"],
}
GUARDED = {"diverge-ramp-rollback": PLANTED["diverge-ramp"] + ["train.guard.action=rollback",
                                                                "train.guard.on=[divergence]"],
           "diverge-critic-rollback": PLANTED["diverge-critic"] + ["train.guard.action=rollback",
                                                                  "train.guard.on=[divergence]"]}


EXTRA: list = []  # overrides every run gets (--base-features)


def train(workdir: Path, name: str, over, force=False) -> Path:
    run = workdir / name
    if (run / "checkpoints" / "latest.pt").exists() and not force:
        return run
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    log = workdir / f"{name}.log"
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-m", "gannorm", "train", str(ROOT / "configs/quickstart.yaml"), *BASE,
                        *EXTRA, *over, "--run-dir", str(run), "--quiet"], env=env, stdout=f, stderr=subprocess.STDOUT)
    return run


def _records(run: Path):
    p = run / "metrics.jsonl"
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()] if p.exists() else []


def summary(run: Path) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from gannorm.training.watch import read_events

    recs = _records(run)
    events = read_events(run)
    warnings = [e for e in events if e["event"] == "warning"]
    nonfinite = next((r["iteration"] for r in recs if any(isinstance(r.get(k), str) for k in ("d_loss", "g_loss"))), None)
    # a blow-up can leave the loss finite (a critic's output at 1e33) while a gradient overflows
    nonfinite_diag = next((r["iteration"] for r in recs
                           if any(k.startswith("diag/") and isinstance(v, str) for k, v in r.items())), None)
    log = (run.parent / f"{run.name}.log")
    text = log.read_text() if log.exists() else ""
    if nonfinite is None and "stopped being finite at iteration" in text:
        nonfinite = int(text.split("stopped being finite at iteration")[1].split()[0])
    # the damage of a collapse: the diversity ratio falling under 0.5 after it had been above
    divs = [(r["iteration"], float(r["diag/diversity"])) for r in recs if "diag/diversity" in r]
    above = next((i for i, (_, d) in enumerate(divs) if d >= 0.5), None)
    collapse_at = None if above is None else next((it for it, d in divs[above:] if d < 0.5), None)
    recon = [float(r["recon_running"]) for r in recs if "recon_running" in r]
    from gannorm import health

    # the damage of D overfitting: the running reconstruction error more than worse_by above its best before
    tests = [(r["iteration"], float(r["recon_running"])) for r in recs if "recon_running" in r]
    recon_worse_at = next((it for i, (it, v) in enumerate(tests)
                           if i and v > min(x for _, x in tests[:i]) * (1 + health.HealthConfig.worse_by)), None)

    replayed = [(e.signal, e.onset, e.iteration) for e in health.replay(recs) if e.kind == "warning"]
    out = json.loads((run / "outcome.json").read_text()) if (run / "outcome.json").exists() else None
    return {"run": run.name, "iterations": recs[-1]["iteration"] if recs else 0,
            "warnings": [(w["signal"], w["onset"], w["iteration"]) for w in warnings],
            "warnings_replayed_with_current_rules": replayed,
            "rollbacks": [(e["iteration"], e["text"]) for e in events if e["event"] == "rollback"],
            "nonfinite_at": nonfinite, "nonfinite_diagnostic_at": nonfinite_diag, "diversity_fell_below_0.5_at": collapse_at, "recon_worse_at": recon_worse_at,
            "final_recon": recon[-1] if recon else None, "outcome": out,
            "diverged_log": "stopped being finite" in text}


def healthy_table(work: Path) -> str:
    """The healthy runs of ``work`` as a markdown table: per norm pair and seed, the warnings
    raised live and replayed with the current rules, the largest top singular value over its
    reference (against the divergence rules' 2x floor and 10x growth) and the final running error."""
    sys.path.insert(0, str(ROOT / "src"))
    from gannorm import health

    rows = {}
    for run in sorted(work.glob("healthy-*-s*")):
        if not (run / "metrics.jsonl").exists():
            continue
        _, g, d, s = run.name.split("-")
        recs = _records(run)
        live = [json.loads(l) for l in (run / "health.jsonl").read_text().splitlines() if l.strip()] \
            if (run / "health.jsonl").exists() else []
        replayed = [e for e in health.replay(recs) if e.kind == "warning"]
        growth = []
        for k in (health.SV_D, health.SV_G):
            vals = [float(r[k]) for r in recs if k in r]
            if len(vals) >= 3:
                growth.append(max(vals) / sorted(vals[:3])[1])
        recon = [float(r["recon_running"]) for r in recs if "recon_running" in r]
        rows.setdefault((g[1:], d[1:]), {})[s] = (
            recs[-1]["iteration"], sum(e["event"] == "warning" for e in live), len(replayed),
            max(growth) if growth else float("nan"), recon[-1] if recon else float("nan"))
    seeds = sorted({s for v in rows.values() for s in v})
    head = "| G norm | D norm | " + " | ".join(f"seed {s[1:]}: iterations, warnings live / replayed, top sigma growth, "
                                                f"final running error" for s in seeds) + " |"
    lines = [head, "|---|---|" + "---|" * len(seeds)]
    order = [d for _, d in NORMS]
    for (g, d), v in sorted(rows.items(), key=lambda kv: order.index(kv[0][1]) if kv[0][1] in order else 99):
        cells = [f"{x[0]}, {x[1]} / {x[2]}, {x[3]:.2f}x, {x[4]:.4f}" if (x := v.get(s)) else "-" for s in seeds]
        lines.append(f"| {g} | {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["healthy", "planted", "report", "healthy-table"])
    ap.add_argument("--workdir", default="/tmp/gannorm-health")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--base-features", type=int, default=None,
                    help="model.base_features of every run (default: the config's 32; 16 is ~4x faster on a CPU)")
    ap.add_argument("--only", nargs="*", default=None, help="run only these names (healthy: the D norms)")
    a = ap.parse_args()
    if a.base_features:
        EXTRA.append(f"model.base_features={a.base_features}")
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if a.what == "healthy-table":
        print(healthy_table(work))
        return
    jobs = []
    if a.what == "healthy":
        jobs = [(f"healthy-g{g}-d{d}-s{s}", [f"g_norm={g}", f"d_norm={d}", f"train.seed={s}",
                                             f"train.iterations={a.iterations}"]) for s in a.seeds for g, d in NORMS
                if a.only is None or d in a.only]
    elif a.what == "planted":
        jobs = [j for j in list(PLANTED.items()) + list(GUARDED.items()) if a.only is None or j[0] in a.only]
    with ThreadPoolExecutor(a.jobs) as ex:
        list(ex.map(lambda j: train(work, *j), jobs))
    for run in sorted(p for p in work.iterdir() if p.is_dir()):
        print(json.dumps(summary(run)))


if __name__ == "__main__":
    main()
