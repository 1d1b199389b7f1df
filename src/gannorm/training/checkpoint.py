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
import zlib
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


def _alternative(path: Path) -> str:
    """The run's other checkpoint, when it is there and intact, for the error message."""
    other = {"latest.pt": "best.pt", "best.pt": "latest.pt"}.get(path.name)
    if other is None or not (path.parent / other).is_file() or damaged_member(path.parent / other) is not None:
        return ("no intact best.pt/latest.pt beside it; restore the file from a copy or train again"
                if other else "restore it from a copy or use another checkpoint of the run")
    return (f"the intact {path.parent / other} can be used instead (--checkpoint {other[:-3]} in sample, eval "
            f"and export; copied over {path.name} to resume from it)")


def damaged_member(path: Path) -> Optional[str]:
    """What is wrong with the zip archive ``path`` (the first member whose bytes do not match
    the CRC-32 its header records, or why it cannot be read); None when all members match.

    ``torch.save`` writes a zip archive with a CRC-32 per member but ``torch.load`` never
    checks them, so flipped bytes inside a tensor load as different weights. Reading every
    member once costs about what the load itself costs. Files written with
    ``torch.serialization.config.save.compute_crc32 = False`` carry zeros, and are not checked.
    """
    try:
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if i.file_size]
            if infos and all(i.CRC == 0 for i in infos):  # written without CRCs
                return None
            for info in infos:
                with z.open(info) as f:  # ZipExtFile compares the CRC-32 when the member is read to its end
                    while f.read(1 << 22):
                        pass
    except zipfile.BadZipFile as e:
        msg = str(e)
        if "Bad CRC-32" in msg:
            return f"member {msg.split('Bad CRC-32 for file ')[-1]} fails its CRC-32 check"
        return f"its zip archive cannot be read: {msg}"
    except (OSError, EOFError, ValueError, NotImplementedError, zlib.error) as e:  # truncated member
        return f"its zip archive cannot be read: {e}"
    return None


def load_checkpoint(path: str | Path, map_location="cpu") -> Dict[str, Any]:
    """The one reader for every ``.pt`` a user or another process could have written:
    ``torch.load(weights_only=True)`` (tensors, numbers, strings, lists and dicts only,
    never code), after checking each member's CRC-32, so a damaged file fails in one line
    naming it and the run's intact other checkpoint."""
    path = Path(path)
    if not path.exists():
        raise GannormError(f"checkpoint not found: {path}")
    if path.is_file() and not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is not a checkpoint
        raise GannormError(f"{path} is not a PyTorch checkpoint (not a torch.save file); give a run directory, "
                           f"RUN/checkpoints/*.pt or a file from `gannorm export`")
    if path.is_file():
        bad = damaged_member(path)
        if bad is not None:
            raise GannormError(f"{path} is damaged ({bad}: its bytes changed after it was saved); "
                               f"{_alternative(path)}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a truncated or foreign file, or pickled code: say which, never run it
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
