"""The trainer, its checkpoints, logging and run directory."""
from .rundir import RunDir
from .trainer import Trainer, TrainResult, resolve_device

__all__ = ["RunDir", "Trainer", "TrainResult", "resolve_device"]
