"""Layers usable without the trainer: normalizations, activations, wrappers."""
from .activations import make_activation
from .norms import Norm, build_norm
from .weight_norm import TPReLU, TReLU, WNConv2d, WNConvTranspose2d, WNLinear

__all__ = ["Norm", "build_norm", "make_activation", "TPReLU", "TReLU", "WNConv2d",
           "WNConvTranspose2d", "WNLinear"]
