"""Zip-of-images source: pixels of lossless PNG members equal those written; class folders
inside the archive give labels (torchvision ImageFolder's sorted-name rule)."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from gannorm.config import DataConfig
from gannorm.data import load_data
from gannorm.errors import GannormError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))


def png(a):
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_class_folders_under_a_common_prefix(tmp_path):
    """train/dog/*, train/cat/* -> classes [cat, dog] (sorted), labels per member, exact pixels."""
    rng = np.random.RandomState(0)
    written = {}
    with zipfile.ZipFile(tmp_path / "pets.zip", "w") as z:
        for cls in ("dog", "cat"):
            for i in range(3):
                a = rng.randint(0, 256, (12, 12, 3)).astype(np.uint8)
                name = f"train/{cls}/{i}.png"
                z.writestr(name, png(a))
                written[name] = a
        z.writestr("train/README.txt", "not an image")
    d = load_data(DataConfig(name="zip", root=str(tmp_path / "pets.zip")))
    assert d.class_names == ["cat", "dog"]
    names = sorted(written)
    assert d.labels.tolist() == [0, 0, 0, 1, 1, 1]
    for k, n in enumerate(names):
        assert np.array_equal(d.images[k], written[n].transpose(2, 0, 1))


def test_flat_zip_with_crop_and_grayscale_members(tmp_path):
    """A flat zip is unlabeled; grayscale members become 3 equal channels; crop + size as documented."""
    rng = np.random.RandomState(1)
    a = rng.randint(0, 256, (20, 16)).astype(np.uint8)
    with zipfile.ZipFile(tmp_path / "flat.zip", "w") as z:
        z.writestr("faces/a.png", png(a))
        z.writestr("faces/b.png", png(a[::-1].copy()))
    d = load_data(DataConfig(name="zip", root=str(tmp_path / "flat.zip"), args={"crop": 8}))
    assert d.labels is None and d.images.shape == (2, 3, 8, 8)
    assert np.array_equal(d.images[0, 1], a[6:14, 4:12]) and np.array_equal(d.images[0, 0], d.images[0, 2])


def test_bad_zips(tmp_path):
    """Not a zip; a zip without images; a corrupt member (named, or skipped and counted)."""
    (tmp_path / "x.zip").write_bytes(b"PK not really")
    with pytest.raises(GannormError, match="not a readable zip"):
        load_data(DataConfig(name="zip", root=str(tmp_path / "x.zip")))
    with zipfile.ZipFile(tmp_path / "txt.zip", "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(GannormError, match="no images found"):
        load_data(DataConfig(name="zip", root=str(tmp_path / "txt.zip")))
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
        z.writestr("a.png", png(np.zeros((4, 4, 3), np.uint8)))
        z.writestr("b.png", b"\x89PNG broken")
    with pytest.raises(GannormError, match=r"cannot read image .*c\.zip:b\.png"):
        load_data(DataConfig(name="zip", root=str(tmp_path / "c.zip")))
    d = load_data(DataConfig(name="zip", root=str(tmp_path / "c.zip"), args={"skip_bad": True}))
    assert len(d) == 1 and d.skipped == [f"{tmp_path / 'c.zip'}:b.png"]
