"""Values beyond what a machine can do are refused in one line before anything starts (range
checks, then a memory estimate), an out-of-memory error becomes one line naming what to
lower, and the smaller input checks: a full disk during `sample`, the read-only hint of
`eval`, YAML booleans given for names, negative counts."""
import subprocess
import sys

import pytest
import torch

from faultkit import TINY, assert_one_line_error, env, file_size_limit, invoke, read_only_preexec

from gannorm import config
from gannorm.training import Trainer
from gannorm.training import memory


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    r = tmp_path_factory.mktemp("limits") / "run"
    Trainer(config.load(None, TINY + ["iterations=1", "test_interval=0"]), r, quiet=True).train()
    return r


@pytest.mark.parametrize("setting,needle", [
    ("train.seed=1e20", "train.seed must be an integer in [0, 2**62]"),
    ("optim.g_lr=1e39", "optim.g_lr=1e+39 is beyond"),
    ("model.z_dim=1e11", "model.z_dim=100,000,000,000 is beyond"),
    ("model.base_features=100000", "model.base_features=100,000 is beyond"),
    ("data.image_size=30000", "data.image_size=30,000 is beyond"),
    ("train.batch_size=99999999999", "train.batch_size=99,999,999,999 is beyond"),
])
def test_settings_beyond_any_machine_are_refused_and_leave_no_run_folder(tmp_path, monkeypatch, setting, needle):
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("train", setting, "train.iterations=1")
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_run_that_cannot_fit_is_refused_by_the_estimate_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 2**30)  # a 1 GB machine
    code, _, err = invoke("train", *TINY, "train.batch_size=100000", "train.iterations=1", "--run-dir",
                          tmp_path / "r")
    line = assert_one_line_error(code, err, "needs at least", "1.0 GB available", "lower train.batch_size")
    assert not (tmp_path / "r").exists()
    # the suggested batch size fits that machine by the same estimate
    fit = int(line.split("at most about ")[1].split(" fit")[0].replace(",", ""))
    cfg = config.load(None, TINY + [f"train.batch_size={fit}"])
    assert memory.check_training_fits(cfg, 28, 1, "cpu", available=2**30) <= 2**30


def test_the_estimate_counts_what_the_real_models_have():
    """Reference: the parameters and layer outputs of G and D built on the CPU."""
    cfg = config.load(None, ["base_features=16", "z_dim=32", "g_norm=batch", "d_norm=spectral"])
    est = memory.estimate(cfg, 32, 3)
    from gannorm.models import build_models
    G, D = build_models(cfg.model, 32, 3)
    assert est.parameters == sum(p.numel() for p in G.parameters()) + sum(p.numel() for p in D.parameters())
    plain = config.load(None, ["base_features=16", "z_dim=32", "g_norm=none", "d_norm=none"])
    G, D = build_models(plain.model, 32, 3)
    outs = []
    for net in (G, D):
        for m in net.modules():
            if not list(m.children()):
                m.register_forward_hook(lambda m, i, o: outs.append(o.numel()))
    with torch.no_grad():
        D(G(torch.zeros(1, 32)))
    assert est.activations_per_image == sum(outs)


@pytest.mark.parametrize("args,needle", [
    (["-n", "1e8"], "-n/--num must be an integer from 1 to 1,000,000, got 1e8"),
    (["-n", "0"], "-n/--num must be an integer from 1"),
    (["--seed", "1e20"], "--seed must be an integer from 0 to"),
    (["--seed", "100000000000000000000"], "--seed must be an integer from 0 to"),
])
def test_sample_counts_out_of_range(run, tmp_path, args, needle):
    code, _, err = invoke("sample", run, *args, "--out", tmp_path / "s.png")
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "s.png").exists()


def test_sample_refuses_a_grid_that_cannot_fit(run, tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 2**30)
    code, _, err = invoke("sample", run, "-n", "100000", "--out", tmp_path / "s.png")
    assert_one_line_error(code, err, "a grid of 100,000 images needs about", "lower -n")


@pytest.mark.parametrize("exc", [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory: you "
                                                               "tried to allocate 800000000000 bytes")])
def test_out_of_memory_during_training_is_one_line_naming_what_to_lower(tmp_path, monkeypatch, exc):
    def boom(self, *a, **k):
        raise exc
    monkeypatch.setattr(Trainer, "train", boom)
    code, _, err = invoke("train", *TINY, "train.iterations=1", "--run-dir", tmp_path / "r")
    assert_one_line_error(code, err, "out of memory; lower train.batch_size")


def test_sample_on_a_full_disk_leaves_no_empty_png_and_names_it(run, tmp_path):
    out = tmp_path / "grid.png"
    p = subprocess.run([sys.executable, "-m", "gannorm", "sample", str(run), "-n", "64", "--out", str(out)],
                       capture_output=True, text=True, timeout=120, env=env(), preexec_fn=file_size_limit(512))
    assert_one_line_error(p.returncode, p.stderr, f"could not write {out}", "free some space")
    assert not out.exists() and not list(tmp_path.glob(".grid.png.*"))


def test_eval_on_a_read_only_run_suggests_what_eval_can_do(run, tmp_path):
    import shutil
    ro = tmp_path / "ro"
    shutil.copytree(run, ro)
    for p in [ro, *ro.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        p = subprocess.run([sys.executable, "-m", "gannorm", "eval", str(ro), "--recon", "--steps", "2",
                            "--n-images", "2"], capture_output=True, text=True, timeout=180, env=env(),
                           preexec_fn=read_only_preexec())
    finally:
        for q in [ro, *ro.rglob("*")]:
            q.chmod(0o755 if q.is_dir() else 0o644)
    line = assert_one_line_error(p.returncode, p.stderr, "could not write", str(ro))
    assert "--out" not in line and "copy the run directory somewhere writable" in line


@pytest.mark.parametrize("value", ["true", "yes", "on", "false"])
def test_a_yaml_boolean_for_a_name_is_refused_as_written(value):
    with pytest.raises(Exception, match="unquoted is a boolean in YAML, a name is needed here, not a boolean"):
        config.load(None, [f"model.g_norm={value}"])


def test_off_still_means_off_where_the_setting_takes_it():
    assert config.load(None, ["train.amp=off", "train.compile=off"]).train.amp == "off"


@pytest.mark.parametrize("args,needle", [(["--threads", "-1"], "--threads must be an integer from 1"),
                                         (["--jobs", "0"], "--jobs/-j must be an integer from 1")])
def test_study_counts_must_be_positive(tmp_path, args, needle):
    sf = tmp_path / "s.yaml"
    sf.write_text("name: s\naxes: {train.seed: [0]}\n")
    code, _, err = invoke("study", sf, "--dry-run", *args)
    assert_one_line_error(code, err, needle)
