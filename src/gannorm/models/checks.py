"""Input checks shared by the architectures: a mismatch is a user error, not a bug."""
from __future__ import annotations

import torch

from ..errors import GannormError


def check_input(x: torch.Tensor, channels: int) -> None:
    """D was built for ``channels``-channel images; say how to convert when they differ.

    Grayscale data is never silently fed to an RGB network: ``data.channels: 3`` converts
    it (the gray value repeated in R, G and B), ``data.channels: 1`` the other way (luma).
    """
    if x.dim() != 4 or x.shape[1] != channels:
        got = f"{x.shape[1]}-channel" if x.dim() == 4 else f"shape {tuple(x.shape)}"
        raise GannormError(f"the discriminator was built for {channels}-channel images but got {got} "
                           f"images; set data.channels={channels} to convert the data")
