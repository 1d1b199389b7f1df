"""Where a study's cells run: ``local`` (a pool of subprocesses on this machine, the default)
or ``ray`` (Ray tasks on a local instance or a cluster; optional extra ``gannorm[ray]``).

A backend is a function ``run(study, cells, paths, store, options, on_done) -> rows`` that
trains the given cells and ingests each one into the store as it finishes; its ``pool``
attribute ``pool(study, paths, options)`` gives an object whose ``run(batch, on_result)``
trains ``(cell, until)`` pairs for synchronous successive halving, as the local pool does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

from ..errors import GannormError


@dataclass
class BackendOptions:
    address: Optional[str] = None  # Ray: auto | HOST:PORT | ray://HOST:PORT; None = a new local instance
    storage: Optional[str] = None  # Ray: where run directories go (default: the study's runs/)
    resources: Dict[str, float] = field(default_factory=dict)  # per cell: cpu, gpu
    max_retries: int = 3  # Ray: attempts after a worker dies mid-cell
    halving: bool = False  # successive halving (halving.scheduler: sync by default, or asha on Ray Tune)


def storage_dir(storage: Optional[str], default: Path) -> Path:
    if not storage:
        return default
    if "://" in storage:
        raise GannormError(f"--storage {storage!r}: give a path every node can reach (e.g. a shared mount); "
                           f"URIs are not supported for run directories")
    return Path(storage).expanduser().resolve()


def runs_dir(opts: BackendOptions, paths: Dict[str, Path]) -> Path:
    """Where the study's run directories are."""
    return storage_dir(opts.storage, paths["runs"])


def run_ray(study, cells, paths, store, opts: BackendOptions, on_done=None):
    # loaded only when this backend runs: they pull in torch (and Ray), which `gannorm.study` need not
    from . import halving, ray_backend

    if opts.halving:
        return halving.run_asha(study, cells, paths, store, opts, on_done)
    return ray_backend.run_cells(study, cells, paths, store, opts, on_done)


def ray_pool(study, paths, opts: BackendOptions):
    from . import ray_backend

    return ray_backend.RayPool(study, paths, opts)


run_ray.pool = ray_pool
BACKENDS = {"ray": run_ray}  # "local" is the runner's own process pool
