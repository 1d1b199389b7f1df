"""Default run directories are named from the resolved config, numbered, and never reused."""
import re

import pytest
from click.testing import CliRunner

from gannorm import config as config_mod
from gannorm.cli import cli
from gannorm.training.rundir import new_run_dir, run_name


@pytest.mark.parametrize("over,name", [
    (["data.name=folder", "data.root=some/where/shapes", "g_norm=spectral", "d_norm=spectral"],
     "folder-shapes-spectral"),
    (["data.name=cifar10", "model.name=sngan_cnn", "g_norm=batch", "d_norm=spectral", "train.loss=hinge"],
     "cifar10-sngan_cnn-batch-spectral-hinge"),
    (["data.name=zip", "data.root=/data/my faces.zip", "g_norm=weight", "d_norm=weight"], "zip-my_faces-weight"),
])
def test_run_name_says_what_the_run_is(over, name):
    assert run_name(config_mod.load(None, over)) == name


def test_run_dirs_are_numbered_from_the_next_free_number(tmp_path):
    cfg = config_mod.load(None, ["data.name=folder", "data.root=x/shapes", "g_norm=spectral", "d_norm=spectral"])
    (tmp_path / "folder-shapes-spectral-0007").mkdir()
    (tmp_path / "folder-shapes-spectral_strict-0042").mkdir()  # another name: not counted
    (tmp_path / "folder-shapes-spectral-old").mkdir()
    first, second = new_run_dir(cfg, tmp_path), new_run_dir(cfg, tmp_path)
    assert (first.name, second.name) == ("folder-shapes-spectral-0008", "folder-shapes-spectral-0009")
    assert first.is_dir() and second.is_dir()


TINY = ["model.base_features=8", "model.z_dim=8", "train.batch_size=4", "train.log_every=1",
        "train.sample_every=0", "train.n_samples=4", "eval.test_interval=2", "eval.test_steps=2",
        "train.device=cpu"]


def test_train_without_config_names_the_run_and_counts_the_images_it_tested(tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["train", *TINY, "train.iterations=2", "data.holdout=60", "g_norm=batch",
                                 "d_norm=batch"])
    assert r.exit_code == 0, r.output
    assert "note:" not in r.stderr  # iterations were chosen
    assert "60 held-out images" in r.stdout and "200 held-out" not in r.stdout
    runs = [p.name for p in (tmp_path / "runs").iterdir()]
    assert runs == ["fashion_mnist_small-batch-0001"]


def test_train_without_config_or_iterations_says_how_long_it_will_train(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # a device that is not there stops it right after the notice, before any training
    r = CliRunner().invoke(cli, ["train", "train.device=cuda:99"])
    assert r.exit_code != 0
    note = [l for l in r.stderr.splitlines() if "note:" in l]
    assert len(note) == 1 and re.search(r"100,000 iterations.*quickstart.yaml.*train.iterations=N", note[0])
    assert not list((tmp_path / "runs").iterdir())  # the run that never started left no folder
