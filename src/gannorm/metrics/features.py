"""Images -> features: batched extraction of real images and of a generator's samples.

Generated images are quantized to uint8 before extraction, exactly as real images are
stored, as the FID references do (TTUR, StyleGAN's metric code, torch-fidelity): otherwise
the generated set would carry sub-quantum detail no real image has, a systematic offset.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

from ..errors import GannormError
from ..utils.progress import Progress, ProgressArg
from .extractors import FeatureExtractor

QUANTIZATION = "generated images quantized to uint8 (round((x - lo) / (hi - lo) * 255)) before extraction"


def quantize(x: torch.Tensor, out_range=(-1.0, 1.0)) -> torch.Tensor:
    """Map a generator's output range to uint8 with rounding, as stored real images are."""
    lo, hi = out_range
    return ((x.float() - lo) * (255.0 / (hi - lo))).round_().clamp_(0, 255).to(torch.uint8)


@torch.inference_mode()
def extract_images(extractor: FeatureExtractor, images, batch_size: int = 64,
                   device: Optional[torch.device] = None, progress: ProgressArg = False,
                   desc: str = "real images") -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Features and logits of uint8 images (a numpy array or memory map, or a tensor);
    ``progress`` as in ``gannorm.utils.progress`` (counts images)."""
    n = len(images)
    if n == 0:
        raise GannormError("no images to extract features from")
    dev = device or next(extractor.parameters()).device
    feats, logits = [], []
    with Progress(progress, n, f"features of {desc}", unit="img") as bar:
        for s in range(0, n, batch_size):
            x = images[s:s + batch_size]
            x = torch.from_numpy(np.ascontiguousarray(x)) if not torch.is_tensor(x) else x
            f, l = extractor(x.to(dev))
            feats.append(f.cpu())
            if l is not None:
                logits.append(l.cpu())
            bar.update(len(x))
    return torch.cat(feats), (torch.cat(logits) if logits else None)


@torch.inference_mode()
def sample_images(generator: torch.nn.Module, n: int, batch_size: int = 64, seed: int = 0,
                  device: Optional[torch.device] = None) -> torch.Tensor:
    """``n`` uint8 samples of G (eval mode) from z ~ N(0, I) drawn by a private seeded generator."""
    dev = device or next(generator.parameters()).device
    out_range = getattr(generator, "output_range", (0.0, 1.0))
    gen = torch.Generator().manual_seed(seed)
    was = generator.training
    generator.eval()
    try:
        out = [quantize(generator(torch.randn(min(batch_size, n - s), generator.z_dim, generator=gen).to(dev)),
                        out_range).cpu() for s in range(0, n, batch_size)]
    finally:
        generator.train(was)
    return torch.cat(out)


def extract_generated(extractor: FeatureExtractor, generator: torch.nn.Module, n: int, batch_size: int = 64,
                      seed: int = 0, device: Optional[torch.device] = None,
                      progress: ProgressArg = False) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Features and logits of ``n`` quantized samples of G."""
    if n < 1:
        raise GannormError(f"the number of generated images must be >= 1, got {n}")
    imgs = sample_images(generator, n, batch_size, seed, device)
    return extract_images(extractor, imgs, batch_size, device, progress, desc="generated images")
