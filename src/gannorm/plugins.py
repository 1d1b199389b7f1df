"""Import every plug-in module once so the registries are filled."""
from . import data, losses, models, nn, tricks  # noqa: F401
from .training import optim  # noqa: F401
