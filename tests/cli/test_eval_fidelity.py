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


def test_eval_metric_options_reach_the_figure_and_the_file_name(tiny_run):
    """``--metric-opt kid.subsets=3`` and the older ``--kid-subset-size`` reach KID; a changed
    option writes another file; a bad one is a one-line error before anything is read."""
    base = ["--kid", "--extractor", "efficientnet_lite0:32", "--n-gen", "40", "--n-real", "40"]
    r = _eval(tiny_run, *base, "--metric-opt", "kid.subsets=3", "--kid-subset-size", "20")
    assert r.exit_code == 0, r.output
    assert "KID " in r.output and "(3 subsets of 20)" in r.output
    rec, = json.loads(Path(r.output.strip().splitlines()[-1].removeprefix("-> ")).read_text())
    assert rec["options"] == {"subsets": 3, "subset_size": 20}
    r2 = _eval(tiny_run, *base, "--metric-opt", "kid.subsets=4", "--metric-opt", "kid.subset_size=20")
    assert r2.exit_code == 0 and "(4 subsets of 20)" in r2.output
    assert r2.output.strip().splitlines()[-1] != r.output.strip().splitlines()[-1]
    for bad, msg in ((["--metric-opt", "kid.subset_sise=3"], "Did you mean 'subset_size'"),
                     (["--metric-opt", "kid.subsets=x"], "--metric-opt kid.subsets: expected an integer"),
                     (["--metric-opt", "fid.k=3"], "fid is not among the metrics computed (kid)"),
                     (["--metric-opt", "kid=3"], "is not METRIC.OPTION=VALUE")):
        r = _eval(tiny_run, *base, *bad)
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, r.output
    helptext = " ".join(CliRunner().invoke(cli, ["eval", "--help"]).output.split())
    assert "Options (--metric-opt kid.NAME=VALUE): subsets=100, subset_size=1000." in helptext


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
