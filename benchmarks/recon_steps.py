"""How the final reconstruction error converges with the number of z-optimisation steps.

The evidence behind ``EvalConfig.final_steps``: the final test of a trained run with many
steps; its mean-error curve read at doubling step counts, with the relative improvement
each doubling still brings. The default is the first count after which a doubling gains
less than 1%.

    python benchmarks/recon_steps.py RUN_DIR [--steps 2000] [--n-images 500]
"""
from __future__ import annotations

import argparse
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--checkpoint", default="best")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--n-images", type=int, default=500)
    ap.add_argument("--threshold", type=float, default=0.01, help="relative gain per doubling called flat")
    a = ap.parse_args()

    from gannorm.evaluation import final_recon_test

    t = time.perf_counter()
    ft = final_recon_test(a.run_dir, steps=a.steps, checkpoint=a.checkpoint, n_images=a.n_images, plot=True)
    dt = time.perf_counter() - t
    res, curve = ft.result, ft.result.curve
    print(ft.summary)
    print(f"({dt:.0f} s; curve figure: {ft.figures[0]})")
    counts, s = [], 25
    while s <= a.steps:
        counts.append(s)
        s *= 2
    if counts[-1] != a.steps:
        counts.append(a.steps)
    print(f"\n{'steps':>6} {'mean error':>11} {'gain vs half the steps':>24}")
    chosen = None
    for i, s in enumerate(counts):
        gain = "" if i == 0 else f"{(curve[counts[i - 1]] - curve[s]) / curve[counts[i - 1]]:.2%}"
        print(f"{s:>6} {curve[s]:>11.6f} {gain:>24}")
        if i and chosen is None and (curve[counts[i - 1]] - curve[s]) / curve[counts[i - 1]] < a.threshold:
            chosen = counts[i - 1]
    print(f"\nflat (< {a.threshold:.0%} per doubling) from {chosen} steps" if chosen
          else f"\nnot flat within {a.steps} steps at {a.threshold:.0%} per doubling")


if __name__ == "__main__":
    main()
