"""Every registered loss and trick trains 2 iterations through gannorm.training.Trainer on
the bundled data (finite losses, D and G parameters both changed), combinations compose,
and the hooks' state (replay buffer, BEGAN's k) survives a checkpoint round trip."""
import warnings

import pytest
import torch

from gannorm import config
from gannorm.errors import GannormError
from gannorm.hooks import CompatibilityWarning
from gannorm.registry import LOSSES, TRICKS
import gannorm.plugins  # noqa: F401
from gannorm.training import Trainer

SMALL = ["model.base_features=8", "train.batch_size=8", "eval.test_interval=0", "train.sample_every=0",
         "train.n_samples=4", "train.checkpoint_every=0", "train.log_every=1"]


def make(tmp_path, *overrides, iterations=2, resume=False, run="run"):
    cfg = config.load(None, SMALL + [f"train.iterations={iterations}"] + list(overrides))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompatibilityWarning)
        return Trainer(cfg, tmp_path / run, quiet=True, resume=resume)


def params(net):
    return [p.detach().clone() for p in net.parameters()]


def changed(before, net):
    return any(not torch.equal(a, b.detach()) for a, b in zip(before, net.parameters()))


def check_trains(t):
    g0, d0 = params(t.G), params(t.D)
    for _ in range(2):
        out = t.step()
        t.iteration += 1
        assert torch.isfinite(out["d_loss"]) and torch.isfinite(out["g_loss"])
    assert changed(g0, t.G) and changed(d0, t.D)
    return out


@pytest.mark.parametrize("loss", LOSSES.names())
def test_every_loss_trains(tmp_path, loss):
    check_trains(make(tmp_path, f"train.loss={loss}"))


@pytest.mark.parametrize("trick", TRICKS.names())
def test_every_trick_trains(tmp_path, trick):
    t = make(tmp_path, f"train.tricks.{trick}={{}}")
    check_trains(t)
    assert trick in t.hooks.names


def test_tricks_compose_and_state_survives_resume(tmp_path):
    """Eight tricks at once (label smoothing is refused with hinge, which has no real target);
    a second run checks that BEGAN's k and the replay buffer come back from the checkpoint."""
    combo = ["train.loss=hinge", "train.tricks={gp: {}, instance_noise: {}, feature_matching: {},"
             " minibatch_stddev: {}, minibatch_discrimination: {B: 10}, historical_averaging: {},"
             " orthogonal: {}, label_smoothing: {}, conditional: {}}"]
    with pytest.raises(GannormError, match="real target"):
        make(tmp_path, *combo, run="bad")
    combo[1] = combo[1].replace(" label_smoothing: {},", "")
    out = check_trains(make(tmp_path, *combo, run="combo"))
    for key in ("gp", "feature_matching", "hist_avg_d", "ortho_g", "noise_sigma"):
        assert key in out

    t = make(tmp_path, "train.loss=began", "train.tricks={replay: {size: 12}}", run="state")
    t.train()
    saved = t.hooks.state_dict()
    assert saved["replay"]["n"] == 12 and 0 <= saved["loss"]["k"] <= 1
    r = make(tmp_path, "train.loss=began", "train.tricks={replay: {size: 12}}", run="state", resume=True,
             iterations=3)
    assert r.hooks.state_dict()["loss"]["k"] == saved["loss"]["k"]
    assert torch.equal(r.hooks.state_dict()["replay"]["data"], saved["replay"]["data"])


def test_resume_with_stateful_tricks_is_exact(tmp_path):
    """A run with BEGAN (k), replay (buffer), historical averaging (running means) and
    instance noise (a fixed anneal_iters: by default its schedule follows train.iterations,
    which a resume may extend), stopped at 3 and resumed to 6, logs the same losses as the uninterrupted run
    (reference: the uninterrupted run itself)."""
    import json

    over = ["train.loss=began", "train.tricks={replay: {size: 20}, historical_averaging: {},"
            " instance_noise: {anneal_iters: 10}}",
            "train.checkpoint_every=3"]

    def losses(run):
        rows = map(json.loads, (tmp_path / run / "metrics.jsonl").read_text().splitlines())
        return [(r["iteration"], r["d_loss"], r["g_loss"]) for r in rows if "d_loss" in r]

    make(tmp_path, *over, iterations=6, run="full").train()
    make(tmp_path, *over, iterations=3, run="part").train()
    make(tmp_path, *over, iterations=6, run="part", resume=True).train()
    assert losses("full") == losses("part") and len(losses("full")) == 6
