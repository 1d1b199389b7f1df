"""``gannorm features train``: train the small domain classifier used by ``--extractor domain:PATH``."""
from __future__ import annotations

import click

from ..errors import GannormError
from . import cli


@cli.group("features")
def features_group():
    """Feature extractors for FID/KID/IS/PR (list them with --help of gannorm eval)."""


@features_group.command("train")
@click.option("--data", "data_name", default="fashion_mnist_small", show_default=True,
              help="A labelled dataset (DATASETS name), e.g. fashion_mnist_small, fashion_mnist, folder.")
@click.option("--root", default=None, help="Its files: the folder of images for folder (class sub-folders become labels).")
@click.option("--image-size", type=int, default=None, help="Resize to this (default: the dataset's own size).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Convert to 1 or 3 channels.")
@click.option("--arg", "args", multiple=True, help="Dataset option key=value (as data.args), repeatable.")
@click.option("--n-images", type=int, default=None, help="Train on a seeded random subset of this many images.")
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Adam peak learning rate (one-cycle).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed and data, same weights.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the classifier (.pt).")
@click.option("--quiet", is_flag=True)
def train_features(data_name, root, image_size, channels, args, n_images, epochs, batch_size, lr, seed, out, quiet):
    """Train a small CNN classifier on a labelled dataset; use it with --extractor domain:OUT.

    \b
    Example (bundled Fashion-MNIST, about a minute on a laptop CPU):
      gannorm features train --data fashion_mnist_small --out fmnist-classifier.pt
      gannorm eval RUN --fid --extractor domain:fmnist-classifier.pt
    """
    import numpy as np
    import yaml

    from .. import plugins  # noqa: F401
    from ..config import DataConfig
    from ..utils.images import seeded_subset
    from ..utils.safe_yaml import safe_load
    from ..data import load_data
    from ..metrics.domain_classifier import save_domain_classifier, train_domain_classifier

    kw = {}
    for a in args:
        if "=" not in a:
            raise GannormError(f"--arg {a!r} is not key=value")
        k, v = a.split("=", 1)
        try:
            kw[k] = safe_load(v, f"--arg {a!r}")
        except yaml.YAMLError:
            raise GannormError(f"--arg {a!r}: the value is not valid YAML; quote it") from None
    data = load_data(DataConfig(name=data_name, root=root, image_size=image_size,
                                channels=int(channels) if channels else None, args=kw), quiet=quiet)
    if data.labels is None or len(np.unique(data.labels)) < 2:
        raise GannormError(f"{data.description} has no class labels; the classifier needs a labelled dataset "
                           f"(e.g. a folder with class sub-folders)")
    images, labels = data.images, data.labels
    if n_images is not None:
        if n_images < 2:
            raise GannormError(f"--n-images must be >= 2, got {n_images}")
        if n_images < len(images):
            idx = seeded_subset(len(images), n_images, seed)
            images, labels = images[idx], labels[idx]
    net, meta = train_domain_classifier(np.asarray(images), labels, n_classes=data.n_classes, epochs=epochs,
                                        batch_size=batch_size, lr=lr, seed=seed, progress=not quiet)
    desc = data.description + (f", random {len(images)} (seed {seed})" if n_images and n_images < len(data) else "")
    path = save_domain_classifier(net, meta, out, data.class_names, desc)
    val = meta["val_accuracy"]
    acc = f"validation accuracy {val:.3f} on {meta['n_val']} held-out images" if val is not None else "no validation"
    click.echo(f"domain classifier: {meta['n_classes']} classes, {net.feature_dim}-d features, {acc} "
               f"(chance {1 / meta['n_classes']:.3f}), {meta['train_seconds']:.1f}s -> {path}")
    click.echo(f"use it with: gannorm eval RUN --fid --extractor domain:{path}")
