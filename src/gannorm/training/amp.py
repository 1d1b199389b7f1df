"""Mixed precision for the training step: autocast for G and D, a grad scaler for fp16.

``train.amp``:
- ``off``  -- float32 throughout (the default; what every published figure here used).
- ``bf16`` -- forward passes and losses under ``torch.autocast(dtype=bfloat16)``. bf16 has
  float32's exponent range, so gradients cannot underflow and no scaler is needed.
- ``fp16`` -- autocast to float16 plus one ``torch.amp.GradScaler`` per network (D and G
  are stepped separately, so each keeps its own scale and skip-on-inf history).

Normalizations keep their reductions in float32 (``gannorm.nn.precision``); parameters,
optimizer state and EMA weights stay float32; the reconstruction test, FID and samples are
always computed without autocast, so a metric does not depend on the training precision.
With fp16, the entries registered with ``inner_gradient`` (gradient penalties such as gp, r1,
dragan, wgan_gp; the norms gran, gngan) take their inner gradient of an unscaled output,
which can underflow: prefer bf16 for those (a warning says so).
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Dict

import torch

from ..errors import GannormError

MODES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native(dtype: torch.dtype) -> bool:
    """Whether this CPU computes ``dtype`` in hardware (else oneDNN emulates it, slowly)."""
    cpu = torch.cpu
    if dtype is torch.bfloat16:
        return cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported()
    return cpu._is_amx_fp16_supported()


class MixedPrecision:
    """``autocast()`` around forward passes; ``backward``/``step`` through the scaler of ``which``."""

    def __init__(self, mode: str, device: torch.device):
        if mode not in MODES:
            raise GannormError(f"train.amp={mode!r} is not a precision; valid: {', '.join(MODES)}")
        self.mode, self.dtype, self.device_type = mode, MODES[mode], device.type
        if self.dtype is not None:
            if not torch.amp.is_autocast_available(self.device_type):
                raise GannormError(f"train.amp={mode}: torch has no autocast for device {device}; "
                                   f"use train.amp=off")
            if self.device_type == "cuda" and self.dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
                raise GannormError("train.amp=bf16: this GPU has no bfloat16 support; use train.amp=fp16")
            if self.device_type == "cpu" and not cpu_has_native(self.dtype):
                warnings.warn(f"train.amp={mode} on a CPU without native {mode} instructions (AVX512-BF16/AMX): "
                              f"autocast emulates it, measured ~20x slower than train.amp=off on an AVX2 CPU "
                              f"(benchmarks/RESULTS.md); AMP is meant for GPUs", stacklevel=2)
        use_scaler = self.dtype is torch.float16
        self.scalers = {k: torch.amp.GradScaler(self.device_type, enabled=use_scaler) for k in ("d", "g")}

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, which: str) -> None:
        self.scalers[which].scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, which: str) -> None:
        """Unscale, skip the step if a gradient is inf/NaN (fp16 only), adapt the scale."""
        s = self.scalers[which]
        if not s.is_enabled():
            optimizer.step()
            return
        s.step(optimizer)
        s.update()

    def state_dict(self) -> Dict:
        return {k: s.state_dict() for k, s in self.scalers.items() if s.is_enabled()}

    def load_state_dict(self, state: Dict) -> None:
        for k, s in self.scalers.items():
            if s.is_enabled() and k in (state or {}):
                s.load_state_dict(state[k])
