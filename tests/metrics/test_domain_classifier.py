"""The domain classifier behind --extractor domain:PATH (gannorm.metrics.domain_classifier)."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gannorm.cli import cli
from gannorm.data.bundled import fashion_mnist_small
from gannorm.metrics.domain_classifier import accuracy, load_domain_classifier, train_domain_classifier


def test_features_train_learns_fashion_mnist_well_above_chance_and_loads_weights_only(tmp_path):
    """Reference: chance accuracy on 10 balanced classes is 0.10; the held-out images are the
    seeded 10% the classifier never trained on. The file must load with weights_only=True."""
    out = tmp_path / "fm.pt"
    r = CliRunner().invoke(cli, ["features", "train", "--data", "fashion_mnist_small", "--n-images", "700",
                                 "--epochs", "2", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "validation accuracy" in r.output and "domain:" in r.output
    state = torch.load(out, weights_only=True)
    assert state["format"] == "gannorm-domain-classifier-1" and state["meta"]["n_classes"] == 10
    net, meta = load_domain_classifier(out)
    assert meta["val_accuracy"] > 0.35  # 3.5x chance after two short epochs
    # accuracy on images it never saw at all (the rest of the bundled set), recomputed here
    data = fashion_mnist_small()
    rest = np.setdiff1d(np.arange(len(data)), np.sort(np.random.RandomState(0).choice(len(data), 700, replace=False)))
    assert accuracy(net, data.images[rest[:600]], data.labels[rest[:600]]) > 0.35
    assert out.stat().st_size < 1_000_000  # small enough to keep beside a run


def test_training_is_reproducible_and_refuses_unlabelled_data():
    """Reference: same seed and data must give bit-identical weights (the project's
    reproducibility rule); a dataset with a single class cannot train a classifier."""
    data = fashion_mnist_small()
    x, y = data.images[:160], data.labels[:160]
    a, _ = train_domain_classifier(x, y, epochs=1, batch_size=32, seed=3, widths=(8, 16, 16))
    b, _ = train_domain_classifier(x, y, epochs=1, batch_size=32, seed=3, widths=(8, 16, 16))
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    from gannorm.errors import GannormError

    with pytest.raises(GannormError, match="at least 2 classes"):
        train_domain_classifier(x, np.zeros(len(x), np.int64), epochs=1)
