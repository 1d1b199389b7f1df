"""``gannorm eval RUN --recon [--plot]``: the final test, its stored result and its figures."""
import json
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
from click.testing import CliRunner
from PIL import Image

from gannorm import config as config_mod
from gannorm.cli import cli
from gannorm.data import load_data
from gannorm.models import build_models
from gannorm.training import Trainer


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets on a shared 2-core box: a second thread only spins
    cfg = config_mod.load(None, ["model.base_features=8", "model.z_dim=16", "train.batch_size=8",
                                 "train.iterations=20", "eval.test_interval=10", "eval.test_steps=3",
                                 "data.running_holdout=8", "train.sample_every=0", "train.n_samples=4",
                                 "train.device=cpu"])
    rd = tmp_path_factory.mktemp("evalrun") / "r"
    Trainer(cfg, rd, quiet=True).train()
    yield rd
    torch.set_num_threads(n)


def _authors_final_test(run_dir, n_images, steps):
    """The authors' final test, built by hand: G from best.pt (torch.load), the held-out set as
    gannorm defines it (first images of RandomState(split_seed).permutation(N)), and their
    test() loop (stormraiser/GAN-weight-norm pytorch/main.py): batch of 32, nn.MSELoss, RMSProp."""
    cfg = config_mod.load(run_dir / "config.yaml")
    data = load_data(cfg.data, quiet=True)
    g, _ = build_models(cfg.model, data.size, data.channels)
    state = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    g.load_state_dict(state["G"])
    g.eval().requires_grad_(False)
    idx = np.random.RandomState(cfg.data.split_seed).permutation(len(data))[:n_images]
    x = torch.from_numpy(data.images[idx]).float() / 255
    code = torch.zeros(n_images, g.z_dim, requires_grad=True)
    opt = torch.optim.RMSprop([code], lr=0.01, eps=1e-6, alpha=0.9)
    for _ in range(steps):
        nn.MSELoss()(g(code), x).backward()
        opt.step()
        code.grad.data.zero_()
    with torch.no_grad():
        return nn.MSELoss()(g(code), x).item(), state["iteration"]


def test_eval_recon_plot_prints_stores_and_draws(run_dir):
    """Reference: the authors' final-test loop rebuilt by hand on the same checkpoint."""
    r = CliRunner().invoke(cli, ["eval", str(run_dir), "--recon", "--plot", "--steps", "7", "--n-images", "32"])
    assert r.exit_code == 0, r.output
    printed = float(re.search(r"reconstruction error: ([0-9.]+)", r.output).group(1))
    expected, best_it = _authors_final_test(run_dir, 32, 7)
    assert printed == pytest.approx(expected, rel=1e-3, abs=1e-5)

    path = next((run_dir / "eval").glob("recon-best-it*-7steps-*.json"))
    stored = json.loads(path.read_text())
    assert stored["mean"] == pytest.approx(expected, rel=1e-4)
    assert stored["iteration"] == best_it and stored["n_images"] == 32 and len(stored["per_image"]) == 32
    assert len(stored["curve"]) == 8 and stored["curve"][-1] == pytest.approx(stored["mean"], rel=1e-6)

    curve_png = path.with_name(path.stem + "-curve.png")
    pairs_png = path.with_name(path.stem + "-pairs.png")
    assert f"wrote {curve_png}" in r.output and f"wrote {pairs_png}" in r.output
    assert Image.open(curve_png).size[0] > 100
    # 32 (real, reconstruction) pairs, 8 per row of 28 px, under a row of column labels
    w, h = Image.open(pairs_png).size
    assert w > 8 * 30 and h > 4 * 30


@pytest.mark.parametrize("args, match", [
    (["--steps", "0"], "steps must be a positive integer"),
    (["--n-images", "0"], "--n-images must be > 0"),
    (["--checkpoint", "nope.pt"], "no checkpoint 'nope.pt'"),
])
def test_eval_recon_bad_input_is_one_line(run_dir, args, match):
    """Reference: the CLI contract (architecture.md): user errors exit 2 with one line."""
    r = CliRunner().invoke(cli, ["eval", str(run_dir), "--recon", *args])
    assert r.exit_code == 2
    assert match in r.output and r.output.count("\n") == 1 and "Traceback" not in r.output
