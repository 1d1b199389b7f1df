"""The classifier IS that `gannorm train` prints, against its controls.

For each image set: the Inception Score under the Fashion-MNIST classifier shipped with gannorm
(``fashion_mnist_cnn``) as a fraction of the bundled real images' (``is_ratio``), and, to show
why a confidence threshold alone cannot judge samples, the classifier's mean top-class
confidence and the fraction of images it is at least 90% sure of.

Rows: the 2,500 bundled real images (2,000 of them: the reference), real images of the
Fashion-MNIST test set (when the Debian package is installed), uniform noise, an untrained
generator of the quickstart's architecture, and the given runs' checkpoints (``--run RUN``,
each of ``RUN/checkpoints/*.pt``, e.g. a quickstart run with checkpoints every 500 iterations).

    python benchmarks/classifier_is.py --run runs/RUN [--n 2000]
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from gannorm import plugins  # noqa: F401
from gannorm import config as config_mod
from gannorm.data.bundled import fashion_mnist_small
from gannorm.data.idx import read_idx
from gannorm.evaluation.generator import open_generator
from gannorm.metrics.extractors import build_extractor
from gannorm.metrics.features import extract_generated, extract_images
from gannorm.metrics.fidelity import FeatureSet, inception_score_ratio
from gannorm.models.build import build_models

ap = argparse.ArgumentParser()
ap.add_argument("--run", action="append", default=[])
ap.add_argument("--n", type=int, default=2000)
ap.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
a = ap.parse_args()
torch.set_num_threads(1)

ext = build_extractor("fashion_mnist_cnn")
print(f"classifier: {ext.description}")
data = fashion_mnist_small()
idx = np.sort(np.random.RandomState(0).choice(len(data), a.n, replace=False))
real = FeatureSet(logits=extract_images(ext, data.images[idx])[1])


def row(name, logits):
    p = torch.softmax(logits.double(), 1).max(1).values
    r = inception_score_ratio(real, FeatureSet(logits=logits))
    print(f"| {name} | {len(logits)} | {r['is']:.2f} | {r['is_ratio']:.3f} | {p.mean():.3f} | {(p >= 0.9).float().mean():.3f} |")


print(f"\nreference: {a.n} bundled real images, IS {inception_score_ratio(real, real)['is']:.2f}\n")
print("| images | n | IS | IS / real IS | mean top-class confidence | share >= 0.9 sure |")
print("|---|---|---|---|---|---|")
row("bundled real images (the reference)", real.logits)
test = Path(a.fmnist) / "t10k-images-idx3-ubyte.gz"
if test.exists():
    x = read_idx(test)[:, None]
    row("Fashion-MNIST test-set images", extract_images(ext, x[np.random.RandomState(1).choice(len(x), a.n, replace=False)])[1])
row("uniform noise", extract_images(ext, np.random.RandomState(2).randint(0, 256, (a.n, 1, 28, 28), dtype=np.uint8))[1])
quick = config_mod.load(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml")
torch.manual_seed(0)
G, _ = build_models(quick.model, 28, 1)
row("untrained generator (quickstart's, seed 0)", extract_generated(ext, G.eval(), a.n, 256, 0, torch.device("cpu"))[1])
for run in a.run:
    for ck in sorted(Path(run, "checkpoints").glob("*.pt")):
        loaded = open_generator(run, str(ck))
        row(f"{Path(run).name} {ck.name} (iteration {loaded.iteration})", extract_generated(ext, loaded.G, a.n, 256, 0, torch.device("cpu"))[1])
