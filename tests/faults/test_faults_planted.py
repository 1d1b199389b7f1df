"""No file a user or another process could have written runs code when gannorm reads it, and a
damaged checkpoint is refused instead of giving different images.

A pickle whose payload creates a marker file is planted as a run's latest.pt and best.pt; every
command that reads a checkpoint (train --resume, sample, eval, export, a study cell on the local
and the Ray backend, successive halving) must refuse it in one line and the marker must not
appear. Bytes flipped inside a tensor of latest.pt must be caught by the CRC-32s of the zip
archive, naming the file and the intact best.pt."""
import os
import shutil
import zipfile

import pytest
import torch
import yaml

from faultkit import TINY, assert_one_line_error, gannorm, invoke

from gannorm import config
from gannorm.errors import GannormError
from gannorm.study import load_study
from gannorm.training import Trainer
from gannorm.training.checkpoint import load_checkpoint


class _Payload:
    """Unpickling this calls os.system: what a planted checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _plant(ckpt, marker):
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "gannorm-checkpoint-2", "iteration": _Payload(marker), "G": {}}, ckpt)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    r = tmp_path_factory.mktemp("trained") / "run"
    Trainer(config.load(None, TINY + ["iterations=2", "checkpoint_every=1", "test_interval=1", "test_steps=2"]),
            r, quiet=True).train()
    assert (r / "checkpoints" / "best.pt").exists() and (r / "checkpoints" / "latest.pt").exists()
    return r


@pytest.fixture
def planted(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    marker = tmp_path / "PWNED"
    for name in ("latest.pt", "best.pt"):
        _plant(run / "checkpoints" / name, marker)
    return run, marker


def test_the_payload_does_run_when_unpickled_unrestricted(tmp_path):
    """The planted file is a real attack: torch.load(weights_only=False) runs it."""
    marker = tmp_path / "PWNED"
    _plant(tmp_path / "x.pt", marker)
    torch.load(tmp_path / "x.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("command", [
    ["train", "--resume", "{run}", "train.iterations=3"],
    ["sample", "{run}", "-n", "2", "--out", "{tmp}/s.png"],
    ["sample", "{run}", "-n", "2", "--checkpoint", "latest", "--out", "{tmp}/s.png"],
    ["eval", "{run}", "--recon", "--steps", "2", "--n-images", "2"],
    ["export", "{run}", "--out", "{tmp}/G.pt"],
])
def test_cli_commands_refuse_a_planted_pickle(planted, tmp_path, command):
    run, marker = planted
    args = [a.format(run=run, tmp=tmp_path) for a in command]
    code, _, err = invoke(*args)
    assert_one_line_error(code, err, "cannot load checkpoint", str(run / "checkpoints"))
    assert not marker.exists()


def _study_file(tmp_path, **extra):
    sf = tmp_path / "study.yaml"
    base = {"model": {"base_features": 8, "z_dim": 16},
            "train": {"iterations": 4, "batch_size": 8, "log_every": 1, "sample_every": 0, "n_samples": 4,
                      "checkpoint_every": 2},
            "eval": {"test_interval": 2, "test_steps": 2}, "data": {"running_holdout": 8}}
    sf.write_text(yaml.safe_dump({"name": "p", "base": base, "axes": {"train.seed": [0]},
                                  "final_test": {"steps": 2, "images": 8}, "diversity_samples": 8, **extra}))
    return sf


def _plant_cell(sf, out, marker):
    cell = load_study(sf).cells[0]
    run = out / "runs" / cell.id
    _plant(run / "checkpoints" / "latest.pt", marker)
    return run


def test_local_study_cell_refuses_a_planted_pickle(tmp_path):
    sf, out, marker = _study_file(tmp_path), tmp_path / "out", tmp_path / "PWNED"
    _plant_cell(sf, out, marker)
    code, outp, err = gannorm("study", sf, "--out", out, "--no-report", "--jobs", "1", "--threads", "1")
    assert not marker.exists()
    log = "".join(p.read_text() for p in (out / "logs").glob("*")) if (out / "logs").is_dir() else ""
    assert "cannot load checkpoint" in outp + err + log, (outp, err, log)




@pytest.mark.slow  # starts a local Ray instance (tens of seconds on 2 cores)
@pytest.mark.parametrize("extra", [[], ["--halving"]], ids=["ray", "halving"])
def test_ray_study_and_halving_refuse_a_planted_pickle(tmp_path, extra):
    pytest.importorskip("ray")
    sf, out, marker = _study_file(tmp_path), tmp_path / "out", tmp_path / "PWNED"
    _plant_cell(sf, out, marker)
    code, outp, err = gannorm("study", sf, "--out", out, "--no-report", "--backend", "ray", "--cpus-per-cell", "1",
                              *extra, timeout=600)
    assert not marker.exists(), (outp, err)
    log = "".join(p.read_text() for p in (out / "logs").glob("*")) if (out / "logs").is_dir() else ""
    assert "cannot load checkpoint" in outp + err + log, (code, outp, err, log)


# ----------------------------------------------------------------------------- damaged bytes
def _flip(path, nbytes=400):
    """Flip ``nbytes`` in the middle of the largest tensor of a torch zip archive, leaving the
    archive's structure intact (what a bad disk sector or a stray write does)."""
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
        start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2 - nbytes // 2
        f.seek(start)
        data = bytearray(f.read(nbytes))
        f.seek(start)
        f.write(bytes(b ^ 0xFF for b in data))
    return info.filename


def test_flipped_bytes_load_silently_in_torch_but_not_here(trained, tmp_path):
    """torch.load itself does not notice (the reference for what the check adds)."""
    ck = tmp_path / "latest.pt"
    shutil.copy(trained / "checkpoints" / "latest.pt", ck)
    before = torch.load(ck, weights_only=True)
    member = _flip(ck)
    after = torch.load(ck, weights_only=True)  # no complaint from torch
    assert any(not torch.equal(before[g][k], after[g][k]) for g in ("G", "D") for k in before[g]
               if torch.is_tensor(before[g][k]))
    with pytest.raises(GannormError, match=f"{ck} is damaged .*{member.split('/')[-1]}.* CRC-32"):
        load_checkpoint(ck)


@pytest.mark.parametrize("command", [
    ["sample", "{run}", "-n", "2", "--checkpoint", "latest", "--out", "{tmp}/s.png"],
    ["export", "{run}", "--checkpoint", "latest", "--out", "{tmp}/G.pt"],
    ["train", "--resume", "{run}", "train.iterations=3"],
])
def test_a_damaged_latest_is_refused_naming_the_intact_best(trained, tmp_path, command):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    _flip(run / "checkpoints" / "latest.pt")
    code, _, err = invoke(*[a.format(run=run, tmp=tmp_path) for a in command])
    assert_one_line_error(code, err, f"{run / 'checkpoints' / 'latest.pt'} is damaged", "CRC-32",
                          f"intact {run / 'checkpoints' / 'best.pt'}")
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "G.pt").exists()
