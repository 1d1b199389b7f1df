"""Generator/discriminator architectures, registered by name in ``MODELS``.

Builders take ``(image_size, channels, z_dim, base_features, n_layers, g_norm, d_norm,
activation, **model_args)`` and return ``(G, D)``; G has ``z_dim`` and ``output_range``;
D returns one logit per image and, with ``return_features=True``, its last feature map.
"""
from . import dcgan, resnet_wn, sngan  # noqa: F401
from .build import build_models

__all__ = ["build_models"]
