"""A zip archive of images, read in place (no extraction), e.g. ``img_align_celeba.zip``.

The folder rule applies to the member paths after removing their common leading folders
(a zip of ``train/cat/1.jpg, train/dog/2.jpg`` has the classes cat and dog; a zip of
``img_align_celeba/*.jpg`` is one unlabeled set): see ``folder.image_layout``.
Decoded once into the prepared cache; options (``data.args``): ``crop`` (centre crop
before resizing, as ``celeba``), ``skip_bad``.
"""
from __future__ import annotations

import threading
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import List, Union

from ..errors import GannormError
from ..registry import DATASETS
from .cache import cached_images
from .folder import image_layout, is_image_name
from .source import ImageData

#: the largest member read as one image: its size as the zip's directory declares it, checked
#: before anything is decompressed (a photo is a few MB; a 300 MB member would take over a GB)
MAX_MEMBER_BYTES = 64 << 20


def _strip_common(paths: List[str]) -> List[str]:
    parts = [PurePosixPath(p).parts for p in paths]
    k = 0
    while all(len(p) > k + 1 for p in parts) and len({p[k] for p in parts}) == 1:
        k += 1
    return ["/".join(p[k:]) for p in parts]


@DATASETS.register("zip", help="a zip of images (class folders inside it give labels); set data.root to the .zip")
def zip_images(root: str | None = None, image_size: int | None = None, channels: int | None = None,
               quiet: bool = False, crop: Union[int, List[int], None] = None,
               skip_bad: bool = False) -> ImageData:
    if not root:
        raise GannormError("the zip dataset needs data.root: a .zip file of images")
    path = Path(root).expanduser().resolve()
    if not path.is_file():
        raise GannormError(f"zip file not found: {path}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise GannormError(f"{path} is not a readable zip file: {e}") from None
    infos = {i.filename: i for i in zf.infolist() if not i.is_dir() and is_image_name(i.filename)}
    members = list(infos)
    if not members:
        zf.close()
        raise GannormError(f"no images found in {path}")
    order, labels, names = image_layout(_strip_common(members))
    members = [members[i] for i in order]
    guard = threading.Lock()  # ZipFile reads share one file handle

    def read(i):
        declared = infos[members[i]].file_size
        if declared > MAX_MEMBER_BYTES:  # before decompressing: zipfile stops at the declared size
            raise GannormError(f"cannot read image {path}:{members[i]}: it is {declared / 2**20:.0f} MB "
                               f"uncompressed, more than an image file can be ({MAX_MEMBER_BYTES >> 20} MB)")
        try:
            with guard:
                return zf.read(members[i])
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
            raise GannormError(f"cannot read image {path}:{members[i]}: {e}") from None

    if isinstance(crop, (list, tuple)):
        crop = (int(crop[0]), int(crop[1]))
    elif crop is not None:
        crop = int(crop) or None
    mode = "L" if channels == 1 else "RGB"
    st = path.stat()
    try:
        return cached_images("zip", path.stem, [str(path), st.st_size, st.st_mtime_ns],
                             [f"{path}:{m}" for m in members], read, size=image_size, mode=mode,
                             crop=crop, labels=labels, class_names=names, skip_bad=skip_bad, quiet=quiet,
                             description=f"zip of images {path} ({len(members)} images"
                                         f"{f', {len(names)} classes' if names else ''})")
    finally:
        zf.close()
