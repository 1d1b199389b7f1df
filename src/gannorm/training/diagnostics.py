"""Live stability diagnostics of a training run, every ``train.diagnostics_every`` iterations.

What is measured (the rules that judge it are in :mod:`gannorm.health`):

- ``sv/G/<layer>``, ``sv/D/<layer>``, ``diag/sv_max_G``, ``diag/sv_max_D``: the top singular
  value of every trained weight (the parameter before any normalization, the kernel
  reshaped to ``(out, in * kh * kw)``), by power iteration (Brock et al. 2019, BigGAN
  sec. 4, watch it grow before a collapse). It starts from the layer's own spectral-norm
  vector ``u`` where it has one (SN), else from a vector kept here
  between diagnostics, so a few steps suffice;
- ``diag/grad_G``, ``diag/grad_D``: the L2 norm of the last step's gradient of all of G's,
  all of D's parameters (already computed by the step: no backward of its own);
- ``diag/grad_input_real``: the mean over a fixed batch of real training images of
  ``||grad_x D(x)||`` (the quantity R1 penalises; Mescheder et al. 2018);
- ``diag/r_t = E[sign D(x_real)]`` on that batch, ``diag/d_train``, ``diag/d_heldout``,
  ``diag/d_gen`` (D's mean raw output on it, on a fixed batch of held-out images and on
  samples at fixed z) and ``diag/r_v``, their normalised gap (Karras et al. 2020, eq. 1);
- ``diag/diversity``: mean pairwise distance of samples at a fixed z batch over that of the
  fixed real batch (:func:`gannorm.health.diversity_ratio`, as the study's table).

Nothing here changes training: the batches and z are fixed at set-up from generators of
their own, D's forward passes run on a copy of its buffers' values that is put back
afterwards (batch-norm statistics, spectral-norm vectors), the global RNG state is forked
around the whole measurement, and the values stay tensors on the device until the loop
reads them at its sync point.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

from .. import health
from ..data import to_model_range
from ..hooks import call_d, call_g
from ..nn.spectral import as_matrix, output_dim
from ..utils.images import unit_range

#: real, held-out and generated images per diagnostic (the reference diversity uses the same real batch)
SAMPLES = 64
#: power-iteration steps per diagnostic, from a warm start (the first diagnostic takes FIRST_STEPS)
POWER_STEPS, FIRST_STEPS = 4, 20
#: seeds of the fixed batches: apart from the training seed, so they never touch its streams
PICK_SEED, Z_SEED = 54321, 98765


def weight_layers(net: nn.Module) -> Iterator[Tuple[str, nn.Module, torch.Tensor, Optional[torch.Tensor]]]:
    """``(name, module, trained weight, spectral-norm u or None)`` of every layer with a
    matrix or kernel weight. The trained weight is the parametrization's ``original`` (the
    parameter SN/BSSN/weight norm normalise), else ``module.weight``."""
    for name, m in net.named_modules():
        u = None
        if parametrize.is_parametrized(m, "weight"):
            plist = m.parametrizations.weight
            w = plist.original
            for p in plist:
                # SN's u is the left singular vector of this very matrix (same reshaping); BSSN's
                # vectors belong to its own reshapings, so they are not reused
                if isinstance(getattr(p, "_u", None), torch.Tensor) and getattr(p, "dim", None) == output_dim(m):
                    u = p._u
        else:
            w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor) and w.dim() >= 2 and w.is_floating_point():
            yield name or "net", m, w, u


class Diagnostics:
    """Measures one diagnostic (:meth:`collect`); built once per run (:meth:`for_trainer`)."""

    def __init__(self, real: torch.Tensor, heldout: Optional[torch.Tensor], z: torch.Tensor,
                 y_real=None, y_heldout=None, y_gen=None, out_range=(0.0, 1.0), logit: bool = True,
                 d_forward: bool = True):
        self.real, self.heldout, self.z = real, heldout, z
        self.y_real, self.y_heldout, self.y_gen = y_real, y_heldout, y_gen
        self.out_range, self.logit, self.d_forward = out_range, logit, d_forward
        self._real_spread = health.mean_pairwise_distance(unit_range(real, out_range).cpu())
        self._u: Dict[str, torch.Tensor] = {}
        self._gen = torch.Generator().manual_seed(Z_SEED + 1)  # the power iteration's own start vectors

    @classmethod
    def for_trainer(cls, t) -> "Diagnostics":
        """The fixed batches of a trainer: SAMPLES training images, SAMPLES of the running-test
        (held-out) images, SAMPLES z (labels too for a conditional GAN)."""
        pick = np.random.RandomState(PICK_SEED)  # a generator of its own: numpy's global stream is training's
        train = np.sort(pick.choice(t.split.train, min(SAMPLES, len(t.split.train)), replace=False))
        held = np.asarray(t.split.running_test)[:SAMPLES]
        dev = t.device

        def images(idx):
            return to_model_range(torch.from_numpy(np.ascontiguousarray(t.data.images[idx])), t.out_range).to(dev)

        labels = t.data.labels if t.hooks.needs_labels and t.data.labels is not None else None

        def ys(idx):
            return None if labels is None else torch.as_tensor(np.asarray(labels)[idx], dtype=torch.long, device=dev)

        z = torch.randn(len(train), t.G.z_dim, generator=torch.Generator().manual_seed(t.cfg.train.seed + Z_SEED)).to(dev)
        return cls(images(train), images(held) if len(held) >= 2 else None, z, ys(train),
                   ys(held) if len(held) >= 2 else None, ys(train), t.out_range,
                   logit=getattr(t.loss, "d_output", "logit") == "logit",
                   # SyncBatchNorm's training forward waits for every rank: D is measured on rank 0 only
                   d_forward=not t.cfg.train.sync_bn)

    # ------------------------------------------------------------------ pieces
    @torch.no_grad()
    def singular_values(self, net: nn.Module, tag: str) -> Dict[str, torch.Tensor]:
        out = {}
        for name, m, w, u_sn in weight_layers(net):
            mat = as_matrix(w.detach().float(), output_dim(m))
            key = f"{tag}/{name}"
            u = self._u.get(key)
            steps = POWER_STEPS
            if u_sn is not None and u_sn.shape == (mat.shape[0],):
                u = u_sn.detach().float().clone()  # SN's own vector: already near the top singular vector
            elif u is None or u.shape != (mat.shape[0],):
                u = F.normalize(torch.randn(mat.shape[0], generator=self._gen).to(mat.device), dim=0)
                steps = FIRST_STEPS
            for _ in range(steps):
                v = F.normalize(mat.t().mv(u), dim=0, eps=1e-12)
                u = F.normalize(mat.mv(v), dim=0, eps=1e-12)
            self._u[key] = u
            out[f"sv/{tag}/{name}"] = torch.dot(u, mat.mv(v))
        return out

    @staticmethod
    def grad_norm(net: nn.Module) -> Optional[torch.Tensor]:
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        if not grads:
            return None
        # float64: a diverging run's gradients pass 1e19 per element, whose squares overflow
        # float32 and would read as "not finite" while the gradient still is
        return torch.stack(torch._foreach_norm(grads, 2, dtype=torch.float64)).norm()

    # ------------------------------------------------------------------ one diagnostic
    def collect(self, G: nn.Module, D: nn.Module, sampler: nn.Module) -> Dict[str, torch.Tensor]:
        """The diagnostic's values as 0-d tensors (read them where the loop syncs anyway).
        ``G`` and ``D``: the trained networks (their last gradients, their weights);
        ``sampler``: the generator whose samples are judged (the EMA copy when there is one)."""
        out: Dict[str, torch.Tensor] = {}
        devices = [self.real.device] if self.real.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), _buffers_kept(D), _buffers_kept(sampler):
            for tag, net in (("G", G), ("D", D)):
                sv = self.singular_values(net, tag)
                out.update(sv)
                if sv:
                    out[health.SV_G if tag == "G" else health.SV_D] = torch.stack(list(sv.values())).max()
                g = self.grad_norm(net)
                if g is not None:
                    out[health.GRAD_G if tag == "G" else health.GRAD_D] = g
            fake = self._samples(sampler)
            out[health.DIVERSITY] = torch.tensor(
                health.mean_pairwise_distance(unit_range(fake, self.out_range)) / max(self._real_spread, 1e-12))
            if self.d_forward:
                out.update(self._d_outputs(D, fake))
        return out

    @torch.no_grad()
    def _samples(self, g: nn.Module) -> torch.Tensor:
        was = g.training
        g.eval()  # as the sample grids and the study's diversity: batch norm on its running statistics
        try:
            return call_g(g, self.z, self.y_gen).float()
        finally:
            g.train(was)

    def _d_outputs(self, D: nn.Module, fake: torch.Tensor) -> Dict[str, torch.Tensor]:
        out = {}
        x = self.real.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            d_real = call_d(D, x, self.y_real)
            if not torch.is_tensor(d_real):
                return out
            (gx,) = torch.autograd.grad(d_real.float().sum(), x, allow_unused=True)
        if gx is not None:
            out[health.GRAD_INPUT] = torch.linalg.vector_norm(gx.flatten(1), dim=1, dtype=torch.float64).mean()
        if not self.logit:  # BEGAN, MMD: D's output is not one score per image
            return out
        d_real = d_real.detach().float().flatten()
        out[health.RT] = health.sign_rate(d_real)
        with torch.no_grad():
            out[health.D_TRAIN] = d_real.mean()
            out[health.D_GEN] = call_d(D, fake, self.y_gen).float().mean()
            if self.heldout is not None:
                out[health.D_HELDOUT] = call_d(D, self.heldout, self.y_heldout).float().mean()
        return out


def finish(values: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """The values as floats (one host sync), with r_v from the three means."""
    out = {k: float(v) for k, v in values.items()}
    if all(k in out for k in (health.D_TRAIN, health.D_HELDOUT, health.D_GEN)):
        out[health.GAP] = health.overfit_gap(out[health.D_TRAIN], out[health.D_HELDOUT], out[health.D_GEN])
    return out


@contextmanager
def _buffers_kept(net: nn.Module):
    """Run a forward pass without leaving a trace in ``net``'s buffers (batch-norm running
    statistics and counters, spectral-norm vectors move in a training-mode forward)."""
    saved: List[Tuple[torch.Tensor, torch.Tensor]] = [(b, b.detach().clone()) for b in net.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, v in saved:
                b.copy_(v)


def postfix(values: Dict[str, float]) -> Dict[str, str]:
    """The few diagnostics the progress bar shows."""
    short = {health.RT: "r_t", health.DIVERSITY: "div", health.GRAD_D: "|gD|"}
    return {name: f"{values[k]:.3g}" for k, name in short.items() if k in values and math.isfinite(values[k])}
