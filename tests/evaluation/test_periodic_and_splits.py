"""Run-level evaluation: periodic metrics during training, real-image splits (gannorm.evaluation)."""
import json

import numpy as np
import pytest

from gannorm import config as config_mod
from gannorm.config import DataConfig
from gannorm.data import holdout_split, split_for
from gannorm.errors import GannormError
from gannorm.evaluation import make_trainer, real_indices
from gannorm.metrics.domain_classifier import DomainCNN, save_domain_classifier
from gannorm.training import Trainer


def test_metrics_are_computed_on_their_interval_and_logged_with_provenance(tmp_path, monkeypatch):
    """Reference: the config's meaning - eval.metrics every eval.metrics_interval iterations and at
    the last one, logged beside the losses (metrics.jsonl) and recorded in full in
    eval/fidelity-training.jsonl; the real images come from the training split."""
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    clf = save_domain_classifier(DomainCNN(1, 10, (8, 16, 32)), {"n_classes": 10, "channels": 1, "image_size": 28,
                                                                 "widths": [8, 16, 32]}, tmp_path / "dc.pt")
    cfg = config_mod.load(None, ["model.base_features=8", "train.iterations=5", "eval.test_interval=0",
                                 "train.sample_every=0", "train.n_samples=4", "train.log_every=5",
                                 "eval.metrics=[fid,kid,is,pr]", "eval.metrics_interval=2", "eval.metrics_n=40",
                                 f"eval.extractor=domain:{clf}"])
    make_trainer(cfg, tmp_path / "run", quiet=True).train()
    logged = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    with_fid = [r["iteration"] for r in logged if "fid_domain" in r]
    assert with_fid == [2, 4, 5]
    last = next(r for r in logged if r["iteration"] == 5)
    for k in ("fid_domain", "kid_domain", "is_domain", "precision_domain", "recall_domain", "d_loss"):
        assert np.isfinite(last[k]), k
    assert 1.0 <= last["is_domain"] <= 10.0 and 0.0 <= last["precision_domain"] <= 1.0
    recs = [json.loads(l) for l in (tmp_path / "run" / "eval" / "fidelity-training.jsonl").read_text().splitlines()]
    fid = [r for r in recs if r["metric"] == "fid"]
    assert [r["iteration"] for r in fid] == [2, 4, 5]
    assert fid[0]["n_gen"] == 40 and fid[0]["n_real"] == 40 and fid[0]["real_split"].startswith("train")
    assert fid[0]["extractor"] == f"domain:{clf}" and "uint8" in fid[0]["preprocessing"]
    # 40 images of 32-d features are enough for FID; KID subsets of 1000 are not
    assert any("reduced to 40" in w for w in fid[0]["warnings"]) and not any("FID" in w for w in fid[0]["warnings"])


def test_real_splits_follow_the_reconstruction_holdout():
    """Reference: gannorm.data.holdout_split - 'test' is the held-out final test set (never
    trained on), 'train' its complement; a count takes a subset of that split."""
    dc = DataConfig(holdout=200, running_holdout=50, split_seed=3)
    sp = holdout_split(1000, 200, 50, 3)
    tr, _ = real_indices(1000, "train", dc)
    te, what = real_indices(1000, "test", dc)
    assert np.array_equal(tr, sp.train) and set(te) == set(sp.final_test) and "held-out" in what
    sub, what = real_indices(1000, "train", dc, n=100, seed=1)
    assert len(sub) == 100 and set(sub) <= set(sp.train) and "random 100" in what
    with pytest.raises(GannormError, match="train, test, validation, all"):
        real_indices(1000, "val", dc)
    with pytest.raises(GannormError, match="no validation split"):
        real_indices(1000, "validation", dc)


def test_the_validation_split_is_disjoint_and_leaves_the_old_split_alone():
    """Reference: the permutation itself. With data.validation=0 every index set equals the
    split made before validation existed (runs resume and compare); with N > 0 the final test
    is unchanged, the validation set is the next N of the permutation, training shrinks by N
    and the running test moves into the validation set."""
    perm = np.random.RandomState(3).permutation(1000)
    old = holdout_split(1000, 200, 50, 3)
    assert np.array_equal(old.final_test, perm[:200]) and np.array_equal(old.running_test, perm[:50])
    assert np.array_equal(old.train, np.sort(perm[200:])) and len(old.validation) == 0
    new = split_for(DataConfig(holdout=200, running_holdout=50, split_seed=3, validation=100), 1000)
    assert np.array_equal(new.final_test, old.final_test)
    assert np.array_equal(new.validation, perm[200:300]) and np.array_equal(new.running_test, perm[200:250])
    assert np.array_equal(new.train, np.sort(perm[300:]))
    parts = [set(new.train), set(new.final_test), set(new.validation)]
    assert sum(map(len, parts)) == 1000 and len(set().union(*parts)) == 1000
    va, what = real_indices(1000, "validation", DataConfig(holdout=200, split_seed=3, validation=100))
    assert set(va) == set(perm[200:300]) and "validation" in what
    with pytest.raises(GannormError, match="leave no training images"):
        holdout_split(1000, 600, 50, 3, validation=400)


def test_a_bare_trainer_refuses_metrics_it_cannot_compute(tmp_path):
    """Reference: the layer rule - training does not import the evaluation above it, so eval.metrics
    needs the periodic callback; without it, a one-line error instead of silently no metrics."""
    cfg = config_mod.load(None, ["model.base_features=8", "train.iterations=1", "eval.metrics=[fid]"])
    with pytest.raises(GannormError, match="make_trainer"):
        Trainer(cfg, tmp_path / "run", quiet=True)


def test_periodic_metrics_too_few_samples_are_refused_before_training():
    """Reference: the metrics' own minimums (IS: one image per split, 10 splits), checked when the
    config is read, not at the first evaluation mid-run."""
    with pytest.raises(GannormError, match="IS in 10 splits needs at least 10 generated images, got 5; raise "
                                           "eval.metrics_n"):
        config_mod.load(None, ["eval.metrics=[is]", "eval.metrics_n=5", "eval.metrics_interval=1"])
