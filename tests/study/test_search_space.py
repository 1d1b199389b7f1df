"""Random-search axes: draws reproducible from the seed, each dimension distributed as it says
(checked by a goodness-of-fit test over many draws), Sobol balanced, bad input one line."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from gannorm.errors import GannormError
from gannorm.study import search_space as ss

SPACE = {"optim.g_lr": {"loguniform": [1.0e-5, 1.0e-3]}, "optim.d_lr": {"uniform": [1.0e-4, 3.0e-4]},
         "optim.beta1": {"choice": [0.0, 0.5]}, "train.d_steps": {"int": [1, 5]}}


def space(draws=8, **kw):
    return ss.parse({"draws": draws, "seed": 3, "space": SPACE, **kw})


def test_reproducible_and_seeded():
    assert space().settings() == space().settings()
    other = ss.parse({"draws": 8, "seed": 4, "space": SPACE}).settings()
    assert other != space().settings()
    assert len(space().overrides()) == 8 and space().overrides()[0][0].startswith("optim.g_lr=")
    assert space(draws=12).labels()[:2] == ["d00", "d01"]


def test_each_dimension_has_its_distribution():
    """Reference: the distributions themselves (scipy's KS test, a chi-square for discrete)."""
    s = ss.parse({"draws": 4000, "seed": 0, "space": SPACE}).settings()
    lr = np.log([d["optim.g_lr"] for d in s])
    assert stats.kstest(lr, stats.uniform(math.log(1e-5), math.log(1e-3) - math.log(1e-5)).cdf).pvalue > 1e-3
    d_lr = [d["optim.d_lr"] for d in s]
    assert stats.kstest(d_lr, stats.uniform(1e-4, 2e-4).cdf).pvalue > 1e-3
    for key, values in (("optim.beta1", [0.0, 0.5]), ("train.d_steps", [1, 2, 3, 4, 5])):
        counts = [sum(d[key] == v for d in s) for v in values]
        assert sum(counts) == len(s)
        assert stats.chisquare(counts).pvalue > 1e-3
    assert all(isinstance(d["train.d_steps"], int) for d in s)


def test_every_value_validates_as_a_config():
    """The overrides of each draw load as a config (the study validates every cell this way)."""
    from gannorm import config as config_mod

    for ov in space().overrides():
        cfg = config_mod.load(None, ov)
        assert 1e-5 <= cfg.optim.g_lr <= 1e-3 and cfg.optim.beta1 in (0.0, 0.5)


def test_sobol_is_balanced():
    """Scrambled Sobol of 2^m points puts exactly one point in each of the 2^m strata of a dimension."""
    sp = ss.parse({"draws": 16, "seed": 1, "method": "sobol", "space": SPACE})
    u = sp.unit_points()
    for j in range(u.shape[1]):
        assert sorted(np.floor(u[:, j] * 16).astype(int)) == list(range(16))
    assert sp.settings() == ss.parse({"draws": 16, "seed": 1, "method": "sobol", "space": SPACE}).settings()


def test_inverse_cdf_edges():
    dim = ss.Dimension("train.d_steps", "int", (1, 3))
    assert [dim.value(u) for u in (0.0, 0.33, 0.34, 0.66, 0.67, 0.999999)] == [1, 1, 2, 2, 3, 3]
    ch = ss.Dimension("optim.beta1", "choice", (0.0, 0.5))
    assert [ch.value(u) for u in (0.0, 0.49, 0.5, 0.9999)] == [0.0, 0.0, 0.5, 0.5]
    lu = ss.Dimension("optim.g_lr", "loguniform", (1e-5, 1e-3))
    assert lu.value(0.0) == pytest.approx(1e-5) and lu.value(0.5) == pytest.approx(1e-4)


@pytest.mark.parametrize("spec, message", [
    ({"draws": 0, "space": SPACE}, "draws must be a whole number >= 1"),
    ({"draws": 2.5, "space": SPACE}, "draws must be a whole number"),
    ({"draws": 4, "space": {"optim.g_lrr": {"uniform": [0, 1]}}}, "unknown config key 'optim.g_lrr'"),
    ({"draws": 4, "space": {"optim.g_lr": {"uniform": [1, 1]}}}, "is empty"),
    ({"draws": 4, "space": {"optim.g_lr": {"loguniform": [0, 1e-3]}}}, "must be positive"),
    ({"draws": 4, "space": {"optim.g_lr": {"loguniform": [-1, 1e-3]}}}, "must be positive"),
    ({"draws": 4, "space": {"optim.beta1": {"choice": [0.5]}}}, "a choice needs at least 2"),
    ({"draws": 4, "space": {"optim.beta1": {"choise": [0.5, 0.0]}}}, "Did you mean 'choice'"),
    ({"draws": 4, "space": {}}, "at least one setting"),
    ({"draws": 6, "method": "sobol", "space": SPACE}, "power of 2"),
    ({"draws": 4, "space": SPACE, "sead": 1}, "unknown key"),
    ({"draws": 4, "space": {"train.d_steps": {"int": [1.5, 3]}}}, "must be integers"),
    ({"draws": 4, "space": {"optim.g_lr": {"uniform": [0, float("inf")]}}}, "not a finite number"),
])
def test_bad_input_is_one_line(spec, message):
    with pytest.raises(GannormError, match=message) as e:
        ss.parse(spec)
    assert "\n" not in str(e.value)


def test_a_setting_both_drawn_and_listed_is_refused():
    with pytest.raises(GannormError, match="draw it or list it"):
        ss.check_against(space(), ["g_lr", "train.seed"])
    ss.check_against(space(), ["train.seed"])
