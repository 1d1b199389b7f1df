"""Import every plug-in module once so the registries are filled.

Registration happens when a plug-in's module is imported; the registries themselves
(``gannorm.registry``) and config validation only read them. Whatever validates a config
or builds from the registries (the trainer, a study, a script of its own) imports this first.
"""
import importlib

from .registry_index import PLUGIN_MODULES

for _module in PLUGIN_MODULES:
    importlib.import_module(f"{__package__}.{_module}")
