"""Layers usable without the trainer: normalizations, activations, wrappers."""
from .activations import make_activation
from .norms import Norm, build_norm
from .translated_relu import TPReLU, TReLU
from .weight_norm import WNConv2d, WNConvTranspose2d, WNLinear
from .spectral import advance_power_iterations, spectral_norm, strict_spectral_norm
from .bssn import bssn
from .gradnorm import GradNorm
from .feature_norms import VirtualBatchNorm, set_reference
from .wn_param import weight_norm

__all__ = ["Norm", "build_norm", "make_activation", "TPReLU", "TReLU", "WNConv2d",
           "WNConvTranspose2d", "WNLinear", "spectral_norm", "strict_spectral_norm", "advance_power_iterations", "bssn", "GradNorm",
           "VirtualBatchNorm", "set_reference", "weight_norm"]
