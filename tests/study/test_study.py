"""Studies end to end: grid expansion and validation, a tiny hinge-loss study (a failing
cell recorded, sample-quality metrics with one that cannot be computed, cost, results and
report), re-scoring finished cells with a new final test without retraining them, and a
study written by an earlier gannorm migrated and re-scored."""
import csv
import io
import json
import shutil
import sqlite3

import pytest

from gannorm.config import from_dict
from gannorm.data import load_data, split_for
from gannorm.metrics.fidelity import feature_metrics

import torch
import yaml
from click.testing import CliRunner

from gannorm import outcomes
from gannorm.cli import cli
from gannorm.errors import GannormError
from gannorm.losses.hinge import Hinge
from gannorm.losses.lsgan import LSGAN
from gannorm.losses.standard import NonSaturating
from gannorm.losses.wgan import WGANGP
from gannorm.report import build_report
from gannorm.study import load_study, run_study
from gannorm.store import stability
from gannorm.store import Store

TINY = {"model": {"base_features": 8, "z_dim": 16},
        "train": {"iterations": 4, "batch_size": 8, "log_every": 1, "sample_every": 2, "n_samples": 4,
                  "loss": "hinge"},
        "eval": {"test_interval": 2, "test_steps": 2}, "data": {"running_holdout": 8}}
FINAL = {"steps": 3, "images": 8, "checkpoints": ["best", "latest"], "ladder": [1, 2, 50],
         "metrics": ["fid", "pr"], "extractor": "efficientnet_lite0:32", "n_gen": 3, "n_real": 10}


def _write(tmp_path, axes, final=FINAL, **extra):
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump({"name": "t", "base": TINY, "axes": axes, "final_test": final,
                                 "diversity_samples": 8, **extra}))
    return p


AXES = {"data": {"ok": {"data.name": "fashion_mnist_small"},
                 "missing": {"data.name": "folder", "data.root": "/nonexistent/images"}},
        "train.seed": [0, 1]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny study run once: 2 trained cells and 2 that fail (missing data)."""
    tmp = tmp_path_factory.mktemp("study")
    s = load_study(_write(tmp, AXES))
    out = tmp / "out"
    rows = run_study(s, out, jobs=2)
    return s, out, rows


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


def test_unknown_metric_or_extractor_fails_before_any_run_listing_valid_names(tmp_path):
    valid = ", ".join(feature_metrics())  # every registered sample-quality metric, in the registry's order
    assert valid.startswith("dc, fid, is")
    with pytest.raises(GannormError, match=rf"final_test.metrics: unknown sample-quality metric 'fdi'; valid: {valid}\. "
                                           rf"Did you mean 'fid'\?$"):
        load_study(_write(tmp_path, {"d_norm": ["none"]}, final={"metrics": ["fdi"]}))
    with pytest.raises(GannormError, match=r"unknown feature extractor 'effnet'; valid: .*efficientnet_lite0"):
        load_study(_write(tmp_path, {"d_norm": ["none"]}, final={"metrics": ["fid"], "extractor": "effnet"}))
    with pytest.raises(GannormError, match="unknown final_test key.*valid: steps"):
        load_study(_write(tmp_path, {"d_norm": ["none"]}, final={"step": 5}))
    assert not (tmp_path / "out").exists()


def test_default_final_test_is_the_papers_protocol(tmp_path):
    s = load_study(_write(tmp_path, {"d_norm": ["none"]}, final=None))
    ft = s.final_test
    assert ft.checkpoints == ("best",) and ft.images is None and ft.steps is None
    cfg = s.cells[0].config
    assert ft.steps_for(cfg) == cfg.eval.final_steps and ft.reduced(cfg, 2000) == []
    assert ft.reduced(cfg, 500) == ["500 held-out images instead of the paper's 2000"]


def test_mean_pairwise_distance_against_explicit_loops():
    """Reference: the average of ||x_i - x_j|| over ordered pairs i != j, by hand."""
    x = torch.randn(6, 1, 3, 3)
    ref = sum(float((x[i] - x[j]).norm()) for i in range(6) for j in range(6) if i != j) / 30
    assert stability.mean_pairwise_distance(x) == pytest.approx(ref, rel=1e-6)
    same = x[:1].expand(6, -1, -1, -1)
    assert stability.diversity_ratio(same, x) == pytest.approx(0.0, abs=1e-9)  # a collapsed G
    assert stability.diversity_ratio(x, x) == pytest.approx(1.0)


def test_d_wins_uses_each_losss_own_scale():
    # healthy hinge: raw scores beyond +-1 on average (the old probability rule flagged this), loss ~1.5
    healthy = [{"iteration": i, "d_loss": 1.5, "d_real": 1.3, "d_fake": -1.2} for i in range(5)]
    assert stability.d_wins(healthy, Hinge()) is False
    won = [{"iteration": i, "d_loss": 0.01, "d_real": 4.0, "d_fake": -4.0} for i in range(5)]
    assert stability.d_wins(won, Hinge()) is True
    # BCE: D(real) 0.999, D(fake) 0.001 -> d_loss = -2 ln 0.999 ~ 0.002: D wins
    assert stability.d_wins([{"iteration": i, "d_loss": 0.002} for i in range(5)], NonSaturating()) is True
    assert stability.d_wins([{"iteration": i, "d_loss": 1.2} for i in range(5)], NonSaturating()) is False
    assert LSGAN(a=-1, b=1).chance_d_loss == pytest.approx(1.0)  # D = 0 everywhere: 0.5 + 0.5
    assert stability.d_wins(won, WGANGP()) is None  # no chance level: no flag, not a false one
    assert not stability.d_wins(won[:-1] + [{"iteration": 5, "d_loss": 1.0}], Hinge())  # every one of the last steps


def test_worse_count():
    assert stability.worse_count([1.0, 0.9, 1.2, 1.21, 0.5, 0.56]) == 2  # +33% and +12%; +0.8% is noise


def test_train_seconds_from_the_logged_rate():
    rows = [{"iteration": 10, "it_per_s": 5.0}, {"iteration": 20, "it_per_s": 4.0}, {"iteration": 20}]
    assert stability.train_seconds(rows) == pytest.approx(5.0)  # 20 iterations at 4 it/s
    assert stability.train_seconds([{"iteration": 3}]) is None


def test_tiny_study_end_to_end(trained):
    s, out, rows = trained
    status = {r["cell_id"]: r["status"] for r in rows}
    assert status == {"data=ok,seed=0": "done", "data=ok,seed=1": "done",
                      "data=missing,seed=0": "failed", "data=missing,seed=1": "failed"}
    db = sqlite3.connect(out / "study.db")
    assert "image folder not found" in db.execute("SELECT error FROM runs WHERE cell_id='data=missing,seed=0'").fetchone()[0]
    its, d_wins, secs, rate = db.execute("SELECT iterations, d_wins, train_seconds, it_per_s FROM runs "
                                         "WHERE cell_id='data=ok,seed=1'").fetchone()
    assert its == 4 and d_wins == 0  # a healthy hinge run is not flagged
    assert secs > 0 and rate == pytest.approx(4 / secs)
    res = json.loads((out / "runs" / "data=ok,seed=1" / "result.json").read_text())
    best = res["finals"]["recon|best|steps=3|images=8"]
    final, = db.execute("SELECT value FROM finals WHERE cell_id='data=ok,seed=1' AND key='recon|best|steps=3|images=8'"
                        ).fetchone()
    assert 0 < final < 1 and best["recon"] == pytest.approx(final) and best["n_images"] == 8
    assert best["dropped_budgets"] == [50] and sorted(best["ladder"], key=int) == ["1", "2", "3"]
    ladder = dict(db.execute("SELECT budget, value FROM ladder WHERE cell_id='data=ok,seed=1' AND "
                             "key='recon|best|steps=3|images=8'").fetchall())
    assert ladder[3] == pytest.approx(final) and set(ladder) == {1, 2, 3}
    assert "recon|latest|steps=3|images=8" in res["finals"]
    # sample quality: FID computed, precision/recall cannot be with 3 images: recorded with its reason
    q = {m: (v, err) for m, v, err in db.execute("SELECT metric, value, error FROM finals WHERE "
                                                  "cell_id='data=ok,seed=0' AND kind='quality' AND checkpoint='best'")}
    assert q["fid"][0] is not None and q["fid"][1] is None
    assert q["pr"][0] is None and "precision/recall with k=3 needs at least 4" in q["pr"][1]
    n_metric_rows = db.execute("SELECT COUNT(*) FROM metrics WHERE cell_id='data=ok,seed=0' AND key='d_loss'").fetchone()[0]
    assert n_metric_rows == 4  # one per logged step

    assert run_study(s, out, jobs=1) == []  # a second invocation skips the finished and the failed cells

    page = build_report(out).read_text()
    assert "Final test" in page and "image folder not found" in page and "Provenance" in page
    assert "FID (efficientnet_lite0:32, 3 gen.)" in page and "not computed" in page
    assert "reduced final test" in page and "<h3>data = ok</h3>" in page  # one panel per dataset
    assert page.count("data:image/png;base64,") >= 5  # figures are embedded: the page is self-contained

    r = CliRunner().invoke(cli, ["results", str(out), "--where", "data=ok", "--format", "csv"])
    assert r.exit_code == 0, r.output
    parsed = list(csv.DictReader(io.StringIO(r.output)))
    assert [p["cell_id"] for p in parsed] == ["data=ok,seed=0", "data=ok,seed=1"]  # the ids as everywhere else
    assert float(parsed[1]["final_best"]) == pytest.approx(final) and float(parsed[1]["train_seconds"]) > 0
    r = CliRunner().invoke(cli, ["results", str(out)])
    assert r.exit_code == 0 and "diversity" in r.output.splitlines()[0]  # the whole header
    r = CliRunner().invoke(cli, ["results", str(out), "--by", "data", "--format", "json"])
    g = {x["data"]: x for x in json.loads(r.output)}
    assert g["ok"]["n"] == 2 and g["missing"]["n"] == 0 and g["ok"]["ci_low"] < g["ok"]["mean"] < g["ok"]["ci_high"]
    r = CliRunner().invoke(cli, ["results", str(out), "--by", "norm"])
    assert r.exit_code == 2 and "not an axis of this study; axes: data, train.seed" in r.output


def _mtimes(run):
    return {p.name: p.stat().st_mtime_ns for p in [run / "metrics.jsonl", run / "checkpoints" / "latest.pt"]}


def test_new_final_test_rescores_finished_cells_without_retraining(trained, tmp_path):
    _, src, _ = trained
    out = tmp_path / "out"
    shutil.copytree(src, out)
    run = out / "runs" / "data=ok,seed=0"
    before = _mtimes(run)
    s = load_study(_write(tmp_path, {"data": {"ok": {"data.name": "fashion_mnist_small"}}, "train.seed": [0]},
                          final={"steps": 5, "images": 6}))
    rows = run_study(s, out)
    assert [r["cell_id"] for r in rows] == ["data=ok,seed=0"] and rows[0]["status"] == "done"
    assert _mtimes(run) == before  # not trained again
    store = Store(out / "study.db")
    f = store.finals()["data=ok,seed=0"]
    assert f["recon|best|steps=5|images=6"]["images"] == 6 and "recon|best|steps=3|images=8" in f  # old kept
    assert not store.needs_work("data=ok,seed=0", ["recon|best|steps=5|images=6"])
    store.close()
    assert run_study(s, out) == []
    # the report describes the setting it scores, not the earlier one whose results are kept beside it
    page = build_report(out).read_text()
    assert "on 6 held-out images, 5 z-steps" in page and "8 held-out" not in page and "3, 5 z-steps" not in page


def test_real_split_all_scores_against_every_image_under_its_own_key(trained, tmp_path):
    """``final_test.real_split: all`` (the ADA paper's reference set for limited-data runs) takes
    the real images from the whole dataset, held-out ones included; its results sit beside the
    training-split ones under a key that names the split."""
    _, src, _ = trained
    out = tmp_path / "out"
    shutil.copytree(src, out)
    final = {**FINAL, "checkpoints": ["latest"], "metrics": ["fid", "dc"], "n_gen": 6, "n_real": None,
             "real_split": "all"}
    run_study(load_study(_write(tmp_path, {"data": {"ok": {"data.name": "fashion_mnist_small"}},
                                           "train.seed": [0]}, final=final)), out)
    store = Store(out / "study.db")
    f = store.finals()["data=ok,seed=0"]
    store.close()
    new = "fid|latest|efficientnet_lite0:32|gen=6|real=all@all"
    old = "fid|latest|efficientnet_lite0:32|gen=3|real=10"
    assert new in f and old in f
    rec = f[new]["record"]
    cfg = yaml.safe_load((out / "runs" / "data=ok,seed=0" / "config.yaml").read_text())
    data_cfg = from_dict(cfg).data
    data = load_data(data_cfg)
    assert rec["n_real"] == len(data) > len(split_for(data_cfg, len(data)).indices("train"))
    assert rec["real_split"].startswith("all:")
    # the report: against all real images, and coverage in a column beside density (from the record)
    dc = f["dc|latest|efficientnet_lite0:32|gen=6|real=all@all"]["record"]
    page = build_report(out).read_text()
    assert "6 generated vs all real images" in page
    assert "Sample quality on the latest checkpoint: FID (lower is better): one method only." in page
    assert "<th>coverage (efficientnet_lite0:32, 6 gen.)</th>" in page and f"{dc['coverage']:.4f}" in page


def _as_earlier_gannorm(out):
    """Rewrite a study directory as an earlier gannorm left it: one-table store, result.json
    with a single final result and its whole per-step curve."""
    db = sqlite3.connect(out / "study.db")
    rows = db.execute("SELECT cell_id, labels, status, error, iterations, best_running, best_iteration, diversity, "
                      "cell_seconds FROM runs").fetchall()
    metrics = db.execute("SELECT * FROM metrics").fetchall()
    db.close()
    (out / "study.db").unlink()
    db = sqlite3.connect(out / "study.db")
    db.executescript("""CREATE TABLE runs (
  cell_id TEXT PRIMARY KEY, labels TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
  run_dir TEXT, iterations INTEGER, final_recon REAL, final_steps INTEGER, final_images INTEGER,
  best_running REAL, best_iteration INTEGER, diversity REAL, d_wins INTEGER, worse_count INTEGER,
  seconds REAL, updated TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE metrics (cell_id TEXT NOT NULL, iteration INTEGER NOT NULL, key TEXT NOT NULL, value REAL);""")
    for cid, labels, status, error, its, br, bi, div, secs in rows:
        run = out / "runs" / cid
        final = None
        if status == "done":
            new = json.loads((run / "result.json").read_text())
            e = new["finals"]["recon|best|steps=3|images=8"]
            curve = [0.5] * 4
            curve[1], curve[2], curve[3] = e["ladder"]["1"], e["ladder"]["2"], e["ladder"]["3"]
            final = e["recon"]
            (run / "result.json").write_text(json.dumps({
                "status": "done", "iterations": its, "final_recon": final, "final_steps": 3, "final_images": 8,
                "best_running": br, "best_iteration": bi, "diversity": div, "d_wins": True, "worse_count": 0,
                "seconds": secs, "final_curve": curve}))
            shutil.rmtree(run / "final")
        if cid == "data=missing,seed=1":  # the earlier trainer's message for a non-finite loss
            status, error = "failed", "gannorm: error: d_loss stopped being finite at iteration 3 (now nan)"
        db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,CURRENT_TIMESTAMP)",
                   (cid, labels, status, error, str(run), its, final, 3 if final else None, 8 if final else None,
                    br, bi, div, 1, 0, secs))
    db.executemany("INSERT INTO metrics VALUES (?,?,?,?)", metrics)
    db.commit()
    db.close()


def test_study_of_an_earlier_gannorm_is_migrated_and_rescored(trained, tmp_path):
    _, src, _ = trained
    out = tmp_path / "out"
    shutil.copytree(src, out)
    _as_earlier_gannorm(out)
    store = Store(out / "study.db")  # migrates in place
    runs = {r["cell_id"]: r for r in store.runs()}
    assert runs["data=missing,seed=1"]["status"] == "diverged" and runs["data=missing,seed=0"]["status"] == "failed"
    assert runs["data=ok,seed=0"]["train_seconds"] > 0  # cost from the logged rate
    f = store.finals()["data=ok,seed=0"]["recon|best|steps=3|images=8"]
    assert f["checkpoint_used"] == "best" and set(f["ladder"]) == {3}  # the default ladder up to its 3 steps
    store.close()
    page = build_report(out).read_text()
    assert "not recorded: this study was run by an earlier gannorm" in page
    before = _mtimes(out / "runs" / "data=ok,seed=0")
    s = load_study(_write(tmp_path, AXES, final={"steps": 3, "images": 8, "checkpoints": ["best", "latest"]}))
    rows = run_study(s, out)
    assert sorted(r["cell_id"] for r in rows) == ["data=ok,seed=0", "data=ok,seed=1"]  # only the latest test is new
    assert _mtimes(out / "runs" / "data=ok,seed=0") == before
    res = json.loads((out / "runs" / "data=ok,seed=0" / "result.json").read_text())
    assert res["version"] == 2 and res["d_wins"] is False  # recomputed with the hinge loss's own criterion
    assert {"recon|best|steps=3|images=8", "recon|latest|steps=3|images=8"} <= set(res["finals"])
    page = build_report(out).read_text()
    assert "Best-running checkpoint vs last checkpoint" in page
    assert "Scored on the best checkpoint: " in page and "Scored on the latest checkpoint instead: " in page
    assert "running test: lowest" in page and "running test: last" in page  # the figure that goes with each checkpoint


def test_a_cell_that_diverges_records_the_status_and_the_store_keeps_it(tmp_path, monkeypatch):
    """The trainer's non-finite-loss error becomes the recorded status ``diverged``: the store
    reads the status, whatever the error text says."""
    from gannorm import config as config_mod
    from gannorm.errors import DivergedError
    from gannorm.study import cell
    from gannorm.study.ingest import ingest

    class Diverging:
        def __init__(self, cfg, run_dir, **kw):
            self.iteration = 0

        def train(self, until=None):
            raise DivergedError("the loss went wrong at iteration 3")

    monkeypatch.setattr(cell, "make_trainer", Diverging)
    cfg_path = tmp_path / "c.yaml"
    config_mod.save(config_mod.from_dict(TINY), cfg_path)
    run = tmp_path / "run"
    with pytest.raises(DivergedError):
        cell.run_cell(str(cfg_path), str(run))
    res = json.loads((run / "result.json").read_text())
    assert res["status"] == "diverged" and res["train_seconds"] >= 0
    assert outcomes.read(run).status == "diverged"  # the structured outcome beside the run
    store = Store(tmp_path / "study.db")
    row = ingest(store, "x", {"seed": "0"}, run, outcomes.Outcome("failed", "exit code 3"))
    assert row["status"] == "diverged" and store.status("x") == "diverged"
    assert row["error"] == "the loss went wrong at iteration 3"
    assert not store.needs_work("x", ["k"]) and store.needs_work("x", ["k"], retry_failed=True)
    # a later attempt that fails otherwise is not taken for divergence: the cell marks its attempt first
    monkeypatch.setattr(cell.config_mod, "load", lambda p: (_ for _ in ()).throw(GannormError("bad config")))
    with pytest.raises(GannormError):
        cell.run_cell(str(cfg_path), str(run))
    assert outcomes.read(run) is None  # this attempt removed the earlier one's outcome
    assert ingest(store, "x", {"seed": "0"}, run, outcomes.Outcome("failed", "bad config"))["status"] == "failed"
    store.close()
