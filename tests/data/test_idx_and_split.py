"""IDX reading (format of LeCun's MNIST page), the bundled subset, and the held-out split."""
import gzip

import numpy as np
import pytest

from gannorm.config import DataConfig
from gannorm.data import holdout_split, load_data
from gannorm.data.idx import read_idx
from gannorm.errors import GannormError


def _write_idx(path, arr):
    """Reference writer: magic 0x00000803/0x00000801, big-endian uint32 dims, raw bytes."""
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_idx_roundtrip_and_fashion_mnist_source(tmp_path):
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 256, (30, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, 30).astype(np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    assert np.array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), imgs)
    d = load_data(DataConfig(name="fashion_mnist", root=str(tmp_path)))
    assert d.images.shape == (30, 1, 28, 28) and np.array_equal(d.images[:, 0], imgs)
    assert np.array_equal(d.labels, labels)


def test_truncated_idx_and_missing_dir_are_clear(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 50)
    with pytest.raises(GannormError, match="truncated"):
        read_idx(p)
    with pytest.raises(GannormError, match=r"not found \(looked in: .*nowhere\).*apt-get install dataset-fashion-mnist"):
        load_data(DataConfig(name="fashion_mnist", root=str(tmp_path / "nowhere")))


def test_bundled_subset_is_balanced_fashion_mnist():
    d = load_data(DataConfig())
    assert d.images.shape == (2500, 1, 28, 28)
    assert np.bincount(d.labels).tolist() == [250] * 10
    assert d.images.std() > 50  # real images, not blank


def test_holdout_split_disjoint_deterministic():
    s = holdout_split(2500, None, 200, seed=0)
    assert len(s.final_test) == 500 and len(s.train) == 2000
    assert not set(s.train) & set(s.final_test)
    assert set(s.running_test) <= set(s.final_test) and len(s.running_test) == 200
    assert np.array_equal(s.final_test, holdout_split(2500, None, 200, seed=0).final_test)
    with pytest.raises(GannormError, match="leaves no training images"):
        holdout_split(100, 100, 10, 0)


def test_resize_and_channel_conversion():
    d = load_data(DataConfig(image_size=32, channels=3))
    assert d.images.shape == (2500, 3, 32, 32)
    assert np.array_equal(d.images[:, 0], d.images[:, 2])  # gray replicated
