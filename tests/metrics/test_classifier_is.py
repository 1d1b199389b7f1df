"""The classifier Inception Score that `gannorm train` prints: the `is_ratio` metric, the
Fashion-MNIST classifier shipped with gannorm (`fashion_mnist_cnn`), and the end-of-run figure
(gannorm.evaluation.first_look), including a missing or damaged classifier."""
import numpy as np
import pytest
import torch

from gannorm import plugins  # noqa: F401  (fills the registries)
from gannorm.data.bundled import fashion_mnist_small
from gannorm.data.idx import FASHION_CLASSES
from gannorm.data.source import ImageData
from gannorm.evaluation import first_look
from gannorm.metrics import extractors
from gannorm.metrics.domain_classifier import accuracy, load_domain_classifier
from gannorm.metrics.extractors import FASHION_MNIST_CNN, build_extractor
from gannorm.metrics.features import extract_images
from gannorm.metrics.fidelity import FeatureSet, ISOptions, inception_score_ratio


def _is_reference(logits: np.ndarray, splits: int) -> float:
    """IS from scratch (Salimans et al. 2016): mean over consecutive splits of
    exp(mean_x KL(p(y|x) || p(y))), p(y) the split's mean; float64 numpy."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(0, keepdims=True)
        scores.append(np.exp((part * (np.log(part) - np.log(py))).sum(1).mean()))
    return float(np.mean(scores))


def test_is_ratio_matches_a_from_scratch_inception_score():
    """Reference: _is_reference above on the same logits, unshuffled splits."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 10, generator=g, dtype=torch.float64) * 4
    gen = torch.randn(200, 10, generator=g, dtype=torch.float64)
    r = inception_score_ratio(FeatureSet(logits=real), FeatureSet(logits=gen), ISOptions(splits=10, shuffle=False))
    ref_g, ref_r = _is_reference(gen.numpy(), 10), _is_reference(real.numpy(), 10)
    assert r["is"] == pytest.approx(ref_g, rel=1e-4) and r["is_real"] == pytest.approx(ref_r, rel=1e-4)
    assert r["is_ratio"] == pytest.approx(ref_g / ref_r, rel=1e-4)


@pytest.fixture(scope="module")
def shipped():
    net, meta = load_domain_classifier(FASHION_MNIST_CNN)  # weights_only=True inside
    return net, meta


def test_shipped_classifier_is_small_accurate_and_never_saw_the_bundled_images(shipped):
    """Reference: the bundled 2,500 images were left out of its training set, so its accuracy
    on them, recomputed here, is a test accuracy; >= 0.88 (Fashion-MNIST CNNs of this size
    reach about 0.91)."""
    net, meta = shipped
    assert FASHION_MNIST_CNN.stat().st_size < 600_000
    assert meta["class_names"] == list(FASHION_CLASSES) and meta["n_classes"] == 10
    assert meta["test_accuracy"] >= 0.90 and meta["n_test"] == 10_000
    data = fashion_mnist_small()
    assert accuracy(net, data.images, data.labels) >= 0.88
    assert "2,500 bundled" in meta["dataset"]


def test_real_images_score_near_one_and_noise_far_below():
    """Reference: two disjoint halves of the real images must score about the same (ratio near
    1); uniform noise, which has no garment in it, far below."""
    ext = build_extractor("fashion_mnist_cnn")
    data = fashion_mnist_small()
    idx = np.random.RandomState(0).permutation(len(data))
    a, b = (FeatureSet(logits=extract_images(ext, data.images[i])[1]) for i in (idx[:1000], idx[1000:2000]))
    assert inception_score_ratio(a, b)["is_ratio"] == pytest.approx(1.0, abs=0.1)
    noise = np.random.RandomState(1).randint(0, 256, size=(1000, 1, 28, 28), dtype=np.uint8)
    n = FeatureSet(logits=extract_images(ext, noise)[1])
    assert inception_score_ratio(a, n)["is_ratio"] < 0.3


class _UniformNoise(torch.nn.Module):
    """A 'generator' whose samples are uniform noise in [0, 1], each pixel drawn from z."""
    z_dim = 784
    output_range = (0.0, 1.0)

    def forward(self, z):
        return torch.special.ndtr(z).view(-1, 1, 28, 28)  # N(0,1) -> U(0,1) by its CDF


def test_the_noise_figure_the_summary_prints_is_what_noise_scores():
    """Reference: the summary's scale figure, remeasured with the summary's own protocol."""
    r = first_look.classifier_is(_UniformNoise(), fashion_mnist_small())
    assert r["available"] and r["record"]["n_gen"] == r["record"]["n_real"] == 2000
    assert r["record"]["value"] == pytest.approx(first_look.NOISE_IS_RATIO, abs=0.03)
    assert r["record"]["value"] < 0.3


def test_end_of_run_figure_and_its_fallbacks(tmp_path, monkeypatch):
    """Reference: an untrained G makes no garments, so its figure is far below 1; a missing,
    damaged or mismatched classifier gives 'unavailable' with the reason, never an exception."""
    from gannorm.config import ModelConfig
    from gannorm.models.build import build_models

    data = fashion_mnist_small()
    torch.manual_seed(0)
    G, _ = build_models(ModelConfig(base_features=8, z_dim=16), 28, 1)
    r = first_look.classifier_is(G.eval(), data, n=500)
    assert r["available"] and r["record"]["value"] < 0.5 and r["record"]["n_real"] == 500
    assert "of the real images' score" in first_look.summary_line(r)

    missing = tmp_path / "gone.pt"
    monkeypatch.setattr(extractors, "FASHION_MNIST_CNN", missing)
    r = first_look.classifier_is(G, data, n=100)
    assert not r["available"] and "is missing" in r["reason"] and "reinstall" in r["reason"]
    assert first_look.summary_line(r).startswith("sample quality (classifier IS): unavailable: ")

    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(FASHION_MNIST_CNN.read_bytes()[:5000])
    monkeypatch.setattr(extractors, "FASHION_MNIST_CNN", damaged)
    r = first_look.classifier_is(G, data, n=100)
    assert not r["available"] and "cannot load" in r["reason"]

    state = torch.load(FASHION_MNIST_CNN, weights_only=True)
    state["state_dict"].pop("fc.weight")
    torch.save(state, damaged)
    r = first_look.classifier_is(G, data, n=100)
    assert not r["available"] and "damaged" in r["reason"]

    monkeypatch.undo()
    rgb = ImageData(np.zeros((40, 3, 28, 28), np.uint8), np.zeros(40, np.int64), ["a", "b"], "colour shapes")
    r = first_look.classifier_is(G, rgb, n=40)
    assert not r["available"] and "colour shapes" in r["reason"]
