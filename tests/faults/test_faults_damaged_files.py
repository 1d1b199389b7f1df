"""Damaged or foreign files meet a one-line error or are repaired, never a traceback and
never a silently wrong result: metrics.jsonl with a partial or damaged line, checkpoints
that are not gannorm's (or not torch files), an edited config.yaml, a prepared image
folder changed in place, a truncated unfinished cache, a cache meta.json gone wrong."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from faultkit import TINY, assert_one_line_error, invoke

from gannorm import config
from gannorm.config import DataConfig
from gannorm.data import cache as cache_mod
from gannorm.data import load_data
from gannorm.errors import GannormError
from gannorm.training import Trainer


@pytest.fixture
def run(tmp_path):
    r = tmp_path / "run"
    Trainer(config.load(None, TINY + ["iterations=2", "checkpoint_every=1"]), r, quiet=True).train()
    return r


def test_partial_last_metrics_line_is_dropped_with_one_warning(run):
    m = run / "metrics.jsonl"
    m.write_text(m.read_text() + '{"iteration": 3, "d_lo')  # a kill mid-line
    with pytest.warns(UserWarning, match="dropped an unfinished last line") as w:
        code, _, err = invoke("train", "--resume", run, "train.iterations=3")
    assert code == 0, err
    assert len(w) == 1
    assert [json.loads(l)["iteration"] for l in m.read_text().splitlines()] == [1, 2, 3]


def test_damage_in_the_middle_of_metrics_names_the_line(run):
    m = run / "metrics.jsonl"
    first, second = m.read_text().splitlines()
    m.write_text(first + "\n" + "\0" * 40 + "\n" + second + "\n")
    code, _, err = invoke("train", "--resume", run, "train.iterations=3")
    assert_one_line_error(code, err, f"{m} line 2 is damaged")
    assert m.read_text().count("\n") == 3  # nothing was dropped


@pytest.mark.parametrize("content", ["text", "foreign"])
def test_a_checkpoint_that_is_not_gannorms(run, content):
    ckpt = run / "checkpoints" / "latest.pt"
    if content == "text":
        ckpt.write_text("experiment notes\n")
        needle = "is not a PyTorch checkpoint (not a torch.save file)"
    else:
        torch.save({"state_dict": {"w": torch.ones(2)}}, ckpt)
        needle = "not a gannorm checkpoint"
    code, _, err = invoke("train", "--resume", run, "train.iterations=3")
    assert_one_line_error(code, err, str(ckpt), needle)


def test_a_norm_edited_in_config_yaml_is_refused_by_name(run):
    cfg = run / "config.yaml"
    cfg.write_text(cfg.read_text().replace("g_norm: weight", "g_norm: batch"))
    code, _, err = invoke("train", "--resume", run, "train.iterations=3")
    assert_one_line_error(code, err, "model.g_norm: 'weight' -> 'batch'", "--allow-config-change")


def test_a_checkpoint_of_another_model_is_refused(run, tmp_path):
    other = tmp_path / "other"
    Trainer(config.load(None, TINY + ["iterations=1", "base_features=16"]), other, quiet=True).train()
    # config and checkpoint agree with each other, but the checkpoint's tensors belong to another model
    (run / "checkpoints" / "latest.pt").write_bytes((other / "checkpoints" / "latest.pt").read_bytes())
    code, _, err = invoke("train", "--resume", run, "train.iterations=3", "--allow-config-change")
    assert_one_line_error(code, err, "does not fit the models of this config")


# ----------------------------------------------------------------------------- prepared caches
@pytest.fixture
def images(tmp_path, monkeypatch):
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANNORM_DECODE_WORKERS", "1")
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.RandomState(0)
    px = []
    for i in range(12):
        a = rng.randint(1, 256, (8, 8, 3)).astype(np.uint8)  # no all-zero image
        Image.fromarray(a).save(root / f"{i:03d}.png")
        px.append(a.transpose(2, 0, 1))
    return root, np.stack(px)


def test_an_image_overwritten_in_place_is_decoded_again(images):
    root, px = images
    cfg = DataConfig(name="folder", root=str(root))
    assert np.array_equal(load_data(cfg, quiet=True).images, px)
    new = np.full((8, 8, 3), 7, np.uint8)
    Image.fromarray(new).save(root / "005.png")  # same name, new pixels
    assert np.array_equal(load_data(cfg, quiet=True).images[5], new.transpose(2, 0, 1))


def test_a_truncated_unfinished_cache_is_rebuilt(images, monkeypatch):
    root, px = images
    cfg = DataConfig(name="folder", root=str(root))
    monkeypatch.setattr(cache_mod, "CHUNK", 4)
    real = cache_mod.decode_image
    calls = {"n": 0}

    def interrupted(*a, **k):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt  # stop after two chunks: progress says 8 images are done
        return real(*a, **k)

    monkeypatch.setattr(cache_mod, "decode_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_data(cfg, quiet=True)
    monkeypatch.setattr(cache_mod, "decode_image", real)
    (part,) = (tmp for tmp in (root.parent / "cache").rglob("images.partial.npy"))
    assert json.loads((part.parent / "progress.json").read_text())["written"] == 8
    with open(part, "r+b") as f:  # the tail of the file is lost (a full disk, a bad copy)
        f.truncate(part.stat().st_size // 3)
    got = load_data(cfg, quiet=True).images
    assert np.array_equal(got, px)


@pytest.mark.parametrize("meta", [{"format": "gannorm-cache-1", "n": 12}, ["not", "a", "mapping"],
                                  {"n": "twelve", "description": "x"}])
def test_a_damaged_cache_meta_json_is_a_one_line_error(images, meta):
    root, _ = images
    d = load_data(DataConfig(name="folder", root=str(root)), quiet=True)
    (cache_mod.Path(d.cache) / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(GannormError, match="prepared cache .* is damaged"):
        load_data(DataConfig(name="folder", root=str(root)), quiet=True)
