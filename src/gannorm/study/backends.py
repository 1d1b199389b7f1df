"""Where a study's cells run: ``local`` (a pool of subprocesses on this machine, the default)
or ``ray`` (Ray tasks on a local instance or a cluster; optional extra ``gannorm[ray]``).

A backend is a function ``run(study, cells, paths, store, options, on_done) -> rows`` that
trains the given cells and ingests each one into the store as it finishes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional


@dataclass
class BackendOptions:
    address: Optional[str] = None  # Ray: auto | HOST:PORT | ray://HOST:PORT; None = a new local instance
    storage: Optional[str] = None  # Ray: where run directories go (default: the study's runs/)
    resources: Dict[str, float] = field(default_factory=dict)  # per cell: cpu, gpu
    max_retries: int = 3  # Ray: attempts after a worker dies mid-cell
    halving: bool = False  # successive halving (Ray Tune's ASHA) instead of the full grid


def run_ray(study, cells, paths, store, opts: BackendOptions, on_done=None):
    # loaded only when this backend runs: they pull in torch (and Ray), which `gannorm.study` need not
    from . import halving, ray_backend

    if opts.halving:
        return halving.run_halving(study, cells, paths, store, opts, on_done)
    return ray_backend.run_cells(study, cells, paths, store, opts, on_done)


BACKENDS = {"ray": run_ray}  # "local" is the runner's own process pool
