"""A run stands on its own: sampled, evaluated, exported and loaded with only its directory (or
one exported .pt) present; only what needs real images reads the data, and says which."""
import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import gannorm
from gannorm import config as config_mod
from gannorm.cli import cli
from gannorm.evaluation import open_generator
from gannorm.training import Trainer
from gannorm.training.generator_spec import build_generator

FAST_FID = ["--extractor", "efficientnet_lite0:32", "--n-gen", "8", "--n-real", "8"]


def _folder_dataset(root, n_per_class=20, size=16):
    rs = np.random.RandomState(0)
    for c, name in enumerate(("circles", "squares")):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            a = np.clip(rs.normal(60 + 120 * c, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(root / name / f"{i}.png")


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """A finished 2-iteration run copied to an empty directory; its data folder moved away, so
    the run's data.root points nowhere. Returns (run copy, where the data went, tmp)."""
    tmp = tmp_path_factory.mktemp("standalone")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANNORM_CACHE", str(tmp / "cache"))
        _folder_dataset(tmp / "data")
        cfg = config_mod.load(None, ["data.name=folder", f"data.root={tmp / 'data'}", "data.holdout=8",
                                     "data.running_holdout=4", "model.base_features=8", "model.z_dim=16",
                                     "train.batch_size=8", "train.iterations=2", "eval.test_interval=1",
                                     "eval.test_steps=2", "train.ema_decay=0.5", "train.sample_every=0",
                                     "train.n_samples=4", "train.device=cpu", "train.tricks={conditional: {}}"])
        Trainer(cfg, tmp / "trained" / "run", quiet=True).train()
        shutil.copytree(tmp / "trained" / "run", tmp / "elsewhere" / "run")
        shutil.rmtree(tmp / "trained")
        (tmp / "data").rename(tmp / "data-moved")
        yield tmp / "elsewhere" / "run", tmp / "data-moved", tmp
    torch.set_num_threads(n)


def _cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(r, *needles):
    assert r.exit_code == 2, r.output
    err = [l for l in r.output.splitlines() if l.startswith("gannorm: error:")]
    assert len(err) == 1 and "Traceback" not in r.output, r.output
    for n in needles:
        assert n in err[0], err[0]


def test_a_copied_run_without_its_data_samples_and_evaluates(moved):
    """Reference: the checkpoint alone rebuilds G (the data folder is gone); the FID's real side
    reads the data only when asked, names it, and reads a moved copy with --data-root."""
    run, data, tmp = moved
    r = _cli("sample", run, "-n", "4", "--out", tmp / "s.png")
    assert r.exit_code == 0, r.output
    assert "EMA generator, checkpoint best" in r.output and Image.open(tmp / "s.png").size == (2 * 16 + 6,) * 2

    g = gannorm.load_generator(run)
    assert g.generator_spec["image_size"] == 16 and g.generator_spec["class_names"] == ["circles", "squares"]
    assert g(torch.randn(3, g.z_dim)).shape == (3, 3, 16, 16) and g.n_classes == 2

    r = _cli("eval", run, "--fid", *FAST_FID)
    _one_line_error(r, "cannot read the run's real images", "--data-root")
    assert f"reading real images: data.name=folder, data.root={tmp / 'data'}" in r.output

    r = _cli("eval", run, "--fid", *FAST_FID, "--data-root", data)
    assert r.exit_code == 0, r.output
    assert f"reading real images: data.name=folder, data.root={data}" in r.output
    line = next(l for l in r.output.splitlines() if l.startswith("FID "))
    assert "8 generated vs 8 real" in line and "checkpoint best @ iteration" in line

    r = _cli("eval", run, "--recon", "--steps", "2", "--n-images", "4", "--data-root", data)
    assert r.exit_code == 0, r.output
    assert "reconstruction error:" in r.output and "generator, checkpoint best" in r.output


def test_export_loads_with_weights_only_and_stands_for_the_run(moved):
    """Reference: torch.load(weights_only=True) itself; the exported G computes what the run's
    checkpoint computes (EMA by default, the raw G with --no-ema), and the file is accepted
    where a run directory is."""
    run, _, tmp = moved
    out, raw = tmp / "G.pt", tmp / "G-raw.pt"
    assert _cli("export", run, "--out", out).exit_code == 0
    r = _cli("export", run, "--out", raw, "--no-ema", "--checkpoint", "latest")
    assert r.exit_code == 0, r.output
    state = torch.load(out, map_location="cpu", weights_only=True)
    assert state["ema"] is True and state["generator_spec"]["n_classes"] == 2
    assert out.stat().st_size < 0.5 * (run / "checkpoints" / "latest.pt").stat().st_size

    ckpt = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    for path, key in ((raw, "G"), (out, None)):
        g = gannorm.load_generator(path, device="cpu")
        if key:  # reference: G rebuilt by hand from the checkpoint's own description and weights
            ref = build_generator(ckpt["generator_spec"])
            ref.load_state_dict(ckpt[key])
        else:
            ref = open_generator(run, "best", ema=True).G
        with torch.no_grad():
            torch.testing.assert_close(g(z), ref.eval()(z))
    with torch.no_grad():
        assert not torch.allclose(gannorm.load_generator(out)(z), gannorm.load_generator(raw)(z))

    r = _cli("sample", out, "-n", "4")
    assert r.exit_code == 0 and (tmp / "G-sample-0.png").exists(), r.output
    r = _cli("eval", out, "--is", "--extractor", "efficientnet_lite0:32", "--n-gen", "10")
    assert r.exit_code == 0, r.output
    assert "IS " in r.output and "reading real images" not in r.output  # IS needs no real images
    assert len(list((tmp / "G-eval").glob("fidelity-is-*.json"))) == 1


def test_files_that_are_not_a_generator_are_one_line_errors(moved):
    """Reference: the CLI rule - bad input is one line naming the problem and the fix."""
    run, data, tmp = moved
    (tmp / "notes.txt").write_text("not a checkpoint\n")
    _one_line_error(_cli("sample", tmp / "notes.txt"), "is not a PyTorch checkpoint")
    torch.save({"weight": torch.zeros(3)}, tmp / "other.pt")
    _one_line_error(_cli("sample", tmp / "other.pt"), "not a gannorm checkpoint or exported generator")


def _older(run, tmp, name, **config_changes):
    """A copy of ``run`` whose best checkpoint lacks the generator description (older format)."""
    old = tmp / name
    shutil.copytree(run, old)
    state = torch.load(old / "checkpoints" / "best.pt", weights_only=True)
    del state["generator_spec"]
    torch.save(state, old / "checkpoints" / "best.pt")
    cfg = config_mod.load(old / "config.yaml")
    for section, kv in config_changes.items():
        for k, v in kv.items():
            setattr(getattr(cfg, section), k, v)
    config_mod.save(cfg, old / "config.yaml")
    return old


def test_older_checkpoints_load_with_a_note_or_say_how_to_re_export(moved):
    """Reference: the compatibility rule - an older checkpoint loads when config.yaml and the data
    can rebuild G (with a note), else one line saying how to re-export; a checkpoint from
    another model config is refused in one line."""
    run, data, tmp = moved
    ok = _older(run, tmp, "old-with-data", data={"root": str(data)})
    r = _cli("sample", ok, "-n", "4")
    assert r.exit_code == 0, r.output
    assert "predates self-describing checkpoints" in r.output and "gannorm export" in r.output
    r = _cli("export", ok, "--out", tmp / "old.pt")
    assert r.exit_code == 0 and "generator_spec" in torch.load(tmp / "old.pt", weights_only=True)

    _one_line_error(_cli("sample", _older(run, tmp, "old-no-data")), "predates self-describing", "gannorm export")
    other = _older(run, tmp, "old-other-model", data={"root": str(data)}, model={"base_features": 16})
    _one_line_error(_cli("sample", other), "do not fit the model", "another model config")


def test_sample_and_eval_choose_the_checkpoint_by_one_rule(moved):
    """Reference: the stated rule in both helps - best.pt when the run has one, else latest."""
    run, data, tmp = moved
    for cmd in ("sample", "eval"):
        assert "best (falls back to latest when the run has no best.pt)" in " ".join(
            _cli(cmd, "--help").output.split())
    no_best = tmp / "no-best"
    shutil.copytree(run, no_best)
    (no_best / "checkpoints" / "best.pt").unlink()
    for path, which in ((run, "best"), (no_best, "latest")):
        r = _cli("sample", path, "-n", "4")
        assert r.exit_code == 0 and f"checkpoint {which} @" in r.output, r.output
        r = _cli("eval", path, "--is", "--extractor", "efficientnet_lite0:32", "--n-gen", "10")
        assert r.exit_code == 0 and f"checkpoint {which} @" in r.output, r.output


def test_result_files_differ_whenever_a_setting_of_the_figure_does(moved):
    """Reference: the rule that no evaluation overwrites another's result; the same settings give
    the same file (and the same figure)."""
    run, data, tmp = moved
    run = shutil.copytree(run, tmp / "naming")
    shutil.rmtree(run / "eval")  # only this test's results
    base = ["--fid", "--extractor", "efficientnet_lite0:32", "--n-gen", "8", "--n-real", "8", "--data-root", data]
    variants = [base, [*base[:2], "efficientnet_lite0:48", *base[3:]], [*base[:6], "9", *base[7:]],
                ["--kid", *base[1:]], ["--fid", "--real-split", "test", *base[1:]]]
    paths = []
    for args in variants:
        r = _cli("eval", run, *args)
        assert r.exit_code == 0, r.output
        paths.append(r.output.strip().splitlines()[-1].removeprefix("-> "))
    assert len(set(paths)) == len(variants)
    first = json.loads(open(paths[0]).read())
    r = _cli("eval", run, *base)
    assert r.output.strip().splitlines()[-1] == f"-> {paths[0]}"
    assert json.loads(open(paths[0]).read())[0]["value"] == pytest.approx(first[0]["value"], rel=1e-6)
    assert len(list((run / "eval").glob("fidelity-*.json"))) == len(variants)


@pytest.mark.parametrize("args, message", [
    (["--fid", "--n-gen", "1"], "FID needs at least 2 generated images, got 1"),
    (["--fid", "--n-gen", "0"], "got 0"),
    (["--kid", "--kid-subset-size", "1"], "subset size >= 2"),
    (["--pr", "--n-gen", "3"], "at least 4 generated images"),
    (["--pr", "--n-real", "2"], "at least 4 real images"),
    (["--is", "--n-gen", "5"], "IS in 10 splits needs at least 10 generated images"),
    (["--recon", "--steps", "0"], "steps must be a positive integer"),
])
def test_settings_no_figure_can_come_from_are_refused_before_any_work(moved, args, message):
    """Reference: each metric's own minimum (FID: 2 for a covariance; KID: pairs; PR: k+1 with
    k=3; IS: one image per split); refused before the data is read or a feature extracted."""
    run, data, _ = moved
    r = _cli("eval", run, *args, "--extractor", "efficientnet_lite0:32", "--data-root", data)
    _one_line_error(r, message)
    assert "reading real images" not in r.output and "images:" not in r.output


def test_device_option_is_checked(moved):
    """Reference: resolve_device's rule - a device that is not there (no GPU, or no 8th GPU) is a
    one-line error; cpu is always there."""
    run, _, tmp = moved
    r = _cli("sample", run, "-n", "4", "--device", "cpu")
    assert r.exit_code == 0, r.output
    _one_line_error(_cli("sample", run, "-n", "4", "--device", "cuda:7"), "cuda:7")
    _one_line_error(_cli("eval", run, "--recon", "--device", "gpu"), "is not a device")
