"""How far ADA's bilinear warp (kornia warp_affine) is from exact resampling: a band-limited
test image (sinusoids up to 0.2 cycles per pixel, amplitude about 1, like images in [-1, 1])
is rotated and scaled, and the warp is compared with the image function evaluated at the
mapped coordinates, away from the border. The authors' StyleGAN2-ADA pipeline resamples
with a 2x-upsampled wavelet filter, much closer to exact; this bounds what our simpler warp
loses.

    python benchmarks/ada_warp.py
"""
import math

import torch

from gannorm.tricks.ada import warp


def f(x, y):
    return (0.5 * torch.sin(2 * math.pi * (0.05 * x + 0.03 * y)) + 0.3 * torch.cos(2 * math.pi * (0.2 * x - 0.1 * y) + 1)
            + 0.2 * torch.sin(2 * math.pi * 0.12 * y))


def main():
    H = W = 64
    ii, jj = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    c0 = (W - 1) / 2
    img = f(jj - c0, ii - c0).float()[None, None]
    print("| rotation (rad) | scale | max abs error | mean abs error |\n|---:|---:|---:|---:|")
    for th in (0.3, 1.0, 2.5):
        for s in (1.0, 1.3):
            c, sn = math.cos(th), math.sin(th)
            G = torch.tensor([[[c / s, sn / s, 0], [-sn / s, c / s, 0], [0, 0, 1]]])  # output -> input
            out = warp(img, G)[0, 0].double()
            u, v = (c * (jj - c0) + sn * (ii - c0)) / s, (-sn * (jj - c0) + c * (ii - c0)) / s
            inside = (u.abs() < c0 - 1) & (v.abs() < c0 - 1)
            err = (out - f(u, v))[inside].abs()
            print(f"| {th} | {s} | {err.max():.4f} | {err.mean():.4f} |")


if __name__ == "__main__":
    main()
