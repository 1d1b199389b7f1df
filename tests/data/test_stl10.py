"""STL-10's official binary format, offline on tiny files the test writes: pixels against
the test's own column-major writer and against torchvision's STL10 reader, labels 1..10
stored 0..9, the splits, and one clear error for each bad input (missing folder, a
truncated file, a label out of range, no network for data.download)."""
import numpy as np
import pytest

from gannorm import config as config_mod
from gannorm import plugins  # noqa: F401  (fills the registries)
from gannorm.config import DataConfig
from gannorm.data import holdout_split, load_data
from gannorm.errors import GannormError

NAMES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def _write_x(path, images_hwc):
    # each image: channel planes, each plane column-major (x outer, y inner)
    path.write_bytes(b"".join(np.ascontiguousarray(a.transpose(2, 1, 0)).tobytes() for a in images_hwc))


def write_stl10(root, n_train=3, n_test=2, n_unlabeled=4, seed=0):
    d = root / "stl10_binary"
    d.mkdir(parents=True)
    rng = np.random.RandomState(seed)
    out = {}
    for part, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        imgs = rng.randint(0, 256, (n, 96, 96, 3)).astype(np.uint8)
        _write_x(d / f"{part}_X.bin", imgs)
        y = None
        if part != "unlabeled":
            y = rng.randint(1, 11, n).astype(np.uint8)
            y[0] = 10  # the top label, stored as 9
            (d / f"{part}_y.bin").write_bytes(y.tobytes())
        out[part] = (imgs, y)
    (d / "class_names.txt").write_text("\n".join(NAMES) + "\n")
    return d, out


def test_pixels_labels_and_splits(tmp_path):
    d, out = write_stl10(tmp_path)
    train = load_data(DataConfig(name="stl10", root=str(tmp_path), args={"split": "train"}))
    imgs, y = out["train"]
    assert train.images.shape == (3, 3, 96, 96)
    assert np.array_equal(np.asarray(train.images), imgs.transpose(0, 3, 1, 2))  # (N, C, H, W)
    assert train.images[1, 2, 5, 7] == imgs[1, 5, 7, 2]  # row 5, column 7, blue
    assert list(train.labels) == [int(v) - 1 for v in y] and train.labels[0] == 9
    assert train.class_names == NAMES
    unl = load_data(DataConfig(name="stl10", root=str(d)))  # default split: unlabeled; root = the folder
    assert len(unl) == 4 and unl.labels is None
    assert np.array_equal(np.asarray(unl.images), out["unlabeled"][0].transpose(0, 3, 1, 2))
    both = load_data(DataConfig(name="stl10", root=str(tmp_path), args={"split": "train+unlabeled"}))
    assert len(both) == 7 and both.labels is None
    assert np.array_equal(both.images[3:], unl.images)
    all_ = load_data(DataConfig(name="stl10", root=str(tmp_path), args={"split": "all"}))
    assert len(all_) == 9
    test = load_data(DataConfig(name="stl10", root=str(tmp_path), args={"split": "test"}))
    assert np.array_equal(all_.images[3:5], test.images)
    # resized like the BSSN authors' 48 px, and split for the reconstruction test
    small = load_data(DataConfig(name="stl10", root=str(tmp_path), image_size=48))
    assert small.images.shape == (4, 3, 48, 48)
    sp = holdout_split(len(small), 2, 1, 0)
    assert len(sp.train) == 2


def test_matches_torchvision_reader(tmp_path, monkeypatch):
    from torchvision.datasets import STL10

    write_stl10(tmp_path)
    # the fixture's files cannot match the official md5 sums; the reading is torchvision's own
    monkeypatch.setattr(STL10, "_check_integrity", lambda self: True)
    for split in ("train", "test", "unlabeled"):
        tv = STL10(str(tmp_path), split=split, download=False)
        ours = load_data(DataConfig(name="stl10", root=str(tmp_path), args={"split": split}))
        assert np.array_equal(np.asarray(ours.images), tv.data)
        if split != "unlabeled":
            assert np.array_equal(ours.labels, tv.labels.astype(np.int64))


def test_bad_input(tmp_path, monkeypatch):
    with pytest.raises(GannormError, match="STL-10 not found"):
        load_data(DataConfig(name="stl10", root=str(tmp_path / "none")))
    (tmp_path / "arc").mkdir()
    (tmp_path / "arc" / "stl10_binary.tar.gz").write_bytes(b"x")
    with pytest.raises(GannormError, match="extract it"):
        load_data(DataConfig(name="stl10", root=str(tmp_path / "arc")))
    d, _ = write_stl10(tmp_path / "a")
    with pytest.raises(GannormError, match="split must be one of"):
        load_data(DataConfig(name="stl10", root=str(d), args={"split": "val"}))
    (d / "train_X.bin").write_bytes((d / "train_X.bin").read_bytes()[:-5])
    with pytest.raises(GannormError, match="not a multiple of 27648"):
        load_data(DataConfig(name="stl10", root=str(d), args={"split": "train"}))
    d, _ = write_stl10(tmp_path / "b")
    (d / "test_y.bin").write_bytes(bytes([0, 3]))
    with pytest.raises(GannormError, match="labels are 1..10"):
        load_data(DataConfig(name="stl10", root=str(d), args={"split": "test"}))
    (d / "test_y.bin").write_bytes(bytes([3]))
    with pytest.raises(GannormError, match="1 labels for 2 images"):
        load_data(DataConfig(name="stl10", root=str(d), args={"split": "test"}))
    (d / "unlabeled_X.bin").unlink()
    with pytest.raises(GannormError, match="unlabeled_X.bin"):
        load_data(DataConfig(name="stl10", root=str(d)))


def test_download_offline_is_one_clear_error(tmp_path, monkeypatch):
    from torchvision.datasets import STL10

    monkeypatch.setattr(STL10, "url", "http://127.0.0.1:9/stl10_binary.tar.gz")  # nothing listens there
    with pytest.raises(GannormError, match="could not download STL-10 .* extract stl10_binary.tar.gz into"):
        load_data(DataConfig(name="stl10", root=str(tmp_path / "dl"), download=True))
    assert not (tmp_path / "dl" / "stl10_binary.tar.gz").exists()  # no partial archive left behind
    # already there: nothing is fetched
    write_stl10(tmp_path / "dl2")
    assert len(load_data(DataConfig(name="stl10", root=str(tmp_path / "dl2"), download=True))) == 4
    cfg = config_mod.load(None, ["data.name=stl10", "data.download=true"])
    assert cfg.data.download
