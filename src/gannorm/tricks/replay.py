"""Experience replay for D (Shrivastava et al. 2017; Pfau & Vinyals 2016): D also sees
images G produced earlier, so G cannot win by hopping between modes D has forgotten.

A buffer keeps up to ``size`` past fakes. In each D step a fraction ``ratio`` of the
fake batch (round(ratio * N) images) is replaced by buffered images drawn at random;
then the step's new fakes enter the buffer (appended until full, then each overwrites a
random slot). Defaults: size 1000, ratio 0.5 (Shrivastava: half the batch).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..errors import GannormError
from ..hooks import Hooks
from ..registry import TRICKS


class ReplayBuffer:
    def __init__(self, size: int = 1000, ratio: float = 0.5):
        if size <= 0 or not 0.0 <= ratio <= 1.0:
            raise GannormError(f"trick replay: size must be > 0 and ratio in [0, 1], got size={size}, ratio={ratio}")
        self.size, self.ratio = int(size), float(ratio)
        self.data: Optional[torch.Tensor] = None
        self.n = 0  # filled slots

    def __len__(self) -> int:
        return self.n

    @torch.no_grad()
    def push(self, x: torch.Tensor) -> None:
        x = x.detach()
        if self.data is None:
            self.data = torch.empty(self.size, *x.shape[1:], dtype=x.dtype, device=x.device)
        k = min(len(x), self.size - self.n)
        self.data[self.n:self.n + k] = x[:k]
        self.n += k
        rest = x[k:]
        if len(rest):
            slots = torch.randint(0, self.size, (len(rest),), device=x.device)
            self.data[slots] = rest

    @torch.no_grad()
    def mix(self, fake: torch.Tensor) -> torch.Tensor:
        """The batch with round(ratio * N) of its images replaced by buffered ones."""
        k = min(int(round(self.ratio * len(fake))), self.n)
        if k == 0:
            return fake
        out = fake.clone()
        pos = torch.randperm(len(fake), device=fake.device)[:k]
        out[pos] = self.data[torch.randint(0, self.n, (k,), device=fake.device)]
        return out

    def state_dict(self):
        return {"data": None if self.data is None else self.data[:self.n].clone(), "n": self.n}

    def load_state_dict(self, s):
        self.n = int(s["n"])
        self.data = None
        if s["data"] is not None:
            d = s["data"]
            self.data = torch.empty(self.size, *d.shape[1:], dtype=d.dtype, device=d.device)
            self.data[:self.n] = d


@TRICKS.register("replay", help="D also sees past fakes from a buffer: size 1000, ratio 0.5 (Shrivastava 2017)",
                 phase="d")
class ExperienceReplay(Hooks):
    def __init__(self, size: int = 1000, ratio: float = 0.5):
        self.buffer = ReplayBuffer(size, ratio)

    def setup(self, env):
        if env.cfg is not None and "conditional" in (env.cfg.train.tricks or {}):
            raise GannormError("trick replay does not keep the labels of past fakes, so it cannot be "
                               "combined with trick conditional; drop one of them")

    def d_fake(self, fake, ctx):
        mixed = self.buffer.mix(fake)
        self.buffer.push(fake)
        return mixed

    def state_dict(self):
        return self.buffer.state_dict()

    def load_state_dict(self, s):
        self.buffer.load_state_dict(s)
