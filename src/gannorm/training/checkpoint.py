"""Checkpoints that restore everything and load with ``torch.load(weights_only=True)``.

A checkpoint holds the weights and buffers of G, D and the EMA copy (BN statistics and
power-iteration vectors are buffers, so they come along), both optimizer states, every
RNG (torch CPU and CUDA, numpy, python), the data loader's position, the iteration count
and the best running reconstruction error. It is written atomically: a crash while
saving leaves the previous checkpoint intact.

Only tensors, numbers, strings, lists and dicts are stored, so ``weights_only=True``
loading works and a downloaded checkpoint cannot run code.
"""
from __future__ import annotations

import math
import random
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..errors import GannormError
from ..utils.io import atomic_torch_save


def capture_rng() -> Dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]),
                   "gauss": py_state[2]},
    }


def restore_rng(s: Dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    if s.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    n = s["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = s["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def save_checkpoint(state: Dict[str, Any], path: str | Path) -> None:
    atomic_torch_save(state, path)


def load_checkpoint(path: str | Path, map_location="cpu") -> Dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise GannormError(f"checkpoint not found: {path}")
    if path.is_file() and not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is not a checkpoint
        raise GannormError(f"{path} is not a PyTorch checkpoint (not a torch.save file); give a run directory, "
                           f"RUN/checkpoints/*.pt or a file from `gannorm export`")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which
        raise GannormError(f"cannot load checkpoint {path}: {str(e).splitlines()[0]}") from None


def check_gannorm_checkpoint(state: Any, path: str | Path) -> Dict[str, Any]:
    """``state`` if it is a gannorm training checkpoint, else a one-line error (a torch file
    from elsewhere would fail later with a KeyError deep in the restore)."""
    fmt = state.get("format") if isinstance(state, dict) else None
    if not (isinstance(fmt, str) and fmt.startswith("gannorm-checkpoint")):
        raise GannormError(f"{path} is a torch file but not a gannorm checkpoint (no gannorm format tag); "
                           f"resume from a run directory written by 'gannorm train'")
    return state


def nonfinite_tensors(groups: Dict[str, Optional[Dict[str, torch.Tensor]]]) -> List[str]:
    """Names (``G.main.0.weight``) of the floating-point tensors holding a NaN or an infinity.

    The common all-finite case costs one fused reduction (the infinity norm
    ``max_i |x_i|`` of every tensor, which is finite exactly when the tensor is) and one
    host sync, so it can run before every save without slowing the loop.
    """
    named = [(f"{g}.{k}", t.detach()) for g, sd in groups.items() if sd for k, t in sd.items()
             if torch.is_tensor(t) and t.is_floating_point() and t.numel()]
    if not named:
        return []
    norms = torch.stack([n.float() for n in torch._foreach_norm([t for _, t in named], ord=math.inf)])
    if bool(torch.isfinite(norms).all()):
        return []
    return [name for (name, _), ok in zip(named, torch.isfinite(norms).tolist()) if not ok]
