"""Import every plug-in package once so the registries are filled.

Registration happens when a plug-in's module is imported; the registries themselves
(``gannorm.registry``) and config validation only read them. Whatever validates a config
or lists the registered names (the CLI, a study, a script of its own) imports this first.
"""
from . import data, losses, metrics, models, nn, tricks  # noqa: F401
from .training import optim  # noqa: F401
