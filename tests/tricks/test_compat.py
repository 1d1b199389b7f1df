"""Bad combinations: refused with the reason, or allowed with a warning that says why."""
import pytest

from gannorm.config import Config
from gannorm.errors import GannormError
from gannorm.hooks import CompatibilityWarning, Setup
from gannorm.registry import LOSSES, TRICKS
import gannorm.plugins  # noqa: F401
from gannorm.tricks import build_hooks


def env(loss, d_norm="none", **train):
    cfg = Config()
    cfg.model.d_norm = d_norm
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return Setup(None, None, loss, cfg)


@pytest.mark.parametrize("norm", ["weight", "spectral", "bssn"])
def test_weight_clipping_with_rescaling_norm_warns(norm):
    with pytest.warns(CompatibilityWarning, match="rescales each weight"):
        LOSSES.build("wgan").setup(env(None, norm))


def test_weight_clipping_without_norm_is_silent():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LOSSES.build("wgan").setup(env(None, "none"))


@pytest.mark.parametrize("norm", ["gran", "gngan"])
@pytest.mark.parametrize("what", ["loss:wgan_gp", "gp", "r1", "dragan"])
def test_gradient_penalty_with_gradient_norm_refused(norm, what):
    obj = LOSSES.build("wgan_gp") if what.startswith("loss:") else TRICKS.build(what)
    with pytest.raises(GannormError, match=f"d_norm={norm} already normalizes"):
        obj.setup(env(None, norm))


def test_replay_with_conditional_refused():
    with pytest.raises(GannormError, match="labels"):
        TRICKS.build("replay").setup(env(None, tricks={"replay": {}, "conditional": {}}))


def test_minibatch_tricks_need_a_logit_d():
    for name in ("minibatch_discrimination", "minibatch_stddev"):
        with pytest.raises(GannormError, match="own output"):
            TRICKS.build(name).setup(env(LOSSES.build("mmd")))


def test_bad_trick_options_and_names():
    with pytest.raises(GannormError, match="unknown trick"):
        build_hooks(LOSSES.build("hinge"), {"r3": {}})
    with pytest.raises(GannormError, match="trick 'r1' has no option 'gama'; valid: gamma, every. Did you mean 'gamma'"):
        build_hooks(LOSSES.build("hinge"), {"r1": {"gama": 1}})
    with pytest.raises(GannormError, match="expected options"):
        build_hooks(LOSSES.build("hinge"), {"r1": 5})
    with pytest.raises(GannormError, match="loss 'lsgan'"):
        LOSSES.build("lsgan", d=1)
    hooks = build_hooks(LOSSES.build("hinge"), {"r1": None, "gp": False, "dragan": True})
    assert hooks.names == ["loss", "r1", "dragan"]
