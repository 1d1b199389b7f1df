"""A plug-in from outside the package is found through the ``gannorm.plugins`` entry-point group:
a distribution's metadata put on the path (as ``pip install`` would leave it) with a module that
registers a metric with an option reaches config validation with no import in user code,
``gannorm list``, ``gannorm eval``'s flags and an evaluation of a trained run with the option, and
a study's final test (its cells are separate processes) and report, each in a fresh process."""
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SRC = Path(__file__).resolve().parents[1] / "src"

PLUGIN = '''
from dataclasses import dataclass

from gannorm.errors import GannormError
from gannorm.metrics.fidelity import feature_metric


@dataclass(frozen=True)
class ToyOptions:
    scale: float = 1.0

    def __post_init__(self):
        if self.scale <= 0:
            raise GannormError(f"toyplug: scale must be > 0, got {self.scale}")


@feature_metric("toyplug", help="Toy plug-in: mean generated feature times scale.", options=ToyOptions,
                fmt=lambda r: f"toyplug {r['value']:.6f}", label="toy mean", unit="au", better="lower")
def toyplug(real, gen, opts):
    return {"toyplug": float(gen.features.mean()) * opts.scale, "toyplug_mean": float(gen.features.mean())}
'''


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    (site / "toyplug_pkg.py").write_text(PLUGIN)
    info = site / "toyplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[gannorm.plugins]\ntoyplug = toyplug_pkg\n")
    e = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(site)]), OMP_NUM_THREADS="1",
             GANNORM_CACHE=str(site / "cache"))
    return e, site


def run(env, *args, timeout=300):
    r = subprocess.run([sys.executable, *args], env=env[0], capture_output=True, text=True, timeout=timeout,
                       cwd=env[1])
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_config_validation_sees_it_without_an_import(env):
    out = run(env, "-c", "from gannorm import config\n"
                         "from gannorm.errors import GannormError\n"
                         "c = config.load(None, ['eval.metrics=[toyplug]', 'model.g_norm=weight',\n"
                         "                       'eval.metric_options.toyplug.scale=2'])\n"
                         "print(c.eval.metrics, c.model.g_norm, c.eval.metric_options)\n"
                         "try:\n"
                         "    config.load(None, ['eval.metrics=[toyplug]', 'eval.metric_options.toyplug.scael=2'])\n"
                         "except GannormError as e:\n"
                         "    print(e)\n")
    assert "['toyplug'] weight {'toyplug': {'scale': 2}}" in out
    assert "eval.metric_options.toyplug: metric 'toyplug' has no option 'scael'; valid: scale. " \
           "Did you mean 'scale'?" in out


def test_list_shows_it(env):
    out = run(env, "-m", "gannorm", "list", "metrics")
    assert "toyplug" in out and "Toy plug-in" in out
    assert "fid" in out  # and the package's own


def test_eval_runs_it_on_a_trained_run(env):
    rd = env[1] / "run"
    run(env, "-m", "gannorm", "train", "--run-dir", str(rd), "model.base_features=8", "model.z_dim=16",
        "train.batch_size=8", "train.iterations=2", "eval.test_interval=0", "train.sample_every=0",
        "train.n_samples=4", "train.device=cpu")
    assert "--toyplug" in run(env, "-m", "gannorm", "eval", "--help")
    out = run(env, "-m", "gannorm", "eval", str(rd), "--toyplug", "--extractor", "efficientnet_lite0:32",
              "--n-gen", "6", "--n-real", "6", "--metric-opt", "toyplug.scale=3")
    assert "toyplug" in out
    path = out.strip().splitlines()[-1].removeprefix("-> ")
    rec = json.loads(Path(path).read_text())[0]
    assert rec["metric"] == "toyplug" and rec["options"] == {"scale": 3.0}
    assert rec["value"] == pytest.approx(3 * rec["toyplug_mean"]) and rec["toyplug_mean"] != 0  # the option was used


def test_a_study_final_test_computes_it_in_its_cells_and_reports_it(env):
    """The cells are ``python -m gannorm.study.cell`` processes: they find the plug-in through the
    entry point alone; its option reaches the figure, the stored key and the report's column."""
    study = env[1] / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "plug", "diversity_samples": 8, "axes": {"train.seed": [0]},
        "base": {"model": {"base_features": 8, "z_dim": 16}, "data": {"running_holdout": 8},
                 "train": {"iterations": 10, "batch_size": 8, "sample_every": 0, "n_samples": 4, "device": "cpu"},
                 "eval": {"test_interval": 5, "test_steps": 2}},
        "final_test": {"steps": 2, "images": 4, "ladder": [1], "metrics": ["toyplug"],
                       "metric_options": {"toyplug": {"scale": 2}}, "extractor": "efficientnet_lite0:32",
                       "n_gen": 6, "n_real": 6}}))
    out = env[1] / "study-out"
    run(env, "-m", "gannorm", "study", str(study), "--out", str(out), "--threads", "1", timeout=600)
    db = sqlite3.connect(out / "study.db")
    rows = db.execute("SELECT key, value, record FROM finals WHERE kind = 'quality'").fetchall()
    assert [k for k, _, _ in rows] == ["toyplug|best|efficientnet_lite0:32|gen=6|real=6|scale=2.0"]
    rec = json.loads(rows[0][2])
    assert rows[0][1] == pytest.approx(2 * rec["toyplug_mean"]) and rec["options"] == {"scale": 2.0}
    page = (out / "report" / "index.html").read_text()
    assert "<th>toy mean [au] (scale=2.0) (efficientnet_lite0:32, 6 gen.)</th>" in page


def test_a_broken_plugin_is_one_line(env, tmp_path):
    (tmp_path / "bad_pkg.py").write_text("raise ImportError('needs something missing')\n")
    info = tmp_path / "bad-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[gannorm.plugins]\nbad = bad_pkg\n")
    e = dict(env[0], PYTHONPATH=os.pathsep.join([env[0]["PYTHONPATH"], str(tmp_path)]))
    r = subprocess.run([sys.executable, "-m", "gannorm", "train", "train.iterations=1"], env=e,
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode != 0
    assert "plug-in 'bad' (bad_pkg) failed to import" in r.stderr and "Traceback" not in r.stderr
