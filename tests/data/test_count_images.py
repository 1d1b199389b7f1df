"""Counting a dataset's images without decoding them (``data.count_images``, what a study's
provenance records): each registered counter agrees with the length of the loaded data, it
never calls the loader, and a dataset without a counter (or a case the counter cannot tell,
such as a folder with ``skip_bad``) is loaded instead."""
import gzip

import numpy as np
import pytest
from PIL import Image

import gannorm.data as D
from gannorm.config import DataConfig
from gannorm.errors import GannormError


def _idx(path, arr, compress):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def _png(path, v):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 6, 3), v, np.uint8)).save(path)


@pytest.fixture
def no_loading(monkeypatch):
    """Counting must not decode: the loader is switched off while a counter answers."""
    real = D.load_data

    def refuse(cfg, quiet=False):
        raise AssertionError(f"{cfg.name} was loaded to be counted")

    monkeypatch.setattr(D, "load_data", refuse)
    return real


def test_bundled_subset(no_loading):
    cfg = DataConfig()
    assert D.count_images(cfg) == len(no_loading(cfg)) == 2500


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_by_their_headers(tmp_path, no_loading, compress):
    rng = np.random.RandomState(0)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", 7), ("t10k", 3)):
        _idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", rng.randint(0, 256, (n, 4, 4)), compress)
        _idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", rng.randint(0, 10, n), compress)
    for name in ("mnist", "fashion_mnist"):
        for split, n in (("train", 7), ("test", 3), ("all", 10)):
            cfg = DataConfig(name=name, root=str(tmp_path), args={"split": split})
            assert D.count_images(cfg) == len(no_loading(cfg)) == n


def test_a_bad_idx_header_is_one_line(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x0d\x03" + bytes(12))
    with pytest.raises(GannormError, match="not a uint8 IDX file"):
        D.count_images(DataConfig(name="mnist", root=str(tmp_path)))


def test_folders_by_their_file_lists(tmp_path, monkeypatch, no_loading):
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANNORM_DECODE_WORKERS", "1")
    flat, classes, split = tmp_path / "flat", tmp_path / "classes", tmp_path / "split"
    for i in range(5):
        _png(flat / f"{i}.png", i)
    (flat / "notes.txt").write_text("not an image")
    _png(flat / ".hidden" / "x.png", 9)  # hidden: not part of the set
    for c, n in (("cat", 2), ("dog", 3)):
        for i in range(n):
            _png(classes / c / f"{i}.png", i)
    for part, n in (("train", 4), ("test", 2)):
        for i in range(n):
            _png(split / part / "a" / f"{i}.png", i)
    cases = [(flat, {}, 5), (classes, {}, 5), (split, {"split": "train"}, 4), (split, {"split": "test"}, 2),
             (split, {"split": "all"}, 6)]
    for root, args, n in cases:
        cfg = DataConfig(name="folder", root=str(root), args=args)
        assert D.count_images(cfg) == len(no_loading(cfg)) == n
    with pytest.raises(GannormError, match="image folder not found"):
        D.count_images(DataConfig(name="folder", root=str(tmp_path / "nope")))


def test_without_a_counter_the_data_is_loaded(tmp_path, monkeypatch):
    """A folder with skip_bad (only decoding tells which files are bad) and a dataset that
    registers no counter (zip) fall back to loading: the count is what loading returns."""
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANNORM_DECODE_WORKERS", "1")
    for i in range(3):
        _png(tmp_path / "f" / f"{i}.png", i)
    (tmp_path / "f" / "broken.png").write_bytes(b"not a png")
    loaded = []
    real = D.load_data
    monkeypatch.setattr(D, "load_data", lambda cfg, quiet=False: loaded.append(cfg.name) or real(cfg, quiet))
    assert D.count_images(DataConfig(name="folder", root=str(tmp_path / "f"), args={"skip_bad": True})) == 3
    assert loaded == ["folder"]
    assert D.DATASETS.attr("zip", "count") is None
