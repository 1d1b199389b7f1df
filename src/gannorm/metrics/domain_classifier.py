"""A small CNN classifier trained on the images' own domain, used as a feature extractor.

ImageNet networks see 28x28 Fashion-MNIST or 32x32 CIFAR-10 upsampled far from what they
were trained on; a classifier trained on the dataset itself gives features that separate
its classes (the "domain-specific" FID of e.g. the Frechet Classifier Distance used for
MNIST-like data). ``gannorm features train`` makes one; ``--extractor domain:PATH`` uses it.

Net: three 3x3 conv blocks (conv, BN, ReLU, 2x2 max-pool) of widths 32-64-128, global
average pool to a 128-d feature, linear head to the classes; Adam, cross-entropy. It is
small (~0.1 M parameters, ~400 KB) and reproducible: same seed and data, same weights.
The file holds only tensors, numbers and strings (``torch.load(weights_only=True)``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import GannormError
from ..utils.io import atomic_torch_save

FORMAT = "gannorm-domain-classifier-1"


class DomainCNN(nn.Module):
    """conv-BN-ReLU-pool x3 (widths ``widths``) -> global average pool -> linear."""

    def __init__(self, channels: int, n_classes: int, widths: Tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        layers, c = [], channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = w
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c, n_classes)
        self.feature_dim = c

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean((2, 3))

    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _to_input(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x)) if not torch.is_tensor(x) else x
    return x.float() / 127.5 - 1.0


def train_domain_classifier(images: np.ndarray, labels: np.ndarray, *, n_classes: Optional[int] = None,
                            epochs: int = 5, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                            val_fraction: float = 0.1, widths: Tuple[int, ...] = (32, 64, 128),
                            progress: bool = False) -> Tuple[DomainCNN, Dict]:
    """Train a ``DomainCNN`` on uint8 (N,C,H,W) images with integer labels.

    A seeded ``val_fraction`` of the images is held out to report accuracy. Returns the net
    (eval mode) and a dict of what was done (accuracies, sizes, seed).
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise GannormError(f"the domain classifier trains on uint8 (N,C,H,W) images, got {images.dtype} "
                           f"{images.shape}")
    if labels is None or len(labels) != len(images):
        raise GannormError("the domain classifier needs one integer label per image (a labelled dataset, "
                           "e.g. class sub-folders)")
    k = int(n_classes or labels.max() + 1)
    if k < 2:
        raise GannormError(f"the domain classifier needs at least 2 classes, the data has {k}; use a dataset "
                           f"with labels (class sub-folders)")
    if epochs < 1 or batch_size < 1 or not 0 <= val_fraction < 1:
        raise GannormError(f"epochs and batch size must be >= 1 and val_fraction in [0,1), got {epochs}, "
                           f"{batch_size}, {val_fraction}")
    if min(images.shape[2:]) < 8:
        raise GannormError(f"images of {images.shape[2]}x{images.shape[3]} are too small for the classifier's "
                           f"3 poolings; use at least 8x8")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    perm = torch.randperm(len(images), generator=gen).numpy()
    n_val = int(round(len(images) * val_fraction))
    val, train = perm[:n_val], perm[n_val:]
    net = DomainCNN(images.shape[1], k, widths)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * max(1, len(train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    x_all, y_all = torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64))
    t0 = time.perf_counter()
    net.train()
    step = 0
    for ep in range(epochs):
        order = train[torch.randperm(len(train), generator=gen).numpy()]
        for s in range(0, len(order) - batch_size + 1 if len(order) >= batch_size else 1, batch_size):
            idx = order[s:s + batch_size]
            loss = F.cross_entropy(net(_to_input(x_all[idx])), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step < steps - 1:
                sched.step()
            step += 1
        if progress:
            print(f"epoch {ep + 1}/{epochs}: loss {float(loss):.4f}", flush=True)
    net.eval()
    meta = {"n_classes": k, "channels": int(images.shape[1]), "image_size": int(images.shape[2]),
            "widths": list(widths), "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
            "n_train": int(len(train)), "n_val": int(n_val), "train_seconds": time.perf_counter() - t0,
            "train_accuracy": accuracy(net, images[train[:5000]], labels[train[:5000]]),
            "val_accuracy": accuracy(net, images[val], labels[val]) if n_val else None}
    return net, meta


@torch.no_grad()
def accuracy(net: DomainCNN, images: np.ndarray, labels: np.ndarray, batch: int = 512) -> float:
    """Top-1 accuracy of ``net`` (eval mode) on uint8 images."""
    was = net.training
    net.eval()
    hits = 0
    for s in range(0, len(images), batch):
        pred = net(_to_input(images[s:s + batch])).argmax(1).numpy()
        hits += int((pred == np.asarray(labels[s:s + batch])).sum())
    net.train(was)
    return hits / max(1, len(images))


def save_domain_classifier(net: DomainCNN, meta: Dict, path: str | Path, class_names: List[str] = (),
                           dataset: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, "state_dict": net.state_dict(),
             "meta": {**meta, "class_names": list(class_names), "dataset": dataset}}
    atomic_torch_save(state, path)
    return path


def load_domain_classifier(path: str | Path) -> Tuple[DomainCNN, Dict]:
    """Load a file written by ``save_domain_classifier`` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise GannormError(f"domain classifier file not found: {path}; make one with "
                           f"`gannorm features train --out {path}`")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise GannormError(f"cannot load domain classifier {path}: {str(e).splitlines()[0][:120]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        from .extractors import identify_network

        what = identify_network(state) if isinstance(state, dict) else type(state).__name__
        raise GannormError(f"{path.name} is {what}, not a gannorm domain classifier; make one with "
                           f"`gannorm features train --out {path.name}`")
    try:
        meta = state["meta"]
        net = DomainCNN(meta["channels"], meta["n_classes"], tuple(meta["widths"]))
        net.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # the format tag is right, the contents not
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise GannormError(f"domain classifier {path.name} is damaged ({reason}); make it again") from None
    return net.eval(), meta
