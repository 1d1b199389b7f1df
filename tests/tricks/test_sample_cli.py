"""``gannorm sample --truncation/--label`` on a conditional run: the grid is written, the
class changes the images, and bad labels are refused in one line."""
import numpy as np
from click.testing import CliRunner
from PIL import Image

from gannorm import config
from gannorm.cli import cli
from gannorm.training import Trainer


def test_sample_truncation_and_label(tmp_path):
    cfg = config.load(None, ["model.base_features=8", "train.batch_size=8", "eval.test_interval=0",
                             "train.sample_every=0", "train.n_samples=4", "train.iterations=2",
                             "train.tricks={conditional: {}}"])
    Trainer(cfg, tmp_path / "run", quiet=True).train()
    outs = []
    for label in ("0", "7"):
        out = tmp_path / f"s{label}.png"
        r = CliRunner().invoke(cli, ["sample", str(tmp_path / "run"), "-n", "4", "--truncation", "0.5",
                                     "--label", label, "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert f"truncation 0.5, class {label}" in r.output
        outs.append(np.asarray(Image.open(out), dtype=np.int16))
    assert np.abs(outs[0] - outs[1]).max() > 0  # the label reaches G
    r = CliRunner().invoke(cli, ["sample", str(tmp_path / "run"), "--label", "10"])
    assert r.exit_code != 0 and "--label must be in 0..9" in r.output
    r = CliRunner().invoke(cli, ["sample", str(tmp_path / "run"), "--truncation", "-1"])
    assert r.exit_code != 0 and "truncation threshold must be > 0" in r.output
