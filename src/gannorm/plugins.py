"""Import every plug-in module once so the registries are filled."""
import importlib

from .registry_index import PLUGIN_MODULES

for _module in PLUGIN_MODULES:
    importlib.import_module(f"{__package__}.{_module}")
