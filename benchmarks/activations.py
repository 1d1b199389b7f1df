"""Time TPReLU (Xiang & Li 2017's translated PReLU, gannorm.nn.TPReLU) against the plain autograd
forms of the same function and against the previous hand-written version, in one run.

    python benchmarks/activations.py [--shape 64,64,32,32] [--iters 5] [--rounds 5]
                                     [--warmup 1] [--threads N] [--clock cpu]

TPReLU(x) = PReLU(x - b; clamp(s, 0, 1)) + b, per-channel s and b. Variants:
  composed  F.prelu(x - b, s.clamp(0, 1)) + b, the authors' code (plain autograd; baseline)
  where     torch.where(x > b, x, s.clamp(0, 1) (x - b) + b) (plain autograd)
  previous  the earlier single autograd.Function (below); wrong second derivatives
  tprelu    gannorm.nn.TPReLU
Two measurements per variant:
  fwd+bwd     y = f(x); backward of <y, g> to x, s, b (every training step)
  fwd+2bwd    gx = d<f(x), g>/dx with create_graph; backward of ||gx||^2 to x, s, b, g
              (what a gradient penalty does: WGAN-GP, R1, DRAGAN, GraN)
Before timing, every variant's forward and first derivatives are checked against
``composed``, and its second derivatives (of ||dL/dx||^2 + ||dL/ds||^2, every mixed term)
against ``where``'s, in float64; ``previous`` shows its error there.
Timing as in benchmarks/timing.py (interleaved rounds, median); ratios are to ``composed``
and to ``previous`` from the same run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import add_timing_args, set_threads, time_variants  # noqa: E402

from gannorm.nn import TPReLU  # noqa: E402


class PreviousTPReLUFunction(torch.autograd.Function):
    """The earlier implementation, kept as the speed baseline: saves x - b without a graph,
    so d(dL/ds)/dx and d(dL/ds)/db are lost in double backward, and masks the slope gradient
    with s in [0, 1] (closed) where torch's clamp passes it only inside (0, 1)."""

    @staticmethod
    def forward(ctx, x, slope, shift):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        b = shift.to(x.dtype).view(shape)
        d = x - b
        y = F.prelu(d, slope.clamp(0, 1).to(x.dtype))
        y.add_(b)
        ctx.save_for_backward(d, slope)
        return y

    @staticmethod
    def backward(ctx, grad):
        d, slope = ctx.saved_tensors
        shape = (1, -1) + (1,) * (d.dim() - 2)
        gd, gs = torch.ops.aten._prelu_kernel_backward(grad.to(d.dtype), d,
                                                       slope.clamp(0, 1).to(d.dtype).view(shape))
        dims = [0] + list(range(2, d.dim()))
        g_shift = grad.float().sum(dims) - gd.float().sum(dims)
        g_slope = gs.float().sum(dims) * ((slope >= 0) & (slope <= 1))
        return gd, g_slope, g_shift


def _channel(t, x):
    return t.view((1, -1) + (1,) * (x.dim() - 2))


def composed(x, s, b):
    bb = _channel(b, x)
    return F.prelu(x - bb, s.clamp(0, 1)) + bb


def where(x, s, b):
    bb = _channel(b, x)
    return torch.where(x > bb, x, _channel(s.clamp(0, 1), x) * (x - bb) + bb)


def previous(x, s, b):
    return PreviousTPReLUFunction.apply(x, s, b)


def variants(module):
    """name -> f(x, s, b); s and b must be ``module``'s own parameters (its forward reads them)."""
    def tprelu(x, s, b):
        assert s is module.weight and b is module.bias
        return module(x)
    return {"composed": composed, "where": where, "previous": previous, "tprelu": tprelu}


def first_order(f, x, s, b, g):
    return torch.autograd.grad(f(x, s, b), (x, s, b), g)


def second_order(f, x, s, b, g):
    # g requires grad: inside a network the incoming gradient depends on the later layers.
    g = g.detach().requires_grad_(True)
    gx, = torch.autograd.grad(f(x, s, b), x, g, create_graph=True)
    # gx is piecewise constant in x: its x-derivative is zero (unused in the graph)
    return torch.autograd.grad(gx.square().sum(), (x, s, b, g), allow_unused=True, materialize_grads=True)


def second_order_all(f, x, s, b, g):
    """Second derivatives of ||dL/dx||^2 + ||dL/ds||^2: every mixed term, as gradgradcheck sees them."""
    g = g.detach().requires_grad_(True)
    gx, gs = torch.autograd.grad(f(x, s, b), (x, s), g, create_graph=True)
    return torch.autograd.grad(gx.square().sum() + gs.square().sum(), (x, s, b, g),
                               allow_unused=True, materialize_grads=True)


def inputs(shape, dtype=torch.float32, seed=0):
    """x, a TPReLU module of x's channels (some slopes outside [0, 1]), its s and b, and g."""
    gen = torch.Generator().manual_seed(seed)
    module = TPReLU(shape[1]).to(dtype)
    with torch.no_grad():
        module.weight.copy_(torch.rand(shape[1], generator=gen, dtype=dtype) * 1.4 - 0.2)
        module.bias.copy_(torch.randn(shape[1], generator=gen, dtype=dtype) * 0.5)
    x = torch.randn(shape, generator=gen, dtype=dtype).requires_grad_(True)
    g = torch.randn(shape, generator=gen, dtype=dtype)
    return x, module, g


def check(shape):
    """Agreement before timing (float64, a small input of the same channels)."""
    x, module, g = inputs((2, shape[1], 3, 3), torch.float64)
    s, b = module.weight, module.bias
    ref_y = composed(x, s, b)
    ref_1 = first_order(composed, x, s, b, g)
    ref_2 = second_order_all(where, x, s, b, g)
    lines = []
    for name, f in variants(module).items():
        same_y = torch.equal(f(x, s, b), ref_y)
        err_1 = max((u - v).abs().max().item() for u, v in zip(first_order(f, x, s, b, g), ref_1))
        err_2 = max((u - v).abs().max().item() for u, v in zip(second_order_all(f, x, s, b, g), ref_2))
        lines.append(f"# check {name:<9} forward identical to composed: {same_y}; max |diff| "
                     f"first derivatives vs composed {err_1:.1e}, second vs where {err_2:.1e}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="64,64,32,32", help="N,C,H,W of the activation input")
    add_timing_args(ap, iters=5, rounds=5)
    args = ap.parse_args()
    set_threads(args)
    shape = tuple(int(v) for v in args.shape.split(","))
    for line in check(shape):
        print(line)
    x, module, g = inputs(shape)
    s, b, fns = module.weight, module.bias, variants(module)
    modes = {"fwd+bwd": first_order, "fwd+2bwd": second_order}
    jobs = {(m, v): (lambda run=run, f=f: run(f, x, s, b, g)) for m, run in modes.items() for v, f in fns.items()}
    med = time_variants(jobs, args)
    print(f"# TPReLU on a float32 {'x'.join(map(str, shape))} input; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.clock} clock, median of {args.rounds} rounds x "
          f"{args.iters} calls")
    print(f"{'mode':<10}{'variant':<10}{'ms/call':>9}{'vs composed':>13}{'vs previous':>13}")
    for (m, v), t in med.items():
        print(f"{m:<10}{v:<10}{t * 1e3:>9.2f}{t / med[(m, 'composed')]:>12.2f}x{t / med[(m, 'previous')]:>12.2f}x")


if __name__ == "__main__":
    main()
