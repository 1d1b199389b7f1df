"""Float32 islands for the parts of a normalization that 16-bit arithmetic breaks.

Under ``torch.autocast`` (``train.amp=bf16|fp16``) matrix products and convolutions run in
16 bits. A power iteration (SN, strict SN, BSSN), a weight norm ||w_k||, VBN's batch
moments and GraN's ||grad_x f|| are reductions over thousands of terms: in bf16 (8
mantissa bits) their relative error is ~1e-2, which moves sigma and, worse, drifts the
u/v vectors that persist from step to step and into checkpoints. So these run in float32
with autocast off and only the layer's own conv/matmul uses 16 bits -- the rule mixed-
precision libraries apply to batch norm ("keep normalization in fp32"), extended to
weight reparametrizations.

Which ops autocast lowers differs by device (on CUDA ``mv``/``dot`` run in fp16; on CPU
they stay fp32 but convolutions, e.g. strict SN's power step, are lowered), so the
decorator is applied regardless of device.
"""
from __future__ import annotations

import functools

import torch

_LOW = (torch.float16, torch.bfloat16)


def _device_type(args) -> str:
    for a in args:
        if torch.is_tensor(a):
            return a.device.type
        if isinstance(a, torch.nn.Module):  # a method's self: where its weights live
            for t in a.parameters():
                return t.device.type
    return "cpu"


def full_precision(fn):
    """Run ``fn`` with autocast off and 16-bit floating tensor arguments cast to float32."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not (torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda")):
            return fn(*args, **kwargs)  # the common case: two flag reads
        device_type = _device_type(args)
        if not torch.is_autocast_enabled(device_type):
            return fn(*args, **kwargs)
        args = tuple(a.float() if torch.is_tensor(a) and a.dtype in _LOW else a for a in args)
        with torch.autocast(device_type, enabled=False):
            return fn(*args, **kwargs)

    return wrapper


def eager_under_compile(fn):
    """Run ``fn`` eagerly even inside ``torch.compile`` (a graph break around it).

    For power-iteration parametrizations (SN, strict SN, BSSN): inductor in torch 2.14
    drops the protective clones of the u/v buffers in Miyato's update order (v first, then
    u) and saves the buffer itself for backward; the next forward's in-place update then
    fails with "modified by an inplace operation" (D(real), D(fake), backward). Computing
    the normalized weight eagerly costs one matrix-vector pair per layer; the layer's
    conv/matmul still runs in the compiled graph. tests/training/test_fastpath.py trains a
    spectral-norm D under inductor as the check.
    """
    return torch._dynamo.disable(fn, recursive=True)
