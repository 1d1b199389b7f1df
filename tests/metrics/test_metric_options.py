"""A metric's options are declared once, by its registration (an options dataclass), and every
place that takes them (``eval.metric_options``, a study's ``final_test.metric_options``,
``evaluate_generator``/``evaluate_run``, ``gannorm eval --metric-opt``) validates against it."""
import dataclasses

import numpy as np
import pytest
import torch

from gannorm import config as config_mod
from gannorm.errors import GannormError
from gannorm.metrics.evaluate import check_settings, evaluate_generator
from gannorm.metrics.extractors import build_extractor
from gannorm.metrics.features import extract_generated, extract_images
from gannorm.metrics.fidelity import KIDOptions, describe_options, feature_attrs, feature_metrics, kid_from_features
from gannorm.registry import METRICS
from gannorm.store.final_test import parse, quality_key

EXT = "efficientnet_lite0:32"


def test_every_option_has_one_default_read_from_its_dataclass():
    """Reference: the dataclass fields themselves; what config, final test and ``--help`` show."""
    for m in feature_metrics():
        cls = METRICS.attr(m, "options")
        opts = config_mod.metric_options([m], {}, "eval")[m]
        if cls is None:
            assert opts is None and describe_options(m) == ""
            continue
        assert opts == cls()
        for f in dataclasses.fields(cls):
            assert f"{f.name}={getattr(cls(), f.name)!r}" in describe_options(m)
    assert config_mod.metric_options(["kid"], {}, "eval")["kid"] == KIDOptions(subsets=100, subset_size=1000)
    assert config_mod.metric_options(["pr", "dc"], {}, "eval")["dc"].k == 5


@pytest.mark.parametrize("given, message", [
    ({"kid": {"subset_sise": 10}}, r"eval.metric_options.kid: metric 'kid' has no option 'subset_sise'; "
                                   r"valid: subsets, subset_size. Did you mean 'subset_size'\?"),
    ({"kid": {"subset_size": "many"}}, r"eval.metric_options.kid.subset_size: expected an integer, got 'many'"),
    ({"kid": {"subset_size": 1.5}}, r"eval.metric_options.kid.subset_size: expected an integer"),
    ({"kid": {"subset_size": 1}}, r"eval.metric_options.kid: KID needs a subset size >= 2"),
    ({"kid": [1, 2]}, r"eval.metric_options.kid: expected options like"),
    ({"pr": {"k": 0}}, r"eval.metric_options.pr: k must be >= 1"),
    ({"fid": {"dims": 3}}, r"eval.metric_options.fid: metric 'fid' has no options, got dims"),
    ({"is": {"splits": 5}}, r"eval.metric_options.is: is is not among the metrics computed \(fid, kid, pr\)"),
    ({"kdi": {}}, r"eval.metric_options.kdi: unknown sample-quality metric 'kdi'.*Did you mean 'kid'\?"),
])
def test_bad_options_are_one_line_errors(given, message):
    with pytest.raises(GannormError, match=message) as e:
        config_mod.metric_options(["fid", "kid", "pr"], given, "eval")
    assert "\n" not in str(e.value)


def test_eval_config_carries_them_and_validates_before_training():
    cfg = config_mod.load(None, ["eval.metrics=[fid,kid]", "eval.metric_options.kid.subset_size=50",
                                 "eval.metrics_n=100"])
    assert cfg.eval.metric_options == {"kid": {"subset_size": 50}}
    with pytest.raises(GannormError, match="has no option 'subset'.*Did you mean 'subsets'"):
        config_mod.load(None, ["eval.metrics=[kid]", "eval.metric_options.kid.subset=50"])
    # the check of each metric sees its options: k = 10 needs 11 images, eval.metrics_n is 8
    with pytest.raises(GannormError, match=r"k=10 needs at least 11 generated images, got 8; raise eval.metrics_n"):
        config_mod.load(None, ["eval.metrics=[pr]", "eval.metric_options.pr.k=10", "eval.metrics_n=8"])
    config_mod.load(None, ["eval.metrics=[pr]", "eval.metric_options.pr.k=2", "eval.metrics_n=8"])


def test_changed_options():
    assert config_mod.changed_options(KIDOptions()) == {}
    assert config_mod.changed_options(KIDOptions(subset_size=100)) == {"subset_size": 100}
    assert config_mod.changed_options(None) == {}


def test_feature_attrs_refuses_options_without_defaults():
    @dataclasses.dataclass
    class NoDefault:
        k: int

    with pytest.raises(ValueError, match="every option needs a default; k has none"):
        feature_attrs("x", fmt=str, options=NoDefault)
    with pytest.raises(ValueError, match="options must be a dataclass"):
        feature_attrs("x", fmt=str, options={"k": 3})


def test_evaluate_generator_computes_with_the_options():
    """Reference: KID from the extractor's own features with the same subsets, by the plain function."""
    torch.manual_seed(0)
    g = torch.nn.Sequential(torch.nn.Linear(8, 32 * 32), torch.nn.Unflatten(1, (1, 32, 32)), torch.nn.Sigmoid())
    g.z_dim, g.output_range = 8, (0.0, 1.0)
    real = (np.random.RandomState(0).rand(40, 1, 32, 32) * 255).astype(np.uint8)
    recs = evaluate_generator(g, real, metrics=["kid", "pr"], options={"kid": {"subsets": 7, "subset_size": 15}},
                              extractor=EXT, n_gen=30, seed=4, use_cache=False)
    kid, pr = recs
    ext = build_extractor(EXT, "cpu")
    f_real, _ = extract_images(ext, real, 64)
    f_gen, _ = extract_generated(ext, g, 30, 64, 4, torch.device("cpu"), False)
    ref = kid_from_features(f_real, f_gen, subsets=7, subset_size=15, seed=4)
    assert kid["value"] == pytest.approx(ref["kid"], rel=1e-6) and kid["kid_std"] == pytest.approx(ref["kid_std"], rel=1e-6)
    assert kid["options"] == {"subsets": 7, "subset_size": 15} and (kid["kid_subsets"], kid["kid_subset_size"]) == (7, 15)
    assert pr["options"] == {"k": 3}  # the defaults, recorded


def test_check_settings_refuses_before_any_work():
    with pytest.raises(GannormError, match=r"--metric-opt kid: metric 'kid' has no option 'size'"):
        check_settings(["kid"], 10, 10, {"kid": {"size": 3}})
    with pytest.raises(GannormError, match=r"density/coverage with k=20 needs at least 21 real images, got 10"):
        check_settings(["dc"], 10, 50, {"dc": {"k": 20}})
    assert check_settings(["dc"], 10, 50, {"dc": {"k": 2}})["dc"].k == 2


def test_final_test_keys_name_non_default_options_and_old_specs_keep_their_keys():
    """Reference: the key format of gannorm before metrics took options (a stored study's keys)."""
    old = parse({"metrics": ["fid", "kid"], "extractor": EXT, "n_gen": 30, "n_real": 40})
    assert old.quality_keys() == [f"fid|best|{EXT}|gen=30|real=40", f"kid|best|{EXT}|gen=30|real=40"]
    assert parse({"metrics": ["kid"], "metric_options": {"kid": {"subset_size": 1000}}}).metric_options == {}
    new = parse({"metrics": ["fid", "kid"], "metric_options": {"kid": {"subset_size": 100, "subsets": 10}},
                 "extractor": EXT, "n_gen": 30, "n_real": 40})
    assert new.metric_options == {"kid": {"subset_size": 100, "subsets": 10}}
    assert new.quality_key("best", "kid") == f"kid|best|{EXT}|gen=30|real=40|subset_size=100|subsets=10"
    assert new.quality_key("best", "fid") == old.quality_key("best", "fid")
    assert quality_key("best", "kid", EXT, 30, 40, {"subsets": 10}) != old.quality_key("best", "kid")
    assert parse(new.to_dict()) == new  # how the runner hands it to a cell process
    with pytest.raises(GannormError, match=r"final_test.metric_options.kid: metric 'kid' has no option 'subset'"):
        parse({"metrics": ["kid"], "metric_options": {"kid": {"subset": 3}}})
    with pytest.raises(GannormError, match=r"final_test.metric_options.kid: kid is not among the metrics"):
        parse({"metrics": ["fid"], "metric_options": {"kid": {"subsets": 3}}})


def test_training_computes_eval_metrics_with_eval_metric_options(tmp_path, monkeypatch):
    """``eval.metric_options`` reach the periodic evaluation: the records in the run's jsonl."""
    import json

    from gannorm.evaluation import make_trainer

    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    cfg = config_mod.load(None, ["model.base_features=8", "model.z_dim=16", "train.batch_size=8", "train.iterations=1",
                                 "eval.test_interval=0", "train.sample_every=0", "train.n_samples=4", "train.device=cpu",
                                 "eval.metrics=[kid]", "eval.metric_options.kid={subsets: 2, subset_size: 3}",
                                 "eval.metrics_interval=1", "eval.metrics_n=6", f"eval.extractor={EXT}"])
    make_trainer(cfg, tmp_path / "run", quiet=True).train()
    rec, = [json.loads(l) for l in (tmp_path / "run" / "eval" / "fidelity-training.jsonl").read_text().splitlines()]
    assert rec["options"] == {"subsets": 2, "subset_size": 3} and (rec["kid_subsets"], rec["kid_subset_size"]) == (2, 3)
