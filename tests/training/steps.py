"""Shared by the speed-setting tests: a tiny Trainer from overrides, and its first losses."""
import torch

from gannorm import config
from gannorm.training import Trainer


def trainer(tmp_path, base, *over, name="run"):
    return Trainer(config.load(None, list(base) + list(over)), tmp_path / name, quiet=True)


def losses(t, n=3):
    """(d_loss, g_loss) of ``n`` steps, stepping the iteration count as the loop does."""
    out = []
    for _ in range(n):
        o = t.step()
        t.iteration += 1
        out.append([float(o["d_loss"]), float(o["g_loss"])])
    return torch.tensor(out)
