"""Decoding one encoded image (a file path or bytes) to a uint8 (C, H, W) array with PIL.

Geometry, applied in this order:

1. ``crop`` (an int, or a (height, width) pair): a box of that size centred in the image,
   top = (H - h) // 2, left = (W - w) // 2 -- the CelebA convention of DCGAN-tensorflow
   (Radford et al. 2016 / carpedm20), there 108 x 108 of the 178 x 218 aligned faces.
2. ``size``: when the (cropped) image is not square, a centred square of its shorter side
   is cut first (as LSUN loaders do); then PIL bicubic resampling to size x size (PIL
   widens the filter when shrinking, so this is antialiased).

Any failure to decode (unknown format, truncated or corrupt data) becomes a
``GannormError`` naming the image, so a bad file never surfaces as a deep traceback.
"""
from __future__ import annotations

import io
import os
from typing import Tuple, Union

import numpy as np

from ..errors import GannormError

Crop = Union[None, int, Tuple[int, int]]


def crop_box(width: int, height: int, crop: Crop):
    """PIL box (left, top, right, bottom) of a centred crop, or None for no crop."""
    if crop is None or crop == 0:
        return None
    ch, cw = (crop, crop) if isinstance(crop, int) else (int(crop[0]), int(crop[1]))
    if ch > height or cw > width:
        raise ValueError(f"crop {ch}x{cw} is larger than the {height}x{width} image")
    top, left = (height - ch) // 2, (width - cw) // 2
    return (left, top, left + cw, top + ch)


def decode_image(src: Union[str, os.PathLike, bytes], name: str, size: int | None = None,
                 mode: str = "RGB", crop: Crop = None) -> np.ndarray:
    """Decode ``src`` (path or encoded bytes) to uint8 (C, H, W); ``name`` is used in errors."""
    from PIL import Image

    try:
        fh = io.BytesIO(src) if isinstance(src, (bytes, bytearray, memoryview)) else src
        with Image.open(fh) as im:
            im.load()  # decode fully here, so truncation is detected now and not later
            im = im.convert(mode)
            box = crop_box(im.size[0], im.size[1], crop)
            if box is not None:
                im = im.crop(box)
            if size is not None and im.size != (size, size):
                w, h = im.size
                m = min(w, h)
                if w != h:
                    im = im.crop(((w - m) // 2, (h - m) // 2, (w - m) // 2 + m, (h - m) // 2 + m))
                im = im.resize((size, size), Image.BICUBIC)
            a = np.asarray(im, np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise GannormError(f"cannot read image {name}: {e}") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
