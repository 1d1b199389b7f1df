"""``gannorm eval RUN --fid/--kid/--is/--pr`` end to end on a tiny trained run (click's CliRunner)."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gannorm import config as config_mod
from gannorm.cli import cli
from gannorm.training import Trainer


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fidelity")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANNORM_CACHE", str(tmp / "cache"))
        cfg = config_mod.load(None, ["model.base_features=8", "train.iterations=4", "eval.test_interval=0",
                                     "train.sample_every=0", "train.n_samples=4", "train.log_every=2"])
        Trainer(cfg, tmp / "run", quiet=True).train()
        yield tmp / "run"


def _eval(run, *args):
    return CliRunner().invoke(cli, ["eval", str(run), *args])


def test_eval_fid_kid_records_every_provenance_field_and_caches_the_reference(tiny_run):
    """Reference: gannorm's record rule (metric, extractor, real/generated counts, real split,
    preprocessing with uint8 quantization) and its bad-input rules (too few samples for FID warns
    with the count needed, 1281 for 1280-d features; KID subsets reduced to the sample)."""
    args = ["--fid", "--kid", "--extractor", "efficientnet_lite0:32", "--n-gen", "200", "--n-real", "200"]
    r = _eval(tiny_run, *args)
    assert r.exit_code == 0, r.output
    assert "at least 1281" in r.output and "reduced to 200" in r.output
    fid_line = next(l for l in r.output.splitlines() if l.startswith("FID "))
    for needle in ("efficientnet_lite0:32", "200 generated", "200 real", "training split", "uint8", "32x32"):
        assert needle in fid_line
    path = next(tiny_run.glob("eval/fidelity-*.json"))
    recs = {x["metric"]: x for x in json.loads(path.read_text())}
    fid = recs["fid"]
    assert fid["n_gen"] == 200 and fid["n_real"] == 200 and fid["real_split"].startswith("train")
    assert fid["extractor"] == "efficientnet_lite0:32" and "quantized to uint8" in fid["preprocessing"]
    assert fid["value"] > 0 and recs["kid"]["kid_subset_size"] == 200 and not fid["reference_cached"]
    assert fid["caveat"] is None  # Fashion-MNIST: no CIFAR-10 JPEG caveat
    # the real images' statistics were cached for the next evaluation (reuse: test_extractors.py)
    assert Path(fid["reference_cache"]).is_file()


def test_eval_bad_extractor_and_nothing_to_do_are_one_line_errors(tiny_run):
    """Reference: the project's CLI rule - user errors print one line and exit 2."""
    r = _eval(tiny_run, "--fid", "--extractor", "inceptoin", "--n-gen", "10")
    assert r.exit_code == 2 and "Did you mean 'inception'" in r.output
    r = _eval(tiny_run)
    assert r.exit_code == 2 and "--fid" in r.output


@pytest.mark.slow  # 200 + 2,000 images through EfficientNet-Lite0 at 224x224: minutes on 2 cores
def test_eval_fid_with_the_default_extractor(tiny_run):
    """The plain `gannorm eval --fid` command, at the extractor's native 224x224 input."""
    r = _eval(tiny_run, "--fid", "--extractor", "efficientnet_lite0", "--n-gen", "200")
    assert r.exit_code == 0, r.output
    assert "FID " in r.output and "efficientnet_lite0;" in r.output and "200 generated" in r.output
