"""The small real dataset shipped inside the package, so the default run works offline.

2,500 Fashion-MNIST training images (250 per class), 28x28 grayscale, made by
``scripts/make_bundled_fashion_mnist.py`` from the Debian package dataset-fashion-mnist.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..registry import DATASETS
from .idx import FASHION_CLASSES
from .source import ImageData

BUNDLED = Path(__file__).parent / "bundled" / "fashion_mnist_2500.npz"


def _count(root: str | None = None) -> int:
    with np.load(root or BUNDLED) as z:  # an .npz reads only the array asked for
        return len(z["labels"])


@DATASETS.register("fashion_mnist_small", help="2,500 Fashion-MNIST images bundled with gannorm (offline default)",
                   count=_count)
def fashion_mnist_small(root: str | None = None) -> ImageData:
    with np.load(root or BUNDLED) as z:
        images, labels = z["images"], z["labels"].astype(np.int64)
    return ImageData(images[:, None], labels, list(FASHION_CLASSES),
                     f"Fashion-MNIST bundled subset ({len(images)} train images, 250/class)")
