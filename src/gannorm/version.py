"""The package's version: one place, read by pyproject.toml, checkpoints and study provenance."""
__version__ = "0.1.0"
