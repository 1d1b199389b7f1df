"""Rebuilding a trained G (sample, export, eval) builds G alone: no loss, no D wrapper, no other
trick; only the tricks registered with ``wraps_g`` wrap it. Checked against the full set-up the
trainer runs (``setup_models``), for every registered trick and loss, and on a trained run."""
import dataclasses

import pytest
import torch

from gannorm import config as config_mod
from gannorm.data import ImageSpec
from gannorm.evaluation import load_generator
from gannorm.models import build_models
from gannorm.registry import LOSSES, TRICKS
from gannorm.training import Trainer
from gannorm.training.checkpoint import load_checkpoint
from gannorm.training.generator_spec import build_generator_for
from gannorm.tricks import setup_models

SPEC = ImageSpec(28, 1, 10, [str(i) for i in range(10)], "toy")
TINY = ["model.base_features=8", "model.z_dim=16"]


def _structure(g):
    return [(k, tuple(v.shape)) for k, v in g.state_dict().items()], [type(m).__name__ for m in g.modules()]


def _full_setup_g(cfg):
    g, d = build_models(cfg.model, SPEC.size, SPEC.channels)
    return setup_models(cfg, g, d, SPEC, warn=False)[0], g


@pytest.mark.parametrize("kind, name", [("trick", t) for t in TRICKS.names()] + [("loss", l) for l in LOSSES.names()])
def test_g_alone_has_the_structure_of_the_full_set_up(kind, name):
    """Reference: ``setup_models``, the trainer's own set-up. A trick or loss that changes G there
    must be registered ``wraps_g`` (and then G alone is wrapped the same way); one that does
    not leaves the very module it was given."""
    over = [f"train.tricks.{name}={{}}"] if kind == "trick" else [f"train.loss={name}"]
    if kind == "trick" and name in ("minibatch_discrimination", "minibatch_stddev", "conditional"):
        over.append("train.loss=hinge")  # they add to D's logit
    cfg = config_mod.load(None, TINY + over)
    full, base = _full_setup_g(cfg)
    wraps = kind == "trick" and TRICKS.attr(name, "wraps_g", False)
    assert (full is not base) == wraps, f"{kind} {name}: changes G at set-up but is not registered wraps_g=True"
    alone = build_generator_for(cfg, SPEC)
    assert _structure(alone) == _structure(full)


def test_g_alone_builds_no_loss_and_no_trick_that_leaves_g_alone(monkeypatch):
    built = []
    for reg in (LOSSES, TRICKS):
        real_build = reg.build
        monkeypatch.setattr(reg, "build", lambda name, *a, _b=real_build, **k: built.append(name) or _b(name, *a, **k))
    cfg = config_mod.load(None, TINY + ["train.loss=hinge", "train.tricks.r1={}", "train.tricks.bcr={}",
                                        "train.tricks.conditional={g: cbn}", "model.g_norm=batch", "train.tricks.minibatch_stddev={}"])
    build_generator_for(cfg, SPEC)
    assert built == ["conditional"]


def test_a_trained_conditional_ema_consistency_run_samples_as_with_the_full_set_up(tmp_path):
    """Reference: G made the way earlier versions rebuilt it (models + the full set-up of loss and
    tricks) with the checkpoint's EMA weights; the images must be identical."""
    cfg = config_mod.load(None, TINY + ["train.batch_size=8", "train.iterations=2", "eval.test_interval=0",
                                       "train.sample_every=0", "train.n_samples=4", "train.device=cpu",
                                       "train.loss=hinge", "train.tricks.conditional={g: cbn}", "model.g_norm=batch",
                                       "train.tricks.bcr={}", "train.ema_decay=0.9"])
    tr = Trainer(cfg, tmp_path / "run", quiet=True)
    tr.train()
    g = load_generator(tmp_path / "run", "latest")
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    ref, _ = _full_setup_g(dataclasses.replace(cfg))
    ref.load_state_dict(ckpt["G_ema"])
    ref.eval()
    z = torch.randn(6, 16, generator=torch.Generator().manual_seed(1))
    y = torch.arange(6) % 10
    with torch.no_grad():
        assert torch.equal(g(z, y=y), ref(z, y=y))
    assert type(g).__name__ == "ConditionalG" and g.n_classes == 10
