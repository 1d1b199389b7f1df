"""Checkpoints are written atomically: a crash while saving leaves the previous file intact."""
import os

import pytest
import torch

from gannorm.training.checkpoint import load_checkpoint, save_checkpoint
from gannorm.utils import io


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_checkpoint({"iteration": 1, "w": torch.ones(3)}, path)

    def broken_save(obj, f):
        f.write(b"partial garbage")  # some bytes reach the disk, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"iteration": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    s = load_checkpoint(path)
    assert s["iteration"] == 1 and torch.equal(s["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["latest.pt"], "no temporary file may be left behind"


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "x.txt"
    io.atomic_write_text(p, "a" * 1000)
    io.atomic_write_text(p, "b")
    assert p.read_text() == "b"


def test_atomic_files_get_ordinary_permissions(tmp_path):
    """Reference: the mode a plain open() gives under the current umask."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    io.atomic_write_text(tmp_path / "atomic.txt", "x")
    assert (tmp_path / "atomic.txt").stat().st_mode == plain.stat().st_mode
