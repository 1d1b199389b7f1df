"""CIFAR-10 and CIFAR-100 in their official python format (Krizhevsky 2009).

On disk (https://www.cs.toronto.edu/~kriz/cifar.html, "python version")::

    cifar-10-batches-py/  data_batch_1..5, test_batch, batches.meta
    cifar-100-python/     train, test, meta

Each batch is a pickled dict: ``b'data'`` uint8 (N, 3072), every row 1024 red, then
1024 green, then 1024 blue values of a 32x32 image in row-major order, so a row reshapes
to (3, 32, 32); ``b'labels'`` (CIFAR-10) or ``b'fine_labels'`` / ``b'coarse_labels'``
(CIFAR-100), N ints. The meta file holds ``b'label_names'`` (CIFAR-10) or
``b'fine_label_names'`` / ``b'coarse_label_names'``.

``data.root`` may be the batches folder, the folder holding it, or the downloaded
``.tar.gz`` (read in place). With ``data.download: true`` a missing archive is fetched by
torchvision's downloader (the URL and MD5 of its ``CIFAR10``/``CIFAR100`` classes) into
``data.root``, or ``$GANNORM_CACHE/downloads`` when no root is given, and read from there. The pickles are raw pixels, so no cache is needed: loading
all 60,000 images takes about a second. They are unpickled with a restricted loader that
accepts only numpy arrays and plain Python values, so a malicious file cannot run code.
Options (``data.args``): ``split`` train | test | all; ``label`` fine | coarse (CIFAR-100).
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Dict, List

import numpy as np

from ..errors import GannormError
from ..registry import DATASETS
from .cache import cache_dir
from .source import ImageData

_SPECS = {
    "cifar10": {"folder": "cifar-10-batches-py", "archive": "cifar-10-python.tar.gz",
                "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
                "meta": "batches.meta", "title": "CIFAR-10"},
    "cifar100": {"folder": "cifar-100-python", "archive": "cifar-100-python.tar.gz",
                 "train": ["train"], "test": ["test"], "meta": "meta", "title": "CIFAR-100"},
}

_SAFE = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy._core.multiarray", "_reconstruct"),
         ("numpy._core.multiarray", "scalar"), ("numpy._core.numeric", "_frombuffer"),
         ("_codecs", "encode")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        module = module.replace("numpy.core.", "numpy._core.")  # files pickled by numpy < 2
        if (module, name) not in _SAFE:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(raw: bytes, where: str) -> Dict:
    try:
        d = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # any unpickling failure means "not a CIFAR batch"
        raise GannormError(f"{where} is not a CIFAR python batch ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise GannormError(f"{where} is not a CIFAR python batch (not a dict)")
    # python-3 pickles may have str keys; the official files have bytes keys
    return {(k.encode() if isinstance(k, str) else k): v for k, v in d.items()}


class _Reader:
    """Reads member files of the batches folder, or of the .tar.gz archive."""

    def __init__(self, root: Path, spec):
        self.spec, self.tar, self.dir = spec, None, None
        candidates = [root, root / spec["folder"]]
        for c in candidates:
            if c.is_dir() and (c / spec["meta"]).exists():
                self.dir = c
                return
        archives = [root] if root.is_file() else [root / spec["archive"]]
        for a in archives:
            if a.is_file():
                try:
                    self.tar = tarfile.open(a, "r:*")
                except (tarfile.TarError, OSError) as e:
                    raise GannormError(f"{a} is not a readable {spec['title']} archive: {e}") from None
                self.where = a
                return
        raise GannormError(
            f"{spec['title']} not found at {root}: expected the folder {spec['folder']}/ (with "
            f"{spec['meta']}) or {spec['archive']}; set data.root to it (python version from "
            f"https://www.cs.toronto.edu/~kriz/cifar.html)")

    def read(self, name: str):
        if self.dir is not None:
            p = self.dir / name
            if not p.exists():
                raise GannormError(f"{self.spec['title']} file missing: {p}")
            return p.read_bytes(), str(p)
        where = f"{self.where}:{self.spec['folder']}/{name}"
        try:
            f = self.tar.extractfile(f"{self.spec['folder']}/{name}")
        except KeyError:
            f = None
        if f is None:
            raise GannormError(f"{self.spec['title']} archive {self.where} has no {self.spec['folder']}/{name}")
        return f.read(), where


def _labels_key(kind: str, label: str) -> bytes:
    if kind == "cifar10":
        return b"labels"
    if label not in ("fine", "coarse"):
        raise GannormError(f"data.args.label must be fine or coarse for CIFAR-100, got {label!r}")
    return f"{label}_labels".encode()


def _has_data(root: Path, spec) -> bool:
    return root.is_file() or (root / spec["meta"]).exists() or (root / spec["folder"] / spec["meta"]).exists() \
        or (root / spec["archive"]).is_file()


def download(kind: str, root: str | None = None) -> Path:
    """The folder holding the official archive, fetched there first when missing.

    torchvision's downloader with the URL and MD5 its dataset class publishes (so a wrong or
    truncated file is refused); a file already there with the right MD5 is not fetched again.
    """
    from torchvision.datasets import CIFAR10, CIFAR100
    from torchvision.datasets.utils import download_url

    spec, source = _SPECS[kind], {"cifar10": CIFAR10, "cifar100": CIFAR100}[kind]
    where = Path(root).expanduser() if root else cache_dir() / "downloads"
    if _has_data(where, spec):
        return where
    try:
        download_url(source.url, str(where), source.filename, source.tgz_md5)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; torchvision's MD5 mismatch a RuntimeError
        (where / source.filename).unlink(missing_ok=True)  # never leave a bad archive to be read later
        raise GannormError(f"could not download {spec['title']} from {source.url} ({e}); put "
                           f"{source.filename} in {where} or set data.root to a copy") from None
    return where


def load_cifar(kind: str, root: str | None, split: str = "train", label: str = "fine",
               fetch: bool = False) -> ImageData:
    spec = _SPECS[kind]
    if fetch:
        root = str(download(kind, root))
    if not root:
        raise GannormError(f"the {kind} dataset needs data.root (the {spec['folder']} folder or {spec['archive']}) "
                           f"or data.download=true")
    if split not in ("train", "test", "all"):
        raise GannormError(f"data.args.split must be train, test or all, got {split!r}")
    reader = _Reader(Path(root).expanduser(), spec)
    key = _labels_key(kind, label)
    names = spec["train"] * (split != "test") + spec["test"] * (split != "train")
    images: List[np.ndarray] = []
    labels: List[np.ndarray] = []
    for name in names:
        raw, where = reader.read(name)
        d = _unpickle(raw, where)
        if b"data" not in d or key not in d:
            raise GannormError(f"{where} is not a {spec['title']} batch: keys {sorted(d)[:6]}, "
                               f"expected b'data' and {key!r}")
        x = np.asarray(d[b"data"])
        y = np.asarray(d[key], np.int64)
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or len(y) != len(x):
            raise GannormError(f"{where}: b'data' must be uint8 (N, 3072) with N labels, got "
                               f"{x.dtype} {x.shape} and {len(y)} labels")
        images.append(x.reshape(-1, 3, 32, 32))
        labels.append(y)
    raw, where = reader.read(spec["meta"])
    meta = _unpickle(raw, where)
    names_key = b"label_names" if kind == "cifar10" else f"{label}_label_names".encode()
    class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(names_key, [])]
    x = np.concatenate(images)
    return ImageData(x, np.concatenate(labels), class_names,
                     f"{spec['title']} {split} ({len(x)} images) from {getattr(reader, 'where', reader.dir)}")


@DATASETS.register("cifar10", help="CIFAR-10, official python pickles (cifar-10-batches-py or its .tar.gz)")
def cifar10(root: str | None = None, split: str = "train", download: bool = False) -> ImageData:
    return load_cifar("cifar10", root, split, fetch=download)


@DATASETS.register("cifar100", help="CIFAR-100, official python pickles (cifar-100-python or its .tar.gz)")
def cifar100(root: str | None = None, split: str = "train", label: str = "fine",
             download: bool = False) -> ImageData:
    return load_cifar("cifar100", root, split, label, fetch=download)
