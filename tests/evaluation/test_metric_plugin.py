"""A metric is one registration: a toy metric registered here, from the test file alone, reaches
``gannorm eval`` (flag and help), ``evaluate_generator``, ``format_record``, the result file
name and the periodic metrics of a training run."""
import json
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gannorm import config as config_mod
from gannorm.cli import cli
from gannorm.evaluation import make_trainer
from gannorm.metrics.evaluate import evaluate_generator, format_record
from gannorm.metrics.extractors import build_extractor
from gannorm.metrics.features import extract_generated, extract_images
from gannorm.metrics.fidelity import feature_metric
from gannorm.registry import METRICS

EXT = "efficientnet_lite0:32"


@pytest.fixture(scope="module")
def toy():
    @feature_metric("featgap", help="Toy: mean generated feature minus mean real feature.",
                    logged=("featgap", "featgen"), fmt=lambda r: f"feature gap {r['value']:.6f}")
    def featgap(real, gen):
        return {"featgap": float(gen.features.mean() - real.features.mean()), "featgen": float(gen.features.mean())}

    yield "featgap"
    for table in (METRICS._items, METRICS._help, METRICS._attrs):  # leave the registry as it was
        table.pop("featgap", None)


@pytest.fixture(scope="module")
def run(toy, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plugin")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANNORM_CACHE", str(tmp / "cache"))
        cfg = config_mod.load(None, ["model.base_features=8", "model.z_dim=16", "train.batch_size=8",
                                     "train.iterations=2", "eval.test_interval=0", "train.sample_every=0",
                                     "train.n_samples=4", "train.device=cpu", f"eval.metrics=[{toy}]",
                                     "eval.metrics_interval=1", "eval.metrics_n=6", f"eval.extractor={EXT}"])
        trainer = make_trainer(cfg, tmp / "run", quiet=True)
        trainer.train()
        yield tmp / "run", trainer


def test_the_registration_makes_the_eval_flag(toy):
    r = CliRunner().invoke(cli, ["eval", "--help"])
    assert "--featgap" in r.output and "Toy: mean generated feature" in r.output


def test_evaluate_and_format_use_the_registration(toy, run):
    """Reference: the toy's definition computed by hand from the extractor's features."""
    _, trainer = run
    g = trainer.sample_generator.eval()
    real = trainer.data.images[:7]
    rec, = evaluate_generator(g, real, metrics=[toy], extractor=EXT, n_gen=6, seed=3, use_cache=False)
    ext = build_extractor(EXT, "cpu")
    f_real, _ = extract_images(ext, real, 64)
    f_gen, _ = extract_generated(ext, g, 6, 64, 3, torch.device("cpu"), False)
    assert rec["value"] == pytest.approx(float(f_gen.mean() - f_real.mean()), rel=1e-5)
    assert rec["featgen"] == pytest.approx(float(f_gen.mean()), rel=1e-5) and rec["n_real"] == 7
    assert format_record(rec).startswith(f"feature gap {rec['value']:.6f}  [extractor {EXT}; 6 generated vs 7 real")


def test_training_logs_the_registered_values(toy, run):
    """Reference: the registration's ``logged`` keys, named <key>_<extractor> in metrics.jsonl."""
    rd, _ = run
    rows = [json.loads(l) for l in (rd / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "featgap_efficientnet_lite0" in r]
    assert [r["iteration"] for r in logged] == [1, 2]
    assert all(np.isfinite(r["featgap_efficientnet_lite0"]) and np.isfinite(r["featgen_efficientnet_lite0"])
               for r in logged)


def test_gannorm_eval_runs_the_registered_metric(toy, run):
    rd, _ = run
    r = CliRunner().invoke(cli, ["eval", str(rd), "--featgap", "--extractor", EXT, "--n-gen", "6", "--n-real", "6"])
    assert r.exit_code == 0, r.output
    assert re.search(r"feature gap -?[0-9.]+  \[extractor efficientnet_lite0:32; 6 generated vs 6 real", r.output)
    path = r.output.strip().splitlines()[-1].removeprefix("-> ")
    assert "featgap" in path and json.loads(open(path).read())[0]["metric"] == "featgap"
