from __future__ import annotations

from ..config import ModelConfig, check_norm_roles
from ..nn.norms import build_norm
from ..registry import MODELS


def build_models(cfg: ModelConfig, image_size: int, channels: int):
    """Build (G, D) from a model config; D is wrapped by its norm's ``wrap`` (e.g. GraN)."""
    check_norm_roles(cfg)
    g_norm = build_norm(cfg.g_norm, cfg.g_norm_args)
    d_norm = build_norm(cfg.d_norm, cfg.d_norm_args)
    g, d = MODELS.build(cfg.name, image_size=image_size, channels=channels, z_dim=cfg.z_dim,
                        base_features=cfg.base_features, n_layers=cfg.n_layers, g_norm=g_norm,
                        d_norm=d_norm, activation=cfg.activation, **cfg.args)
    d = d_norm.wrap(d)
    # which norm each network was built with: its registered preparation step (nn.prepare) asks
    g.norm_name, d.norm_name = cfg.g_norm, cfg.d_norm
    return g, d
