"""The recipes of docs/ARCHITECTURE.md, followed from this file alone: a toy norm, loss,
trick and dataset are registered here, named in a config like the built-in ones, validated,
and trained for 2 iterations by the ordinary Trainer; a toy metric is registered and found.
Their attributes change behaviour where the package asks for them."""
import json
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn as nn

import gannorm.plugins  # noqa: F401  (fills the registries)
from gannorm import config
from gannorm.data import ImageData
from gannorm.errors import GannormError
from gannorm.hooks import CompatibilityWarning, Hooks, Setup
from gannorm.metrics.fidelity import FeatureSet, compute, feature_metric
from gannorm.losses.base import AdversarialLoss
from gannorm.nn import Norm
from gannorm.registry import DATASETS, LOSSES, METRICS, NORMS, TRICKS
from gannorm.training import Trainer

CALLS = {}


class ToyScale(nn.Module):
    """A learned per-channel scale: the toy norm's feature layer."""

    def __init__(self, channels):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x):
        return x * self.g


class ToyNorm(Norm):
    name = "toy_norm"
    has_norm_layer = True

    def __init__(self, init: float = 1.0):
        self.init = init

    def norm_layer(self, channels):
        layer = ToyScale(channels)
        nn.init.constant_(layer.g, self.init)
        return layer


class ToyLoss(AdversarialLoss):
    """Least squares on logits."""

    name = "toy_loss"
    probabilistic = False

    def __init__(self, target: float = 1.0):
        self.target = target

    def d_loss(self, real_logits, fake_logits):
        CALLS["toy_loss"] = CALLS.get("toy_loss", 0) + 1
        return (real_logits - self.target).square().mean() + fake_logits.square().mean()

    def g_loss(self, fake_logits, real_logits=None):
        return (fake_logits - self.target).square().mean()


class ToyTrick(Hooks):
    def __init__(self, weight: float = 0.1):
        self.weight = weight

    def d_penalty(self, ctx):
        p = ctx.d_real.square().mean()
        ctx.logs["toy_trick"] = p.detach()
        return self.weight * p


def toy_data(root=None, n: int = 48):
    """48 random 16x16 grayscale images in 2 classes."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 1, 16, 16), dtype=np.uint8)
    return ImageData(images, np.arange(n) % 2, ["a", "b"], f"toy data ({n} random images)")


@dataclass(frozen=True)
class ToyMetricOptions:
    """The toy metric's options: the norm of the distance."""
    p: float = 2.0

    def __post_init__(self):
        if self.p < 1:
            raise GannormError(f"p must be >= 1 for a norm, got {self.p}")


@pytest.fixture
def toys():
    """Register the toys for one test, as a plug-in module would at import; then remove them."""
    NORMS.register("toy_norm", help="a per-channel scale after hidden layers")(ToyNorm)
    LOSSES.register("toy_loss", help="least squares on logits")(ToyLoss)
    TRICKS.register("toy_trick", help="penalise D's real outputs", phase="d")(ToyTrick)
    DATASETS.register("toy_data", help="random images")(toy_data)
    feature_metric("toy_metric", help="distance of feature means", fmt=lambda r: f"toy {r['value']:.3f}",
                   options=ToyMetricOptions, label="toy distance", better="lower")(
        lambda real, gen, opts: {"toy_metric": float((real.features.mean(0) - gen.features.mean(0)).norm(p=opts.p))})
    CALLS.clear()
    yield
    for reg, name in ((NORMS, "toy_norm"), (LOSSES, "toy_loss"), (TRICKS, "toy_trick"),
                      (DATASETS, "toy_data"), (METRICS, "toy_metric")):
        reg.unregister(name)


TINY = ["model.base_features=8", "model.z_dim=16", "train.batch_size=8", "eval.test_interval=0",
        "train.sample_every=0", "train.n_samples=4", "train.checkpoint_every=0", "train.log_every=1",
        "data.holdout=8", "data.running_holdout=4", "train.iterations=2"]


def test_toy_norm_loss_trick_and_dataset_train_through_the_config(toys, tmp_path, one_thread):
    cfg = config.load(None, TINY + ["data.name=toy_data", "data.args.n=40", "g_norm=toy_norm", "d_norm=toy_norm",
                                    "model.d_norm_args.init=0.5", "train.loss=toy_loss",
                                    "train.loss_args.target=0.9", "train.tricks.toy_trick={weight: 0.2}"])
    t = Trainer(cfg, tmp_path / "run", quiet=True)
    assert len(t.data) == 40 and t.data.description.startswith("toy data")
    scales = [m for m in t.D.modules() if isinstance(m, ToyScale)]
    assert scales and all(torch.all(m.g == 0.5) for m in scales)
    assert any(isinstance(m, ToyScale) for m in t.G.modules())
    assert isinstance(t.loss, ToyLoss) and t.loss.target == 0.9
    before = [p.detach().clone() for p in scales[0].parameters()]
    t.train()
    assert CALLS["toy_loss"] == 2  # one D step per iteration
    rows = [json.loads(line) for line in t.run.metrics.read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert all(np.isfinite(r["toy_trick"]) and r["toy_trick"] >= 0 for r in rows)
    assert not torch.equal(before[0], scales[0].g.detach())  # the toy norm's layer trained
    with pytest.raises(GannormError, match="trick 'toy_trick' has no option 'weigth'.*Did you mean 'weight'"):
        config.load(None, TINY + ["train.tricks.toy_trick={weigth: 1}"])


def test_a_trick_phase_is_shown_by_gannorm_list(toys):
    from click.testing import CliRunner

    from gannorm.cli import cli

    r = CliRunner().invoke(cli, ["list", "tricks"])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.split()[0] == "toy_trick")
    assert line.endswith("[D step]") and "penalise D's real outputs" in line


def test_toy_metric_is_registered_and_validated(toys):
    assert "toy_metric" in METRICS and "toy_metric" in METRICS.names()
    assert config.load(None, ["eval.metrics=[toy_metric]"]).eval.metrics == ["toy_metric"]
    assert METRICS.attr("toy_metric", "flag") == "--toy_metric" and METRICS.attr("toy_metric", "key") == "toy_metric"
    cfg = config.load(None, ["eval.metrics=[toy_metric]", "eval.metric_options.toy_metric.p=1"])
    opts = config.metric_options(cfg.eval.metrics, cfg.eval.metric_options, "eval")["toy_metric"]
    assert opts == ToyMetricOptions(p=1.0)
    real, gen = torch.randn(5, 3), torch.randn(6, 3)
    out = compute("toy_metric", FeatureSet(features=real), FeatureSet(features=gen), opts)
    assert out["toy_metric"] == pytest.approx(float((real.mean(0) - gen.mean(0)).abs().sum()))  # p = 1: L1
    with pytest.raises(GannormError, match="metric 'toy_metric' has no option 'q'; valid: p"):
        config.load(None, ["eval.metrics=[toy_metric]", "eval.metric_options.toy_metric.q=1"])
    with pytest.raises(GannormError, match="eval.metric_options.toy_metric: p must be >= 1"):
        config.load(None, ["eval.metrics=[toy_metric]", "eval.metric_options.toy_metric.p=0.5"])


def test_attributes_of_toys_change_behaviour(toys):
    """Where a name list used to be consulted, a toy registered with the attribute is treated alike."""
    NORMS.register("toy_rescaling", rescales_weights=True)(type("ToyRescaling", (ToyNorm,), {}))
    NORMS.register("toy_gradient", gradient_norm=True)(type("ToyGradient", (ToyNorm,), {}))
    LOSSES.register("toy_double", inner_gradient=True)(type("ToyDouble", (ToyLoss,), {}))
    TRICKS.register("toy_penalty", inner_gradient=True, phase="d")(type("ToyPenalty", (ToyTrick,), {}))
    try:
        def env(d_norm):
            cfg = config.Config()
            cfg.model.d_norm = d_norm
            return Setup(None, None, None, cfg)

        with pytest.warns(CompatibilityWarning, match="d_norm=toy_rescaling rescales each weight"):
            LOSSES.build("wgan").setup(env("toy_rescaling"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            LOSSES.build("wgan").setup(env("toy_norm"))  # no attribute, no warning
        with pytest.raises(GannormError, match="d_norm=toy_gradient already normalizes"):
            TRICKS.build("r1").setup(env("toy_gradient"))
        TRICKS.build("r1").setup(env("toy_norm"))
        for term in ("train.loss=toy_double", "train.tricks.toy_penalty={}"):
            with pytest.raises(GannormError, match="double backward"):
                config.load(None, ["train.compile=default", term])
            cfg = config.load(None, ["train.amp=fp16", term])
            assert config.inner_gradient_terms(cfg) == [term.split(".", 1)[1].replace("={}", "")]
        assert config.inner_gradient_terms(config.load(None, ["train.loss=toy_loss"])) == []
    finally:
        for reg, name in ((NORMS, "toy_rescaling"), (NORMS, "toy_gradient"), (LOSSES, "toy_double"),
                          (TRICKS, "toy_penalty")):
            reg.unregister(name)
