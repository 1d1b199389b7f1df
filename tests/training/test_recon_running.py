"""The running reconstruction test inside training, and a trained G against its initialisation."""
import copy
import json

import numpy as np
import pytest
import torch

from gannorm import config as config_mod
from gannorm.metrics import reconstruction_error
from gannorm.training import Trainer
from gannorm.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A DCGAN (WN, 16 base features) trained 300 iterations on the bundled data, with a
    running test (50 images, 20 steps) every 100 iterations; and its G at initialisation."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # small nets on a shared 2-core box: a second thread only spins
    cfg = config_mod.load(None, ["model.base_features=16", "model.z_dim=32", "train.iterations=300",
                                 "eval.test_interval=100", "eval.test_steps=20", "data.running_holdout=50",
                                 "train.sample_every=0", "train.checkpoint_every=0", "train.n_samples=4",
                                 "train.log_every=50", "train.device=cpu"])
    tr = Trainer(cfg, tmp_path_factory.mktemp("run") / "r", quiet=True)
    g0 = copy.deepcopy(tr.G)
    tr.train()
    yield tr, g0
    torch.set_num_threads(n)


def test_trained_generator_reconstructs_better_than_at_initialisation(trained):
    """Reference: the same G before training, on held-out images neither ever saw."""
    tr, g0 = trained
    idx = tr.split.final_test[50:150]  # held out, and not the running-test images
    x = torch.from_numpy(tr.data.images[idx])
    after = reconstruction_error(tr.G, x, steps=50).mean
    before = reconstruction_error(g0, x, steps=50).mean
    assert after < 0.7 * before, (before, after)


def test_running_test_is_logged_and_best_checkpoint_is_the_lowest(trained):
    """Reference: the logged running errors; best.pt must hold the argmin iteration's G, and
    re-scoring its weights must reproduce the logged minimum."""
    tr, _ = trained
    rows = [json.loads(line) for line in tr.run.metrics.read_text().splitlines()]
    logged = {r["iteration"]: r["recon_running"] for r in rows if "recon_running" in r}
    assert sorted(logged) == [100, 200, 300]
    best_it = min(logged, key=logged.get)
    s = load_checkpoint(tr.run.best)
    assert s["iteration"] == best_it
    assert s["best"]["recon"] == pytest.approx(logged[best_it], rel=1e-9)
    g = copy.deepcopy(tr.G)
    g.load_state_dict(s["G"])
    x = torch.from_numpy(tr.data.images[tr.split.running_test])
    assert len(x) == 50 and not np.isin(tr.split.running_test, tr.split.train).any()
    again = reconstruction_error(g, x, steps=20).mean
    assert again == pytest.approx(logged[best_it], rel=1e-5)
    assert any(p.name.startswith("events") for p in tr.run.tb.iterdir())  # TensorBoard got it too
