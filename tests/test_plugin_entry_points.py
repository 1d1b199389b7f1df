"""A plug-in from outside the package is found through the ``gannorm.plugins`` entry-point group:
a distribution's metadata put on the path (as ``pip install`` would leave it) with a module that
registers a metric reaches config validation with no import in user code, ``gannorm list``,
``gannorm eval``'s flags and an evaluation of a trained run, each in a fresh process."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

PLUGIN = '''
from gannorm.metrics.fidelity import feature_metric

@feature_metric("toyplug", help="Toy plug-in: mean generated feature.",
                fmt=lambda r: f"toyplug {r['value']:.6f}")
def toyplug(real, gen):
    return {"toyplug": float(gen.features.mean())}
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
                         "c = config.load(None, ['eval.metrics=[toyplug]', 'model.g_norm=weight'])\n"
                         "print(c.eval.metrics, c.model.g_norm)")
    assert "toyplug" in out and "weight" in out


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
              "--n-gen", "6", "--n-real", "6")
    assert "toyplug" in out
    path = out.strip().splitlines()[-1].removeprefix("-> ")
    assert json.loads(Path(path).read_text())[0]["metric"] == "toyplug"


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
