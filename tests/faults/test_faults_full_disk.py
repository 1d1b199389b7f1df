"""A full disk (``ulimit -f``: writes past the limit fail with EFBIG) during a checkpoint
and during a metrics write, and a read-only run directory: one line saying what could not
be written and what is still intact, never a traceback, and the previous checkpoint loads."""
import json

import pytest

from faultkit import TINY, assert_one_line_error, file_size_limit, gannorm, invoke, read_only_preexec

from gannorm import config
from gannorm.training import Trainer
from gannorm.training.checkpoint import load_checkpoint


def _run(tmp_path, extra=()):
    run = tmp_path / "run"
    Trainer(config.load(None, TINY + ["iterations=1", "checkpoint_every=1", *extra]), run, quiet=True).train()
    return run


def test_full_disk_during_a_checkpoint(tmp_path):
    run = _run(tmp_path)
    ckpt = run / "checkpoints" / "latest.pt"
    size = ckpt.stat().st_size
    before = ckpt.read_bytes()
    code, _, err = gannorm("train", "--resume", run, "train.iterations=2", "--quiet",
                           preexec_fn=file_size_limit(size // 2))
    assert_one_line_error(code, err, f"could not write {ckpt}", "File too large",
                          f"the last good checkpoint ({ckpt}, iteration 1) is intact")
    assert ckpt.read_bytes() == before and load_checkpoint(ckpt)["iteration"] == 1
    assert [p.name for p in ckpt.parent.iterdir()] == ["latest.pt"]  # no half-written temporary file


def test_full_disk_during_a_metrics_write_then_resume_drops_the_partial_line(tmp_path):
    run = _run(tmp_path)
    ckpt = run / "checkpoints" / "latest.pt"
    limit = ckpt.stat().st_size + 4096  # checkpoints still fit; metrics.jsonl is filled to just below
    m = run / "metrics.jsonl"
    first = m.read_text()
    pad = json.dumps({"iteration": 1, "note": ""})
    fill = limit - len(first) - 40
    row = json.dumps({"iteration": 1, "note": "x" * (fill - len(pad) - 1)})
    m.write_text(first + row + "\n")
    code, _, err = gannorm("train", "--resume", run, "train.iterations=2", "--quiet", preexec_fn=file_size_limit(limit))
    assert_one_line_error(code, err, f"could not write {m}", "File too large",
                          f"the last good checkpoint ({ckpt}, iteration 1) is intact")
    assert load_checkpoint(ckpt)["iteration"] == 1
    assert m.stat().st_size == limit and not m.read_text().endswith("\n")  # a partial line was left
    # with room again, resume drops the partial line (one warning) and goes on
    with pytest.warns(UserWarning, match="dropped an unfinished last line"):
        code, _, err = invoke("train", "--resume", run, "train.iterations=2")
    assert code == 0, err
    rows = [json.loads(l) for l in m.read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 1, 2]


@pytest.mark.slow  # three interpreters: resume, sample, eval
def test_read_only_run_directory(tmp_path):
    run = _run(tmp_path, ["test_interval=1", "test_steps=2"])
    modes = {p: p.stat().st_mode for p in [run, *run.rglob("*")] if p.is_dir()}
    for p in modes:
        p.chmod(0o555)
    try:
        ro = read_only_preexec()
        code, _, err = gannorm("train", "--resume", run, "train.iterations=2", "--quiet", preexec_fn=ro)
        assert_one_line_error(code, err, f"could not write {run}", "Permission denied",
                              "(iteration 1) is intact".replace("(", f"({run / 'checkpoints' / 'latest.pt'}, "))
        code, _, err = gannorm("sample", run, "-n", "4", preexec_fn=ro)
        assert_one_line_error(code, err, "could not write", str(run / "samples"), "Permission denied")
        code, _, err = gannorm("eval", run, "--recon", "--steps", "2", "--n-images", "8", preexec_fn=ro)
        assert_one_line_error(code, err, "could not write", str(run / "eval"), "Permission denied")
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["iteration"] == 1
