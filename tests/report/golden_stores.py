"""Two fixed, fully planted study stores that exercise every section of the report, and the
page's text and figure list they render to (the golden files beside this module).

``tune_confirm``: three methods tuned over four drawn settings (one draw diverged), then
confirmed on four fresh seeds each (one diverged), scored on both checkpoints with a z-step
ladder and a sample-quality metric (one value not computed), a seeds race of two looks,
successive halving's rungs with a close cut, provenance with an earlier invocation, sample
grids and reconstruction pairs. ``panels``: two datasets as panels, a run stopped by its
guard, a killed run and a failed run, no recorded study settings (an older store).

Regenerate the golden files (only when a change to the page is intended, and say why in the
commit): ``PYTHONPATH=src python tests/report/golden_stores.py``.
"""
from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import numpy as np

from gannorm.store import selection
from gannorm.store.final_test import FinalTestSpec, quality_key, recon_key
from gannorm.store import Store

GOLDEN = Path(__file__).resolve().parent / "golden"
SCENARIOS = ("tune_confirm", "panels")


def _png(path: Path, seed: int) -> None:
    """A small deterministic 8x8 RGB PNG (a sample grid stand-in)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)


def _pairs(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    real = rng.integers(0, 256, (4, 1, 6, 6), dtype=np.uint8)
    np.savez(path, real=real, recon=(real // 2).astype(np.uint8))


def _curve(v: float, its: int, lr: float = 1.0):
    return [{"iteration": i, "recon_running": v + 0.01 * (100 - i) / 100, "d_loss": lr * (1.0 + 0.1 * np.sin(i)),
             "g_loss": 1.0 + 0.05 * i / 100} for i in range(10, its + 1, 10)]


def tune_confirm(root: Path) -> Path:
    d = root / "tune_confirm"
    d.mkdir(parents=True)
    spec = FinalTestSpec(steps=200, images=500, checkpoints=("best", "latest"), ladder=(25, 50, 100, 200, 500),
                         metrics=("fid",), n_gen=100)
    draws = {"d0": ["optim.g_lr=0.0001"], "d1": ["optim.g_lr=0.0002"], "d2": ["optim.g_lr=0.0004"],
             "d3": ["optim.g_lr=0.0008"]}
    st = Store(d / "study.db")
    st.set_meta("study", {"name": "golden tune-confirm", "final_test": spec.to_dict(),
                          "base": {"model": {"name": "dcgan"}, "train": {"iterations": 100, "batch_size": 16}},
                          "axes": {"norm": {"batch": ["model.d_norm=batch"], "spectral": ["model.d_norm=spectral"],
                                            "weight": ["model.d_norm=weight"]}, "draw": draws}})
    st.set_meta("provenance", {"gannorm": "0.9.0", "git_commit": "abc1234", "date": "2026-01-02T03:04:05",
                               "cpu": "Planted CPU", "gpu": "none", "torch": "2.0.0", "python": "3.11.0"})
    st.set_meta("history", [{"date": "2026-01-01T00:00:00", "gannorm": "0.8.0", "cpu": "Older CPU", "gpu": "none"},
                            {"date": "2026-01-02T03:04:05", "gannorm": "0.9.0", "cpu": "Planted CPU", "gpu": "none"}])
    st.set_meta("datasets", [{"name": "fashion_mnist", "root": "data/fmnist", "images": 70000}])
    best_draw = {"batch": "d1", "spectral": "d0", "weight": "d2"}
    tuned = {"batch": [0.030, 0.022, 0.027, 0.035], "spectral": [0.021, 0.025, 0.029, 0.031],
             "weight": [0.040, 0.033, 0.024, None]}
    for m, vals in tuned.items():
        for k, v in enumerate(vals):
            cid = f"draw=d{k},norm={m}"
            st.put_run({"cell_id": cid, "labels": {"draw": f"d{k}", "norm": m},
                        "status": "done" if v is not None else "diverged",
                        "error": None if v is not None else "losses stopped being finite at iteration 40",
                        "run_dir": str(d / "runs" / cid), "iterations": 100 if v is not None else 40,
                        "best_running": v, "train_seconds": 5.0, "it_per_s": 20.0, "d_wins": 0, "diversity": 0.9},
                       _curve(v if v is not None else 0.05, 100 if v is not None else 40), {})
            (d / "runs" / cid).mkdir(parents=True)  # the draw's own config: the report reads its settings there
            (d / "runs" / cid / "config.yaml").write_text(f"optim:\n  g_lr: {draws[f'd{k}'][0].split('=')[1]}\n")
    finals = {"batch": [0.0250, 0.0262, 0.0241, 0.0255], "spectral": [0.0201, 0.0213, 0.0198, 0.0207],
              "weight": [0.0301, 0.0288, None, 0.0312]}
    for mi, (m, vals) in enumerate(finals.items()):
        for s, v in enumerate(vals):
            seed = 100 + s
            cid = f"draw={best_draw[m]},norm={m},phase=confirm,seed={seed}"
            run_dir = d / "runs" / cid
            done = v is not None
            fin = {}
            if done:
                for ck, shift in (("best", 0.0), ("latest", 0.0015 * (mi - 1))):
                    val = v + shift
                    fin[recon_key(ck, 200, 500)] = {
                        "kind": "recon", "checkpoint": ck, "checkpoint_used": ck, "steps": 200, "n_images": 500,
                        "recon": val, "seconds": 3.0 + s, "checkpoint_iteration": 90 if ck == "best" else 100,
                        "ladder": {"25": val * (1.6 - 0.2 * mi), "50": val * 1.3, "100": val * 1.1, "200": val}}
                    q = None if (m == "weight" and s == 0) else 30.0 + 10 * mi + s
                    fin[quality_key(ck, "fid", "efficientnet_lite0", 100, None)] = {
                        "kind": "quality", "metric": "fid", "checkpoint": ck, "checkpoint_used": ck,
                        "extractor": "efficientnet_lite0", "n_gen": 100, "n_real": None, "value": q,
                        "error": None if q is not None else "extractor weights not found", "seconds": 2.0}
                _png(run_dir / "samples" / "final.png", 10 * mi + s)
                if s == 0:
                    _pairs(run_dir / "final" / "pairs-best.npz", mi)
            st.put_run({"cell_id": cid, "labels": {"draw": best_draw[m], "norm": m, "phase": "confirm",
                                                   "seed": str(seed)},
                        "status": "done" if done else "diverged",
                        "error": None if done else "losses stopped being finite at iteration 70",
                        "run_dir": str(run_dir), "iterations": 100 if done else 70,
                        "best_running": (v * 0.9) if done else None, "train_seconds": 12.0 + mi,
                        "it_per_s": 8.0 + mi, "d_wins": int(m == "weight" and s == 1),
                        "diversity": 0.2 if (m == "weight" and s == 3) else 0.8 + 0.01 * s, "worse_count": s % 2},
                       _curve(v if done else 0.06, 100 if done else 70, lr=1.0 + 0.1 * mi), fin)
    st.set_meta("confirm", {"settings": {"seeds": [100, 101, 102, 103], "iterations": 100},
                            "lines": ["batch: best draw d1 (score 0.022)", "spectral: best draw d0 (score 0.021)",
                                      "weight: best draw d2 (score 0.024)"]})
    st.set_meta("race", {"design": {"start": 2, "max": 4, "step": 2, "alpha": 0.05, "spending": "obrien_fleming",
                                    "budget_runs": 12},
                         "looks": [{"look": 1, "level": 0.0056, "seeds": {"batch": 2, "spectral": 2, "weight": 2},
                                    "means": {}, "leader": "spectral", "told_apart": [], "decision": "continue",
                                    "reason": "", "next_round": ["batch", "spectral", "weight"], "comparisons": []},
                                   {"look": 2, "level": 0.0444, "seeds": {"batch": 4, "spectral": 4, "weight": 4},
                                    "means": {}, "leader": "spectral", "told_apart": ["batch", "weight"],
                                    "decision": "best", "reason": "spectral is better than every other method",
                                    "next_round": [], "comparisons": []}],
                         "runs": 12})
    decisions = [{"rung": 0, "iteration": 50, "method": "spectral", "value": 0.021, "rank": 1, "of": 3,
                  "decision": "continued"},
                 {"rung": 0, "iteration": 50, "method": "batch", "value": 0.025, "rank": 2, "of": 3,
                  "decision": "continued"},
                 {"rung": 0, "iteration": 50, "method": "weight", "value": float("inf"), "rank": 3, "of": 3,
                  "decision": "stopped"},
                 {"rung": 1, "iteration": 100, "method": "spectral", "value": 0.020, "rank": 1, "of": 2,
                  "decision": "finished"}]
    selection.save(st, decisions, {"metric": "recon_running", "mode": "min", "keep": "1/2", "rungs": "50",
                                   "full_budget": 100, "iterations_used": 900, "iterations_full_grid": 1200,
                                   "scheduler": "sync",
                                   "margin@50": {"iteration": 50, "last_kept": "batch", "first_stopped": "weight",
                                                 "margin": 0.004, "se": 0.006, "close": True, "paired": True}})
    st.close()
    return d


def panels(root: Path) -> Path:
    d = root / "panels"
    d.mkdir(parents=True)
    st = Store(d / "study.db")
    vals = {("mnist", "a"): [0.011, 0.012, 0.013], ("mnist", "b"): [0.015, 0.016, 0.014],
            ("fmnist", "a"): [0.021, 0.022, None], ("fmnist", "b"): [0.020, None, None]}
    ends = {("fmnist", "a", 2): ("stopped", "stopped by the guard: D wins outright", "guard"),
            ("fmnist", "b", 1): ("killed", "killed by SIGTERM", None),
            ("fmnist", "b", 2): ("failed", "CUDA out of memory", None)}
    for (ds, m), per in vals.items():
        for s, v in enumerate(per):
            cid = f"data.name={ds},norm={m},train.seed={s}"
            status, err, by = ends.get((ds, m, s), ("done", None, None))
            fin = {} if v is None else {recon_key("best", 100, 200): {
                "kind": "recon", "checkpoint": "best", "checkpoint_used": "best" if s else "latest",
                "note": None if s else "no best.pt: scored latest.pt", "steps": 100, "n_images": 200, "recon": v,
                "checkpoint_iteration": 50 + 10 * s, "ladder": {"25": v * 2, "100": v}}}
            st.put_run({"cell_id": cid, "labels": {"data.name": ds, "norm": m, "train.seed": str(s)},
                        "status": status, "error": err, "stopped_by": by, "run_dir": str(d / "runs" / cid),
                        "iterations": 60 if v is not None else 30, "best_running": v,
                        "train_seconds": 3700.0 if ds == "mnist" else 45.0, "it_per_s": 2.5, "d_wins": None,
                        "diversity": 0.7},
                       _curve(v if v is not None else 0.03, 60 if v is not None else 30), fin)
    st.close()
    return d


def page_text(page: str) -> str:
    """The page's text: tags (and the images' inline data with them) removed, entities decoded,
    whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]*>", " ", page))).strip()


def render(root: Path, scenario: str) -> dict:
    """Build the scenario's store under ``root``, render its report and return what the
    golden files hold: the page's text, the files written beside it with their sizes, the CSV."""
    from gannorm.report import build_report

    page = build_report(globals()[scenario](root))
    out = page.parent
    return {"text": page_text(page.read_text()),
            "files": {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.name != "index.html"},
            "csv": (out / "final_test.csv").read_text()}


if __name__ == "__main__":
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    for name in (sys.argv[1:] or SCENARIOS):
        with tempfile.TemporaryDirectory() as tmp:
            got = render(Path(tmp), name)
        (GOLDEN / f"{name}.txt").write_text(got["text"].replace(". ", ".\n") + "\n")
        (GOLDEN / f"{name}.json").write_text(json.dumps({"files": got["files"], "csv": got["csv"]}, indent=1) + "\n")
        print(name, len(got["text"]), got["files"])
