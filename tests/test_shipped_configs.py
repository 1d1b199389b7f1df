"""Every shipped config (configs/*.yaml) loads, names only registered plug-ins, cites its
source, and trains two iterations -- on tiny data the test writes in the format the config
reads (folder PNGs, CIFAR pickles, CelebA JPEGs, an LSUN LMDB), with small widths.
A config naming a dataset this test has no fixture for fails, it is never skipped."""
import io
import json
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import gannorm.plugins  # noqa: F401  (fills the registries that validation asks)
from gannorm import config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def _folder(root):
    rng = np.random.RandomState(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def _cifar10(root):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(d / name, "wb") as f:
            pickle.dump({b"data": rng.randint(0, 256, (4, 3072)).astype(np.uint8),
                         b"labels": list(rng.randint(0, 10, 4))}, f)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"c%d" % i for i in range(10)]}, f)
    return d


def _celeba(root):
    d = root / "img_align_celeba"
    d.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for i in range(16):
        Image.fromarray(rng.randint(0, 256, (218, 178, 3)).astype(np.uint8)).save(d / f"{i + 1:06d}.jpg")
    return root


def _lsun(root):
    import lmdb

    root.mkdir(parents=True)
    env = lmdb.open(str(root / "bedroom_train_lmdb"), map_size=1 << 24)
    rng = np.random.RandomState(0)
    with env.begin(write=True) as txn:
        for i in range(16):
            buf = io.BytesIO()
            Image.fromarray(rng.randint(0, 256, (64, 80, 3)).astype(np.uint8)).save(buf, format="WEBP")
            txn.put(b"%040x" % i, buf.getvalue())
    env.close()
    return root


FIXTURES = {"folder": _folder, "cifar10": _cifar10, "celeba": _celeba, "lsun": _lsun,
            "fashion_mnist_small": None}  # None: the bundled data, small already


def test_configs_exist():
    names = {p.stem for p in CONFIGS}
    for ds in ("cifar10", "celeba", "lsun_bedroom"):
        for norm in ("none", "batch", "weight"):
            assert f"dcgan_{ds}_{norm}" in names
    assert {"resnet_wn_celeba", "sngan_cnn_cifar10_sn", "sngan_resnet_cifar10_sn", "sngan_cnn_cifar10_bssn",
            "sngan_cnn_cifar10_wgan_gp"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_cites_source_and_trains_two_iterations(path, tmp_path, monkeypatch):
    from gannorm.training import Trainer

    head = "".join(line for line in path.read_text().splitlines(True) if line.startswith("#"))
    assert re.search(r"(19|20)\d\d", head), f"{path.name}: no citation (author, year) in its comments"
    raw = yaml.safe_load(path.read_text())
    name = raw.get("data", {}).get("name", config.DataConfig().name)
    assert name in FIXTURES, f"{path.name}: data.name {name!r} has no tiny fixture in this test; add one"
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    over = ["model.base_features=4", "model.z_dim=8", "train.iterations=2", "train.batch_size=4",
            "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=0", "train.n_samples=4",
            "eval.test_interval=0", "data.holdout=4", "data.running_holdout=2", "train.device=cpu"]
    if FIXTURES[name] is not None:
        over.append(f"data.root={FIXTURES[name](tmp_path / 'data')}")
    if "g_channels" in raw.get("model", {}).get("args", {}):
        over.append("model.args.g_channels=8")
    cfg = config.load(path, over)  # validates every registry name: unknown ones fail here
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = Trainer(cfg, tmp_path / "run", quiet=True).train()
    finally:
        torch.set_num_threads(threads)
    assert res.iteration == 2
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [v for r in rows for k, v in r.items() if k.endswith("loss") and isinstance(v, (int, float))]
    assert losses and all(math.isfinite(v) for v in losses)


STUDIES = sorted((Path(__file__).resolve().parents[1] / "configs" / "studies").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS + STUDIES, ids=[p.stem for p in CONFIGS + STUDIES])
def test_shipped_config_reads_only_data_a_user_can_get(path):
    """Shipped configs name datasets by registry name (downloaded or installed), never a folder of
    the development checkout's surroundings."""
    text = path.read_text()
    assert "shared/" not in text and "/work/" not in text, path.name
    if "cifar10" in path.stem:
        data = yaml.safe_load(text)
        if isinstance(data.get("base"), str):  # a study whose base is a config file beside it
            data = {"base": yaml.safe_load((path.parent / data["base"]).read_text())}
        data = data["base"]["data"] if "base" in data else data["data"]
        assert data["name"] == "cifar10" and data["download"] is True


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_shipped_study_loads_and_validates(path):
    from gannorm.study import load_study

    study = load_study(path)
    assert len(study.cells) >= 2
