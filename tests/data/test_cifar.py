"""CIFAR-10/100 python-pickle sources, checked against torchvision's own CIFAR readers on the
same files and against the pixel values the fixtures write."""
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from gannorm.config import DataConfig
from gannorm.data import load_data
from gannorm.errors import GannormError

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class Py2Str(bytes):
    """A Python-2 ``str``: the official CIFAR files were pickled by Python 2, so their keys and
    names are STRING opcodes (bytes with encoding='bytes', str with encoding='latin1')."""


class _Py2Pickler(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + bytes(obj))
        self.memoize(obj)

    dispatch[Py2Str] = save_py2str


def py2_dump(obj, path):
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    path.write_bytes(buf.getvalue())


def write_cifar10(root, per_batch=3, seed=0):
    """The official layout: cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}, Python-2 pickles."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.RandomState(seed)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.randint(0, 256, (per_batch, 3072)).astype(np.uint8)
        y = [int(v) for v in rng.randint(0, 10, per_batch)]
        py2_dump({Py2Str(b"batch_label"): Py2Str(name.encode()), Py2Str(b"labels"): y, Py2Str(b"data"): x,
                  Py2Str(b"filenames"): [Py2Str(b"f%d.png" % i) for i in range(per_batch)]}, d / name)
        written[name] = (x, y)
    py2_dump({Py2Str(b"label_names"): [Py2Str(n.encode()) for n in CIFAR10_NAMES],
              Py2Str(b"num_cases_per_batch"): per_batch, Py2Str(b"num_vis"): 3072}, d / "batches.meta")
    return d, written


def write_cifar100(root, n=5, seed=1):
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    rng = np.random.RandomState(seed)
    out = {}
    for name in ("train", "test"):
        x = rng.randint(0, 256, (n, 3072)).astype(np.uint8)
        fine, coarse = [int(v) for v in rng.randint(0, 100, n)], [int(v) for v in rng.randint(0, 20, n)]
        py2_dump({Py2Str(b"data"): x, Py2Str(b"fine_labels"): fine, Py2Str(b"coarse_labels"): coarse}, d / name)
        out[name] = (x, fine, coarse)
    py2_dump({Py2Str(b"fine_label_names"): [Py2Str(b"c%d" % i) for i in range(100)],
              Py2Str(b"coarse_label_names"): [Py2Str(b"s%d" % i) for i in range(20)]}, d / "meta")
    return d, out


def _torchvision(cls, root, train, monkeypatch):
    import torchvision.datasets.cifar as tv

    # the fixture's files cannot match the official md5 sums; everything else is torchvision's
    monkeypatch.setattr(tv, "check_integrity", lambda *a, **k: True)
    return cls(str(root), train=train, download=False)


@pytest.mark.parametrize("split,train", [("train", True), ("test", False)])
def test_cifar10_matches_torchvision_reader(tmp_path, monkeypatch, split, train):
    """Pixels (N, 3, 32, 32), labels and class names equal torchvision.datasets.CIFAR10 on the same pickles."""
    from torchvision.datasets import CIFAR10

    write_cifar10(tmp_path)
    d = load_data(DataConfig(name="cifar10", root=str(tmp_path), args={"split": split}))
    ref = _torchvision(CIFAR10, tmp_path, train, monkeypatch)
    assert d.images.shape == (len(ref.data), 3, 32, 32)
    assert np.array_equal(d.images, ref.data.transpose(0, 3, 1, 2))  # torchvision keeps HWC
    assert d.labels.tolist() == list(ref.targets)
    assert d.class_names == ref.classes == CIFAR10_NAMES


def test_cifar10_row_layout_is_rgb_planes(tmp_path):
    """Row layout of the format: 1024 R, 1024 G, 1024 B values, each plane row-major (spec of the files)."""
    _, written = write_cifar10(tmp_path)
    d = load_data(DataConfig(name="cifar10", root=str(tmp_path / "cifar-10-batches-py")))
    row = written["data_batch_1"][0][1]
    # pixel (channel 2, y 5, x 7) is entry 2*1024 + 5*32 + 7 of the row
    assert d.images[1, 2, 5, 7] == row[2 * 1024 + 5 * 32 + 7]
    assert d.images[1, 0, 31, 0] == row[31 * 32]
    all_ = load_data(DataConfig(name="cifar10", root=str(tmp_path), args={"split": "all"}))
    assert len(all_) == 18 and np.array_equal(all_.images[-3:].reshape(3, -1), written["test_batch"][0])


def test_cifar10_from_tar_gz(tmp_path):
    """The downloaded archive is read in place and gives the same data as the extracted folder."""
    d, _ = write_cifar10(tmp_path / "x")
    arc = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(arc, "w:gz") as t:
        t.add(d, arcname="cifar-10-batches-py")
    a = load_data(DataConfig(name="cifar10", root=str(arc)))
    b = load_data(DataConfig(name="cifar10", root=str(d)))
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)


@pytest.mark.parametrize("label", ["fine", "coarse"])
def test_cifar100_matches_torchvision_and_fixture(tmp_path, monkeypatch, label):
    """CIFAR-100 fine labels equal torchvision.datasets.CIFAR100's targets; coarse labels those written."""
    from torchvision.datasets import CIFAR100

    _, out = write_cifar100(tmp_path)
    d = load_data(DataConfig(name="cifar100", root=str(tmp_path), args={"label": label}))
    x, fine, coarse = out["train"]
    assert np.array_equal(d.images.reshape(len(x), -1), x)
    assert d.labels.tolist() == (fine if label == "fine" else coarse)
    if label == "fine":
        ref = _torchvision(CIFAR100, tmp_path, True, monkeypatch)
        assert d.labels.tolist() == list(ref.targets) and d.class_names == ref.classes
    else:
        assert d.class_names == [f"s{i}" for i in range(20)]


def test_cifar_bad_input_errors(tmp_path):
    """Missing folder, a non-pickle batch, a pickle with foreign code and wrong keys: one clear error each."""
    with pytest.raises(GannormError, match="CIFAR-10 not found"):
        load_data(DataConfig(name="cifar10", root=str(tmp_path)))
    d, _ = write_cifar10(tmp_path)
    (d / "data_batch_3").write_bytes(b"garbage, not a pickle")
    with pytest.raises(GannormError, match="data_batch_3 is not a CIFAR python batch"):
        load_data(DataConfig(name="cifar10", root=str(tmp_path)))

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned",))

    (d / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(GannormError, match="refusing to load"):
        load_data(DataConfig(name="cifar10", root=str(tmp_path)))
    (d / "data_batch_3").write_bytes(pickle.dumps({b"pixels": np.zeros((1, 3072), np.uint8)}))
    with pytest.raises(GannormError, match=r"data_batch_3 is not a CIFAR-10 batch.*b'data'"):
        load_data(DataConfig(name="cifar10", root=str(tmp_path)))
    with pytest.raises(GannormError, match="split must be"):
        load_data(DataConfig(name="cifar10", root=str(tmp_path), args={"split": "val"}))
