"""How every benchmark here times its variants: warm-up calls, then rounds in which each
variant runs ``--iters`` times in turn (so load on a shared machine hits all alike), and the
median over rounds of the seconds per call. ``--clock cpu`` is this process's CPU time,
steadier than wall time when other jobs share the machine (use with ``--threads 1``)."""
from __future__ import annotations

import statistics
import time

import torch


def add_timing_args(ap, iters: int, rounds: int = 3, warmup: int = 1) -> None:
    ap.add_argument("--iters", type=int, default=iters, help="timed calls per variant per round")
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--warmup", type=int, default=warmup, help="untimed calls per variant first")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu = this process's CPU time: robust when other jobs share the machine")


def set_threads(a) -> None:
    if a.threads:
        torch.set_num_threads(a.threads)


def time_variants(steps: dict, a, sync=lambda: None) -> dict:
    """name -> median seconds per call of ``steps[name]()``; ``sync`` waits for the device."""
    clock = time.perf_counter if a.clock == "wall" else time.process_time
    for fn in steps.values():  # allocator, first-call kernel selection, compiled graphs
        for _ in range(a.warmup):
            fn()
    sync()
    times = {k: [] for k in steps}
    for _ in range(a.rounds):
        for k, fn in steps.items():
            sync()
            t0 = clock()
            for _ in range(a.iters):
                fn()
            sync()
            times[k].append((clock() - t0) / a.iters)
    return {k: statistics.median(v) for k, v in times.items()}
