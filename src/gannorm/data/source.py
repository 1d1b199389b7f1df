"""The in-memory form every dataset is decoded into once.

All sources produce an ``ImageData``: uint8 images laid out (N, C, H, W) (a numpy array or
a read-only memory map) and optional integer labels. Training then indexes this array
directly, so no image is decoded in the inner loop and the data order is a pure function
of a seeded generator (which makes resume exact).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from ..errors import GannormError


@dataclass
class ImageData:
    images: np.ndarray  # uint8 (N, C, H, W)
    labels: Optional[np.ndarray] = None  # int64 (N,)
    class_names: List[str] = field(default_factory=list)
    description: str = ""  # what it is and where it came from, for run records
    cache: Optional[str] = None  # the prepared cache directory it was read from, if any
    skipped: List[str] = field(default_factory=list)  # unreadable images left out (skip_bad)

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"ImageData wants uint8 (N,C,H,W), got {self.images.dtype} {self.images.shape}")
        if len(self.images) == 0:
            raise GannormError(f"the dataset is empty ({self.description})")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> int:
        return self.images.shape[2]

    @property
    def n_classes(self) -> Optional[int]:
        """Number of classes (None when the data has no labels)."""
        if self.labels is None or len(self.labels) == 0:
            return None
        return max(len(self.class_names), int(self.labels.max()) + 1)

    def spec(self) -> "ImageSpec":
        return ImageSpec(self.size, self.channels, self.n_classes, list(self.class_names), self.description)


@dataclass
class ImageSpec:
    """What a model built for some data needs to know about it, without the images: a
    checkpoint stores this so a generator can be rebuilt where the data is absent."""

    size: int
    channels: int
    n_classes: Optional[int] = None
    class_names: List[str] = field(default_factory=list)
    description: str = ""


def convert(data: ImageData, image_size: int | None, channels: int | None) -> ImageData:
    """Resize (bilinear, antialiased; center-crop to square first) and convert channels."""
    imgs = data.images
    if channels is not None and channels != imgs.shape[1]:
        if channels == 3 and imgs.shape[1] == 1:
            imgs = np.repeat(imgs, 3, axis=1)
        elif channels == 1 and imgs.shape[1] == 3:
            # ITU-R 601 luma, as PIL's convert("L")
            f = imgs.astype(np.float32)
            imgs = np.clip(np.rint(0.299 * f[:, 0] + 0.587 * f[:, 1] + 0.114 * f[:, 2]), 0, 255)
            imgs = imgs.astype(np.uint8)[:, None]
        else:
            raise GannormError(f"cannot convert {imgs.shape[1]}-channel images to {channels} channels")
    h, w = imgs.shape[2:]
    if image_size is not None and (h != image_size or w != image_size):
        imgs = _resize(imgs, image_size)
    if imgs is data.images:
        return data
    return ImageData(np.ascontiguousarray(imgs), data.labels, data.class_names,
                     data.description + f" -> {imgs.shape[1]}x{imgs.shape[2]}x{imgs.shape[3]}",
                     data.cache, data.skipped)


def _resize(imgs: np.ndarray, size: int, chunk: int = 4096) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    out = np.empty((len(imgs), imgs.shape[1], size, size), np.uint8)
    for s in range(0, len(imgs), chunk):
        x = torch.from_numpy(np.asarray(imgs[s:s + chunk])).float()
        h, w = x.shape[2:]
        if h != w:  # center crop to square
            m = min(h, w)
            t, l = (h - m) // 2, (w - m) // 2
            x = x[:, :, t:t + m, l:l + m]
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[s:s + chunk] = x.round().clamp(0, 255).to(torch.uint8).numpy()
    return out
