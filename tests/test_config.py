"""Typed config: YAML + overrides + validation with the valid choices."""
import pytest
import yaml

from gannorm import config
from gannorm.errors import GannormError


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
