"""Train and test pooled, then a holdout carved out (Xiang & Li 2017, the authors'
split_data.py): the folder source's ``split`` (root/train and root/test) and the CIFAR
archive's ``split: all`` give the same pooled images, and ``gannorm study --set`` reaches
every cell's config."""
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gannorm.config import DataConfig
from gannorm.data import holdout_split, load_data
from gannorm.errors import GannormError

from test_cifar import CIFAR10_NAMES, write_cifar10


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANNORM_DECODE_WORKERS", "1")


def write_split_folder(root, parts):
    """parts: {'train': {class: [HxWx3 uint8, ...]}, 'test': {...}} as PNGs (lossless)."""
    for part, classes in parts.items():
        for c, images in classes.items():
            (root / part / c).mkdir(parents=True)
            for i, a in enumerate(images):
                Image.fromarray(a).save(root / part / c / f"{i:04d}.png")


def _imgs(rng, n, size=8):
    return [rng.randint(0, 256, (size, size, 3)).astype(np.uint8) for _ in range(n)]


def test_folder_split_pools_train_then_test_with_union_classes(tmp_path):
    rng = np.random.RandomState(0)
    parts = {"train": {"cat": _imgs(rng, 3), "dog": _imgs(rng, 2)},
             "test": {"ant": _imgs(rng, 1), "dog": _imgs(rng, 2)}}
    write_split_folder(tmp_path / "d", parts)
    root = str(tmp_path / "d")
    all_ = load_data(DataConfig(name="folder", root=root, args={"split": "all"}), quiet=True)
    assert all_.class_names == ["ant", "cat", "dog"]
    expected = ([(a, 1) for a in parts["train"]["cat"]] + [(a, 2) for a in parts["train"]["dog"]]
                + [(a, 0) for a in parts["test"]["ant"]] + [(a, 2) for a in parts["test"]["dog"]])
    assert len(all_) == len(expected) == 8
    for k, (a, y) in enumerate(expected):
        assert np.array_equal(all_.images[k], a.transpose(2, 0, 1)) and all_.labels[k] == y
    train = load_data(DataConfig(name="folder", root=root, args={"split": "train"}), quiet=True)
    test = load_data(DataConfig(name="folder", root=root, args={"split": "test"}), quiet=True)
    assert len(train) == 5 and len(test) == 3
    assert np.array_equal(np.asarray(all_.images[5:]), np.asarray(test.images))
    assert train.class_names == ["cat", "dog"] and list(train.labels) == [0, 0, 0, 1, 1]
    # without split the folder is one dataset whose classes are its first-level folders
    whole = load_data(DataConfig(name="folder", root=root), quiet=True)
    assert whole.class_names == ["test", "train"]


def test_folder_and_archive_pool_the_same_images(tmp_path):
    """The same 18 images as the official archive and as train/<class>/, test/<class>/ PNGs."""
    _, written = write_cifar10(tmp_path / "arch")
    parts = {"train": {}, "test": {}}
    for name, (x, y) in written.items():
        part = parts["test" if name == "test_batch" else "train"]
        for row, label in zip(x, y):
            part.setdefault(CIFAR10_NAMES[label], []).append(row.reshape(3, 32, 32).transpose(1, 2, 0))
    write_split_folder(tmp_path / "jpg", parts)
    arch = load_data(DataConfig(name="cifar10", root=str(tmp_path / "arch"), args={"split": "all"}))
    fold = load_data(DataConfig(name="folder", root=str(tmp_path / "jpg"), args={"split": "all"}), quiet=True)

    def rows(d):  # (label name, pixels) of every image, order-free
        return sorted((d.class_names[y], bytes(np.asarray(x).tobytes())) for x, y in zip(d.images, d.labels))

    assert len(arch) == len(fold) == 18 and rows(arch) == rows(fold)
    # pooled: the held-out images are drawn from train and test alike (test = the last 3 here)
    n_test = len(written["test_batch"][0])
    assert np.array_equal(np.asarray(fold.images[-n_test:]).reshape(n_test, -1)[np.lexsort(
        np.asarray(fold.images[-n_test:]).reshape(n_test, -1).T)], written["test_batch"][0][np.lexsort(
        written["test_batch"][0].T)])
    assert any(set(holdout_split(18, 6, 2, seed=s).final_test) & {15, 16, 17} for s in range(5))
    split_all = holdout_split(len(fold), 6, 2, seed=0)
    assert len(split_all.train) == 12 and not set(split_all.train) & set(split_all.final_test)
    assert set(split_all.running_test) <= set(split_all.final_test)


def test_folder_split_errors(tmp_path):
    rng = np.random.RandomState(1)
    write_split_folder(tmp_path / "d", {"train": {"cat": _imgs(rng, 2)}})
    with pytest.raises(GannormError, match=r"needs the folder\(s\) test/"):
        load_data(DataConfig(name="folder", root=str(tmp_path / "d"), args={"split": "all"}), quiet=True)
    with pytest.raises(GannormError, match="split must be one of train, test, all"):
        load_data(DataConfig(name="folder", root=str(tmp_path / "d"), args={"split": "val"}), quiet=True)
    # one part with class folders and one without: refused, not silently mislabelled
    (tmp_path / "d" / "test").mkdir()
    Image.fromarray(_imgs(rng, 1)[0]).save(tmp_path / "d" / "test" / "x.png")
    with pytest.raises(GannormError, match="must both have class sub-folders"):
        load_data(DataConfig(name="folder", root=str(tmp_path / "d"), args={"split": "all"}), quiet=True)


STUDY = """
name: s
base: {data: {name: cifar10, args: {split: all}, holdout: 6, running_holdout: 2},
       train: {iterations: 2}}
axes:
  train.seed: [0, 1]
"""


def test_study_set_overrides_every_cell(tmp_path):
    from gannorm.cli import cli
    from gannorm.study import load_study

    (tmp_path / "s.yaml").write_text(STUDY)
    write_cifar10(tmp_path / "arch")
    s = load_study(tmp_path / "s.yaml", [f"data.root={tmp_path / 'arch'}"])
    assert all(c.config.data.root == str(tmp_path / "arch") and c.config.data.args == {"split": "all"}
               for c in s.cells)
    r = CliRunner().invoke(cli, ["study", str(tmp_path / "s.yaml"), "--dry-run", "--out", str(tmp_path / "o"),
                                 "--set", f"data.root={tmp_path / 'arch'}"])
    assert r.exit_code == 0, r.output
    assert "data found for all 2 cells" in r.output
    r = CliRunner().invoke(cli, ["study", str(tmp_path / "s.yaml"), "--dry-run", "--out", str(tmp_path / "o"),
                                 "--set", "data.rooot=x"])
    assert r.exit_code != 0 and "rooot" in r.output
