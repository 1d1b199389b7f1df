"""Import every plug-in module once so the registries are filled.

Registration happens when a plug-in's module is imported. The registries fill themselves on
their first lookup from the ``gannorm.plugins`` entry-point group (``gannorm.registry``), whose
first entry is this module; importing it directly does the same at once: the package's own
plug-in modules, then the modules other installed packages declare in that group.
"""
import importlib

from . import registry
from .registry_index import PLUGIN_MODULES

for _module in PLUGIN_MODULES:
    importlib.import_module(f"{__package__}.{_module}")
registry.PLUGINS.ensure()
