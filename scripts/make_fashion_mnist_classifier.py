"""Rebuild src/gannorm/metrics/bundled/fashion_mnist_cnn.pt, the classifier behind the
classifier Inception Score that ``gannorm train`` prints for Fashion-MNIST runs.

Source: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from the Debian package
``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``; IDX files in
/usr/share/datasets/fashion-mnist/). Trains gannorm's domain classifier
(``gannorm.metrics.domain_classifier.DomainCNN``, widths 32-64-128, ~94k parameters) on the
training images except the 2,500 bundled with gannorm (``data/bundled/fashion_mnist_2500.npz``,
whose ``source_index`` names them), so that the real images the classifier scores after a
quickstart run are images it never saw, like the generated ones; 5% of the rest are held out
for validation; seed 0. It then measures its accuracy on
the full 10,000-image test set and stores it in the file's metadata. Runs on one CPU thread,
so that a given torch version makes the same weights; about 6 CPU minutes.

    python scripts/make_fashion_mnist_classifier.py [--src DIR] [--out FILE] [--epochs N]
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch

from gannorm.data.bundled import BUNDLED
from gannorm.data.idx import FASHION_CLASSES, read_idx
from gannorm.metrics.domain_classifier import accuracy, save_domain_classifier, train_domain_classifier

ap = argparse.ArgumentParser()
ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src/gannorm/metrics/bundled/fashion_mnist_cnn.pt"))
ap.add_argument("--epochs", type=int, default=6)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
torch.set_num_threads(1)  # the same weights on every machine with this torch version

src = Path(a.src)
x_train = read_idx(src / "train-images-idx3-ubyte.gz")[:, None]
y_train = read_idx(src / "train-labels-idx1-ubyte.gz")
with np.load(BUNDLED) as z:
    bundled = z["source_index"]
keep = np.setdiff1d(np.arange(len(y_train)), bundled)
x_train, y_train = x_train[keep], y_train[keep]
x_test = read_idx(src / "t10k-images-idx3-ubyte.gz")[:, None]
y_test = read_idx(src / "t10k-labels-idx1-ubyte.gz")
t0 = time.process_time()
net, meta = train_domain_classifier(x_train, y_train, n_classes=10, epochs=a.epochs, seed=a.seed,
                                    val_fraction=0.05, progress=True)
meta["test_accuracy"] = accuracy(net, x_test, y_test)
meta["n_test"] = int(len(y_test))
meta["cpu_seconds"] = time.process_time() - t0
meta["torch_version"] = str(torch.__version__)  # a plain str: the file must load with weights_only=True
out = save_domain_classifier(net, meta, a.out, class_names=list(FASHION_CLASSES),
                             dataset=f"Fashion-MNIST ({len(y_train):,} train images: all but the 2,500 bundled; Debian dataset-fashion-mnist)")
print(f"wrote {out}: {out.stat().st_size} bytes; val accuracy {meta['val_accuracy']:.4f}, "
      f"test accuracy {meta['test_accuracy']:.4f} on {len(y_test)} images; {meta['cpu_seconds']:.0f} s CPU")
