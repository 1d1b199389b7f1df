"""The prepared cache (folder source): decoded pixels equal PIL's decoding of the files,
labels follow class folders (torchvision ImageFolder's rule), an interrupted build resumes
without redoing work and never exposes a partial images.npy, bad images are named or
skipped and counted, and ``gannorm data prepare`` reports all of it."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gannorm.config import DataConfig
from gannorm.data import cache as cache_mod
from gannorm.data import load_data
from gannorm.errors import GannormError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANNORM_DECODE_WORKERS", "2")


def write_folder(root, classes=("b_cls", "a_cls"), per=5, size=10, seed=0, mode="RGB"):
    rng = np.random.RandomState(seed)
    written = {}
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per):
            shape = (size, size, 3) if mode == "RGB" else (size, size)
            a = rng.randint(0, 256, shape).astype(np.uint8)
            Image.fromarray(a).save(root / c / f"{i:03d}.png")
            written[f"{c}/{i:03d}.png"] = a
    return written


def test_folder_pixels_labels_and_memmap(tmp_path):
    """Exact PNG pixels; labels/classes equal torchvision.datasets.ImageFolder's; 2nd load is a memmap."""
    from torchvision.datasets import ImageFolder

    written = write_folder(tmp_path / "imgs")
    d = load_data(DataConfig(name="folder", root=str(tmp_path / "imgs")), quiet=True)
    ref = ImageFolder(str(tmp_path / "imgs"))
    assert d.class_names == ref.classes
    assert d.labels.tolist() == [t for _, t in ref.samples]
    for k, (path, _) in enumerate(ref.samples):
        rel = "/".join(path.split("/")[-2:])
        assert np.array_equal(d.images[k], written[rel].transpose(2, 0, 1))
    again = load_data(DataConfig(name="folder", root=str(tmp_path / "imgs")), quiet=True)
    assert isinstance(again.images, np.memmap) and np.array_equal(again.images, d.images)
    assert again.cache == d.cache and (tmp_path / "cache") in __import__("pathlib").Path(d.cache).parents


def test_interrupt_then_resume_decodes_each_image_once(tmp_path, monkeypatch):
    """Ctrl-C while decoding image 8 of 10 leaves no images.npy/meta.json and a progress record
    of the 7 images on disk; the rerun decodes only images 8..10 and the result equals the
    written pixels."""
    written = write_folder(tmp_path / "imgs", per=5)
    monkeypatch.setattr(cache_mod, "CHUNK", 3)
    monkeypatch.setattr(cache_mod, "decode_workers", lambda: 1)
    calls = []
    real = cache_mod.decode_image

    def flaky(src, name, *a, **k):
        calls.append(name)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return real(src, name, *a, **k)

    monkeypatch.setattr(cache_mod, "decode_image", flaky)
    with pytest.raises(KeyboardInterrupt):
        load_data(DataConfig(name="folder", root=str(tmp_path / "imgs")), quiet=True)
    (cdir,) = (tmp_path / "cache").iterdir()
    assert not (cdir / "images.npy").exists() and not (cdir / "meta.json").exists()
    assert json.loads((cdir / "progress.json").read_text())["done"] == 7
    calls.clear()
    d = load_data(DataConfig(name="folder", root=str(tmp_path / "imgs")), quiet=True)
    assert len(calls) == 3
    assert not (cdir / "progress.json").exists() and not (cdir / "images.partial.npy").exists()
    for k, rel in enumerate(sorted(written)):
        assert np.array_equal(d.images[k], written[rel].transpose(2, 0, 1))


def test_truncated_jpeg_named_then_skipped_with_count(tmp_path):
    """A truncated JPEG stops the build naming the file; skip_bad leaves it out, counts it, and
    the labels stay aligned with the kept images."""
    write_folder(tmp_path / "imgs", per=3)
    bad = tmp_path / "imgs" / "a_cls" / "zz.jpg"
    Image.fromarray(np.full((10, 10, 3), 99, np.uint8)).save(bad, quality=90)
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(GannormError, match=r"cannot read image .*a_cls/zz\.jpg.*skip-bad"):
        load_data(DataConfig(name="folder", root=str(tmp_path / "imgs")), quiet=True)
    d = load_data(DataConfig(name="folder", root=str(tmp_path / "imgs"), args={"skip_bad": True}), quiet=True)
    assert len(d) == 6 and d.skipped == [str(bad)] and "1 unreadable image(s) skipped" in d.description
    assert d.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_empty_and_mixed_size_folders(tmp_path):
    """An empty folder and differently sized images without data.image_size: clear errors."""
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(GannormError, match="no images"):
        load_data(DataConfig(name="folder", root=str(tmp_path / "empty")))
    write_folder(tmp_path / "mixed", classes=("a",), per=2, size=8)
    Image.new("RGB", (9, 9)).save(tmp_path / "mixed" / "a" / "z.png")
    with pytest.raises(GannormError, match=r"z\.png is 9x9.*data.image_size"):
        load_data(DataConfig(name="folder", root=str(tmp_path / "mixed")), quiet=True)
    d = load_data(DataConfig(name="folder", root=str(tmp_path / "mixed"), image_size=8), quiet=True)
    assert d.images.shape == (3, 3, 8, 8)


def test_grayscale_data_into_rgb_model(tmp_path):
    """Grayscale PNGs: decoded as RGB (3 equal channels = the gray value written) unless
    data.channels=1; a 1-channel batch fed to a 3-channel D is a clear error naming data.channels."""
    from gannorm.models.sngan import SNGANCNNDiscriminator

    written = write_folder(tmp_path / "g", classes=("x",), per=2, size=16, mode="L")
    rgb = load_data(DataConfig(name="folder", root=str(tmp_path / "g")), quiet=True)
    gray = load_data(DataConfig(name="folder", root=str(tmp_path / "g"), channels=1), quiet=True)
    a = written["x/000.png"]
    assert all(np.array_equal(rgb.images[0, c], a) for c in range(3)) and np.array_equal(gray.images[0, 0], a)
    import torch

    with pytest.raises(GannormError, match="built for 3-channel images but got 1-channel.*data.channels=3"):
        SNGANCNNDiscriminator(16, 3, base_features=2)(torch.zeros(1, 1, 16, 16))


def test_cli_prepare_reports_and_skips(tmp_path):
    """gannorm data prepare: counts, shape, classes, cache path; a bad image is one error line;
    --skip-bad names it at the end; a second run reuses the cache."""
    from gannorm.cli import cli

    write_folder(tmp_path / "imgs", per=2)
    (tmp_path / "imgs" / "a_cls" / "bad.png").write_bytes(b"\x89PNG\r\n junk")
    args = ["data", "prepare", "data.name=folder", f"data.root={tmp_path / 'imgs'}", "data.image_size=8",
            "--quiet", "--cache-dir", str(tmp_path / "c2")]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "bad.png" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, args + ["--skip-bad"])
    assert r.exit_code == 0, r.output
    assert "4 images, 3x8x8 uint8" in r.output and "labels: 2 classes" in r.output
    assert "skipped 1 unreadable image(s):" in r.output and "bad.png" in r.output
    assert f"cache: {tmp_path / 'c2'}" in r.output
    assert len(list((tmp_path / "c2").iterdir())) == 1


def test_damaged_cache_and_full_disk_are_clear_errors(tmp_path, monkeypatch):
    """A truncated images.npy is reported with the fix; too little free space (shutil.disk_usage
    reporting 100 bytes) stops before writing, naming the sizes."""
    write_folder(tmp_path / "imgs", per=2)
    d = load_data(DataConfig(name="folder", root=str(tmp_path / "imgs")), quiet=True)
    p = __import__("pathlib").Path(d.cache) / "images.npy"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(GannormError, match="is damaged.*delete that folder"):
        load_data(DataConfig(name="folder", root=str(tmp_path / "imgs")), quiet=True)
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(cache_mod.shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 100, 100))
    with pytest.raises(GannormError, match=r"needs 0\.00 GB .*larger disk"):
        load_data(DataConfig(name="folder", root=str(tmp_path / "imgs"), image_size=8), quiet=True)
