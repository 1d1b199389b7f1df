"""Studies: grid expansion and validation, the SQLite store, stability signals, and a tiny
study end to end (skip finished cells, record a failing cell, render the report)."""
import json
import sqlite3

import pytest
import torch
import yaml
from click.testing import CliRunner

from gannorm.cli import cli
from gannorm.errors import GannormError
from gannorm.study import build_report, load_study, run_study
from gannorm.study import stability

TINY = {"model": {"base_features": 8, "z_dim": 16},
        "train": {"iterations": 4, "batch_size": 8, "log_every": 1, "sample_every": 2, "n_samples": 4},
        "eval": {"test_interval": 2, "test_steps": 2}, "data": {"running_holdout": 8}}


def _write(tmp_path, axes, **extra):
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump({"name": "t", "base": TINY, "axes": axes,
                                 "final_test": {"steps": 2, "images": 8}, "diversity_samples": 8, **extra}))
    return p


def test_grid_is_the_cartesian_product_with_tied_overrides(tmp_path):
    s = load_study(_write(tmp_path, {"norm": {"bn": {"g_norm": "batch", "d_norm": "batch"},
                                              "wn": {"g_norm": "weight", "d_norm": "weight"}},
                                     "train.seed": [0, 1, 2]}))
    assert len(s.cells) == 6 and len({c.id for c in s.cells}) == 6
    c = next(c for c in s.cells if c.labels == {"norm": "wn", "train.seed": "2"})
    assert (c.config.model.g_norm, c.config.model.d_norm, c.config.train.seed) == ("weight", "weight", 2)
    assert c.config.train.iterations == 4  # the base applies to every cell
    assert s.seed_axis == "train.seed"


def test_unknown_axis_value_fails_before_any_run(tmp_path):
    with pytest.raises(GannormError, match=r"unknown normalization 'wieght'; valid: .*batch.*none.*weight"):
        load_study(_write(tmp_path, {"d_norm": ["none", "wieght"]}))
    with pytest.raises(GannormError, match="unknown config key"):
        load_study(_write(tmp_path, {"no_such_key": [1, 2]}))


def test_mean_pairwise_distance_against_explicit_loops():
    """Reference: the average of ||x_i - x_j|| over ordered pairs i != j, by hand."""
    x = torch.randn(6, 1, 3, 3)
    ref = sum(float((x[i] - x[j]).norm()) for i in range(6) for j in range(6) if i != j) / 30
    assert stability.mean_pairwise_distance(x) == pytest.approx(ref, rel=1e-6)
    same = x[:1].expand(6, -1, -1, -1)
    assert stability.diversity_ratio(same, x) == pytest.approx(0.0, abs=1e-9)  # a collapsed G
    assert stability.diversity_ratio(x, x) == pytest.approx(1.0)


def test_d_wins_and_worse_count():
    m = [{"iteration": i, "d_real": 0.999, "d_fake": 0.001} for i in range(5)]
    assert stability.d_wins(m) and not stability.d_wins(m[:-1] + [{"iteration": 5, "d_real": 0.7, "d_fake": 0.2}])
    assert stability.worse_count([1.0, 0.9, 1.2, 1.21, 0.5, 0.56]) == 2  # +33% and +12%; +0.8% is noise


def test_tiny_study_end_to_end(tmp_path):
    axes = {"data": {"ok": {"data.name": "fashion_mnist_small"},
                     "missing": {"data.name": "folder", "data.root": str(tmp_path / "nope")}},
            "train.seed": [0, 1]}
    s = load_study(_write(tmp_path, axes))
    out = tmp_path / "out"
    rows = run_study(s, out, jobs=2)
    status = {r["cell_id"]: r["status"] for r in rows}
    assert status == {"data=ok,seed=0": "done", "data=ok,seed=1": "done",
                      "data=missing,seed=0": "failed", "data=missing,seed=1": "failed"}
    db = sqlite3.connect(out / "study.db")
    err = db.execute("SELECT error FROM runs WHERE cell_id='data=missing,seed=0'").fetchone()[0]
    assert "image folder not found" in err
    final, its = db.execute("SELECT final_recon, iterations FROM runs WHERE cell_id='data=ok,seed=1'").fetchone()
    assert its == 4 and 0 < final < 1
    result = json.loads((out / "runs" / "data=ok,seed=1" / "result.json").read_text())
    assert result["final_recon"] == pytest.approx(final)
    n_metric_rows = db.execute("SELECT COUNT(*) FROM metrics WHERE cell_id='data=ok,seed=0' AND key='d_loss'").fetchone()[0]
    assert n_metric_rows == 4  # one per logged step

    # a second invocation skips the finished and the failed cells
    assert run_study(s, out, jobs=1) == []

    page = build_report(out).read_text()
    assert "Final test" in page and "ok" in page and "image folder not found" in page
    assert page.count("data:image/png;base64,") >= 3  # figures are embedded: the page is self-contained
    r = CliRunner().invoke(cli, ["results", str(out), "--where", "data=ok", "--format", "csv"])
    assert r.exit_code == 0 and r.output.count("\n") == 3  # header + 2 runs
