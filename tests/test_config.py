"""Typed config: YAML + overrides + validation with the valid choices."""
import pytest
import yaml

import gannorm.plugins  # noqa: F401  (fills the registries that validation asks)
from gannorm import config
from gannorm.errors import GannormError
from gannorm.registry import METRICS, NORMS, Registry


def test_overrides_dotted_and_bare_and_types(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"model": {"d_norm": "batch"}, "train": {"iterations": 5}}))
    cfg = config.load(p, ["g_norm=none", "optim.g_lr=2e-5", "train.iterations=7", "d_norm_args={}"])
    assert cfg.model.d_norm == "batch" and cfg.model.g_norm == "none"
    assert isinstance(cfg.optim.g_lr, float) and cfg.optim.g_lr == 2e-5  # YAML 1.1 reads '2e-5' as str
    assert cfg.train.iterations == 7


def test_unknown_norm_lists_valid_ones():
    with pytest.raises(GannormError, match=r"unknown normalization 'wieght'.*batch.*none.*weight.*Did you mean 'weight'"):
        config.load(None, ["d_norm=wieght"])


def test_unknown_key_and_bad_values():
    with pytest.raises(GannormError, match="unknown config key 'iteratoins'"):
        config.load(None, ["iteratoins=3"])
    with pytest.raises(GannormError, match="train.batch_size must be > 0"):
        config.load(None, ["batch_size=0"])
    with pytest.raises(GannormError, match="expected an integer"):
        config.load(None, ["batch_size=abc"])
    with pytest.raises(GannormError, match="ambiguous"):
        config.load(None, ["name=dcgan"])


def test_save_roundtrip(tmp_path):
    cfg = config.load(None, ["d_norm=batch", "train.iterations=3"])
    config.save(cfg, tmp_path / "config.yaml")
    assert config.load(tmp_path / "config.yaml") == cfg


@pytest.mark.parametrize("override,match", [
    ("model.d_norm_args.cc=1", r"model.d_norm_args: normalization 'bssn' has no option 'cc'.*Did you mean 'c'"),
    ("train.tricks.r1={gama: 1}", r"train.tricks.r1: trick 'r1' has no option 'gama'; valid: gamma, every. Did you mean 'gamma'"),
    ("train.loss_args.foo=2", r"train.loss_args: loss 'nonsaturating' has no option 'foo'; valid: real_label"),
    ("model.g_norm_args.c=2", r"model.g_norm_args: normalization 'weight' has no option 'c'; valid: affine_hidden"),
    ("model.args.level=2", r"model.args: model 'dcgan' has no option 'level'; it takes none"),
    ("data.args.splt=test", r"data.args: dataset 'cifar10' has no option 'splt'; valid: split. Did you mean 'split'"),
])
def test_option_dictionaries_are_checked_against_the_builder(override, match):
    """Reference: the builders' own signatures (bssn's c, r1's gamma, cifar10's split...)."""
    base = ["d_norm=bssn", "data.name=cifar10"]
    with pytest.raises(GannormError, match=match):
        config.load(None, base + [override])
    with pytest.raises(GannormError, match="normalization 'none' has no option 'c'; it takes none"):
        config.load(None, ["g_norm=none", "g_norm_args.c=1"])
    config.load(None, base + ["model.d_norm_args.c=2", "train.tricks.r1={gamma: 1}",
                              "data.args.split=test", "model.name=resnet_wn", "model.args.levels=2"])


@pytest.mark.parametrize("term", ["tricks.gp={}", "tricks.r1={}", "tricks.dragan={}", "loss=wgan_gp",
                                  "d_norm=gran", "d_norm=gngan"])
def test_compile_with_a_double_backward_term_is_refused(term):
    with pytest.raises(GannormError, match=r"train.compile=default cannot run with .*double backward.*compile=off"):
        config.load(None, ["train.compile=default", term])
    config.load(None, ["train.compile=off", term])
    config.load(None, ["train.compile=default", "train.compile_backend=eager", term])  # dynamo alone can


@pytest.mark.parametrize("model", ["dcgan", "sngan_cnn", "sngan_resnet", "resnet_wn"])
@pytest.mark.parametrize("norm", ["gran", "gngan"])
def test_gradient_norm_as_g_norm_is_refused_on_every_model(model, norm):
    with pytest.raises(GannormError, match=f"normalization '{norm}' .* use it as model.d_norm, not model.g_norm"):
        config.load(None, [f"model.name={model}", f"g_norm={norm}"])


def test_metric_names_are_asked_of_the_registry():
    """A sample-quality metric registered here (and only here) is a valid eval.metrics name;
    others are not, nor is a registered metric of another kind (the reconstruction error)."""
    with pytest.raises(GannormError, match="eval.metrics: unknown sample-quality metric 'toy_metric'"):
        config.load(None, ["eval.metrics=[toy_metric]"])
    with pytest.raises(GannormError, match="eval.metrics: unknown sample-quality metric 'recon'"):
        config.load(None, ["eval.metrics=[recon]"])
    METRICS.register("toy_metric", help="a metric of this test", kind="features")(lambda real, gen: {})
    try:
        assert config.load(None, ["eval.metrics=[toy_metric, fid]"]).eval.metrics == ["toy_metric", "fid"]
    finally:
        METRICS.unregister("toy_metric")


def test_an_attribute_of_a_toy_norm_changes_validation():
    """Registered with inner_gradient / gradient_norm, a new norm is refused where gran is."""
    from gannorm.nn import Norm

    NORMS.register("toy_gradnorm", gradient_norm=True, inner_gradient=True)(type("Toy", (Norm,), {}))
    try:
        config.load(None, ["d_norm=toy_gradnorm"])
        with pytest.raises(GannormError, match="double backward"):
            config.load(None, ["d_norm=toy_gradnorm", "train.compile=default"])
        with pytest.raises(GannormError, match="not model.g_norm"):
            config.load(None, ["g_norm=toy_gradnorm"])
        assert "toy_gradnorm" in NORMS.having("gradient_norm") and "gran" in NORMS.having("gradient_norm")
        assert "spectral" not in NORMS.having("gradient_norm")
    finally:
        NORMS.unregister("toy_gradnorm")


def test_registry_build_binds_arguments_before_calling():
    """Argument mistakes are one-line user errors; a TypeError raised inside the builder is a bug
    and keeps its traceback (it used to be turned into a user error when it said 'positional')."""
    reg = Registry("widget")

    @reg.register("w")
    def build(size: int = 1):
        return [0] * size + None  # a bug inside the builder: TypeError

    with pytest.raises(GannormError, match="widget 'w' has no option 'sise'.*Did you mean 'size'"):
        reg.build("w", sise=2)
    with pytest.raises(GannormError, match="widget 'w': too many positional arguments"):
        reg.build("w", 1, 2)
    with pytest.raises(TypeError, match="can only concatenate list"):
        reg.build("w", 2)
    assert reg.attr("w", "anything", "default") == "default"
    with pytest.raises(GannormError, match="unknown widget 'x'"):
        reg.attr("x", "anything")
