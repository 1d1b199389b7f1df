"""Rebuild src/gannorm/data/bundled/fashion_mnist_2500.npz.

Source: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), training set, from the Debian package
``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``), which installs the
IDX files in /usr/share/datasets/fashion-mnist/. Picks the first 250 images of each class
in file order (deterministic; no RNG), 2,500 in all.

    python scripts/make_bundled_fashion_mnist.py [--src DIR] [--out FILE]
"""
import argparse
from pathlib import Path

import numpy as np

from gannorm.data.idx import read_idx

ap = argparse.ArgumentParser()
ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src/gannorm/data/bundled/fashion_mnist_2500.npz"))
ap.add_argument("--per-class", type=int, default=250)
a = ap.parse_args()

images = read_idx(Path(a.src) / "train-images-idx3-ubyte.gz")
labels = read_idx(Path(a.src) / "train-labels-idx1-ubyte.gz")
keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[: a.per_class] for c in range(10)]))
np.savez_compressed(a.out, images=images[keep], labels=labels[keep].astype(np.uint8), source_index=keep.astype(np.int32))
print(f"wrote {a.out}: {len(keep)} images, {Path(a.out).stat().st_size} bytes")
