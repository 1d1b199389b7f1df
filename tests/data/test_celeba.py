"""CelebA source on a fixture in the official layout (img_align_celeba/NNNNNN.jpg, 178x218,
list_eval_partition.txt, list_attr_celeba.txt). References: the pixels written into the
JPEGs (JPEG tolerance) and torchvision's own center_crop/resize on the PIL-decoded file."""
import numpy as np
import pytest
from PIL import Image

from gannorm.config import DataConfig
from gannorm.data import load_data
from gannorm.errors import GannormError

W, H = 178, 218  # the aligned CelebA size


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))


def smooth_image(i):
    """A smooth colour field (JPEG reproduces it to within a few levels) unique per image."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    r = 128 + 100 * np.sin(x / 23 + i)
    g = 128 + 100 * np.cos(y / 31 + 2 * i)
    b = (x + y + 40 * i) % 256 * 0.5 + 60
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def write_celeba(root, n=6):
    d = root / "img_align_celeba"
    d.mkdir(parents=True)
    arrays = {}
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        a = smooth_image(i)
        Image.fromarray(a).save(d / name, quality=95)
        arrays[name] = a
    names = sorted(arrays)
    (root / "list_eval_partition.txt").write_text("".join(f"{f} {i % 3}\n" for i, f in enumerate(names)))
    attrs = ["5_o_Clock_Shadow", "Male", "Smiling"]
    rows = [f"{f} {' '.join(['-1', '1' if i % 2 else '-1', '1'])}" for i, f in enumerate(names)]
    (root / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(attrs)}\n" + "\n".join(rows) + "\n")
    return d, arrays


def test_default_crop_is_centred_108_box_of_the_written_pixels(tmp_path):
    """crop 108, no resize: the box rows 55..162, cols 35..142 of each written image (JPEG tolerance)."""
    _, arrays = write_celeba(tmp_path)
    d = load_data(DataConfig(name="celeba", root=str(tmp_path)))
    assert d.images.shape == (6, 3, 108, 108) and d.labels is None
    for k, name in enumerate(sorted(arrays)):
        ref = arrays[name][55:163, 35:143].transpose(2, 0, 1).astype(int)
        assert np.abs(d.images[k].astype(int) - ref).mean() < 3.0
    # geometry: of all boxes shifted by up to 3 px, the centred one (top 55, left 35) is the closest
    a = arrays[sorted(arrays)[0]].astype(int)
    err = {(dy, dx): np.abs(d.images[0].transpose(1, 2, 0) - a[55 + dy:163 + dy, 35 + dx:143 + dx]).mean()
           for dy in range(-3, 4) for dx in range(-3, 4)}
    assert min(err, key=err.get) == (0, 0)


@pytest.mark.parametrize("crop,size", [(108, 64), (140, 64), ([160, 120], 32)])
def test_crop_and_resize_match_torchvision(tmp_path, crop, size):
    """centre crop then resize equals torchvision.transforms.functional center_crop + resize (bicubic)
    applied to the PIL-decoded file (the rectangular crop is then centre-squared, as documented)."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    img_dir, _ = write_celeba(tmp_path, n=3)
    d = load_data(DataConfig(name="celeba", root=str(img_dir), image_size=size, args={"crop": crop}))
    assert d.images.shape == (3, 3, size, size)
    for k, f in enumerate(sorted(img_dir.iterdir())):
        im = Image.open(f).convert("RGB")
        c = crop if isinstance(crop, int) else tuple(crop)
        im = TF.center_crop(im, c)
        m = min(im.size)
        im = TF.center_crop(im, m)
        ref = np.asarray(TF.resize(im, [size, size], interpolation=InterpolationMode.BICUBIC)).transpose(2, 0, 1)
        assert np.abs(d.images[k].astype(int) - ref.astype(int)).max() <= 1


def test_split_and_attribute_labels(tmp_path):
    """list_eval_partition.txt selects images by split; an attribute column (1/-1) becomes the label."""
    write_celeba(tmp_path)
    test = load_data(DataConfig(name="celeba", root=str(tmp_path), image_size=16,
                                args={"split": "test", "attribute": "Male"}))
    # the fixture writes partition i % 3 and Male = 1 for odd i: test = images 3 and 6 (i = 2, 5)
    assert len(test) == 2 and test.labels.tolist() == [0, 1]
    assert test.class_names == ["not Male", "Male"]
    with pytest.raises(GannormError, match="unknown CelebA attribute 'Bald'"):
        load_data(DataConfig(name="celeba", root=str(tmp_path), args={"attribute": "Bald"}))


def test_celeba_bad_input(tmp_path):
    """Missing folder, a truncated JPEG (named), a crop larger than the image: one clear error each."""
    with pytest.raises(GannormError, match="CelebA not found"):
        load_data(DataConfig(name="celeba", root=str(tmp_path / "nope")))
    img_dir, _ = write_celeba(tmp_path, n=3)
    raw = (img_dir / "000002.jpg").read_bytes()
    (img_dir / "000002.jpg").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(GannormError, match=r"cannot read image .*000002\.jpg.*--skip-bad"):
        load_data(DataConfig(name="celeba", root=str(tmp_path), image_size=16))
    ok = load_data(DataConfig(name="celeba", root=str(tmp_path), image_size=16, args={"skip_bad": True}))
    assert len(ok) == 2 and ok.skipped == [str(img_dir / "000002.jpg")]
    with pytest.raises(GannormError, match="larger than"):
        load_data(DataConfig(name="celeba", root=str(tmp_path), args={"crop": 300, "skip_bad": False}))
