"""LSUN source on real LMDB databases written with the ``lmdb`` package in LSUN's format
(key: 40 hex digits, value: webp or jpeg bytes). Reference: the pixels written (lossless
webp: exactly; jpeg: within JPEG tolerance)."""
import hashlib
import io

import lmdb
import numpy as np
import pytest
from PIL import Image

from gannorm.config import DataConfig
from gannorm.data import load_data
from gannorm.errors import GannormError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))


def write_lsun(path, n=5, fmt="webp", w=24, h=32, seed=0):
    """An LSUN-style database; returns {key: written HxWx3 array} (images wider or taller than square)."""
    rng = np.random.RandomState(seed)
    written = {}
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(n):
            a = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
            if fmt == "jpeg":  # smooth content, so JPEG stays within a few levels
                y, x = np.mgrid[0:h, 0:w]
                a = np.stack([x * 8 + i * 10, y * 6, (x + y) * 4], -1).clip(0, 255).astype(np.uint8)
            buf = io.BytesIO()
            if fmt == "webp":
                Image.fromarray(a).save(buf, format="WEBP", lossless=True)
            else:
                Image.fromarray(a).save(buf, format="JPEG", quality=95)
            key = hashlib.sha1(f"img{i}".encode()).hexdigest().encode("ascii")
            txn.put(key, buf.getvalue())
            written[key] = a
    env.close()
    return written


def test_webp_values_decode_exactly_in_key_order(tmp_path):
    """Lossless webp values come back pixel-exact, in LMDB key order, centre-cropped to a square."""
    db = tmp_path / "bedroom_train_lmdb"
    written = write_lsun(db)
    d = load_data(DataConfig(name="lsun", root=str(db), image_size=24))
    assert d.images.shape == (5, 3, 24, 24) and d.labels is None
    for k, key in enumerate(sorted(written)):
        # 32 high, 24 wide: the centred square is rows 4..27
        assert np.array_equal(d.images[k], written[key][4:28].transpose(2, 0, 1))


def test_category_split_root_and_max_images(tmp_path):
    """data.root = the folder of databases + category/split; max_images keeps the first keys."""
    written = write_lsun(tmp_path / "church_outdoor_val_lmdb", n=6)
    d = load_data(DataConfig(name="lsun", root=str(tmp_path), image_size=24,
                             args={"category": "church_outdoor", "split": "val", "max_images": 4}))
    assert len(d) == 4
    first4 = sorted(written)[:4]
    assert all(np.array_equal(d.images[k], written[key][4:28].transpose(2, 0, 1)) for k, key in enumerate(first4))


def test_several_categories_are_labelled(tmp_path):
    """category: [bedroom, kitchen] reads both databases; the label is the category's index."""
    a = write_lsun(tmp_path / "bedroom_train_lmdb", n=3, seed=1)
    b = write_lsun(tmp_path / "kitchen_train_lmdb", n=2, seed=2)
    d = load_data(DataConfig(name="lsun", root=str(tmp_path), image_size=24,
                             args={"category": ["bedroom", "kitchen"]}))
    assert d.labels.tolist() == [0, 0, 0, 1, 1] and d.class_names == ["bedroom", "kitchen"]
    ref = [a[k] for k in sorted(a)] + [b[k] for k in sorted(b)]
    assert all(np.array_equal(d.images[i], r[4:28].transpose(2, 0, 1)) for i, r in enumerate(ref))


def test_jpeg_values_and_resize(tmp_path):
    """JPEG values (as exported by LSUN's tools) decode within JPEG tolerance; resizing gives the size."""
    db = tmp_path / "x_lmdb"
    written = write_lsun(db, fmt="jpeg")
    d = load_data(DataConfig(name="lsun", root=str(db), image_size=24))
    for k, key in enumerate(sorted(written)):
        assert np.abs(d.images[k].astype(int) - written[key][4:28].transpose(2, 0, 1)).mean() < 3
    assert load_data(DataConfig(name="lsun", root=str(db), image_size=8)).images.shape == (5, 3, 8, 8)


def test_not_lsun_format_and_corrupt_values(tmp_path):
    """An LMDB of non-image values, a folder without data.mdb, an empty LMDB, a corrupt webp value."""
    env = lmdb.open(str(tmp_path / "other"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"user:1", b'{"name": "x"}')
    env.close()
    with pytest.raises(GannormError, match=r"not in LSUN's format .*b'user:1'"):
        load_data(DataConfig(name="lsun", root=str(tmp_path / "other"), image_size=8))
    (tmp_path / "plain").mkdir()
    with pytest.raises(GannormError, match="not an LMDB database"):
        load_data(DataConfig(name="lsun", root=str(tmp_path / "plain"), image_size=8))
    lmdb.open(str(tmp_path / "empty"), map_size=1 << 20).close()
    with pytest.raises(GannormError, match="is empty"):
        load_data(DataConfig(name="lsun", root=str(tmp_path / "empty"), image_size=8))
    db = tmp_path / "bad_lmdb"
    written = write_lsun(db, n=4)
    bad = sorted(written)[2]
    env = lmdb.open(str(db), map_size=1 << 24)
    with env.begin(write=True) as txn:
        v = txn.get(bad)
        txn.put(bad, v[: len(v) // 3])  # truncated webp
    env.close()
    with pytest.raises(GannormError, match=f"cannot read image bad_lmdb\\[{bad.decode()}\\]"):
        load_data(DataConfig(name="lsun", root=str(db), image_size=8))
    d = load_data(DataConfig(name="lsun", root=str(db), image_size=24, args={"skip_bad": True}))
    assert len(d) == 3 and len(d.skipped) == 1 and bad.decode() in d.skipped[0]
    keep = [k for k in sorted(written) if k != bad]
    assert all(np.array_equal(d.images[i], written[k][4:28].transpose(2, 0, 1)) for i, k in enumerate(keep))
