"""Run-level evaluation, above both ``metrics`` (pure metric functions) and ``training``:
reading a run directory or an exported generator, choosing a checkpoint, the final
reconstruction test, sample-quality figures of a run, and the periodic metrics that a
training run computes through the callbacks ``make_trainer`` hands the trainer."""
from .fidelity import evaluate_run, evaluate_run_lines
from .generator import (DEFAULT_CHECKPOINT, LoadedGenerator, export_generator, load_generator,
                        open_generator)
from .periodic import PeriodicFidelity, make_trainer
from .real_images import load_real_images, real_indices
from .recon import FinalTest, final_recon_test

__all__ = ["DEFAULT_CHECKPOINT", "FinalTest", "LoadedGenerator", "PeriodicFidelity",
           "evaluate_run", "evaluate_run_lines", "export_generator", "final_recon_test", "load_generator",
           "load_real_images", "make_trainer", "open_generator", "real_indices"]
