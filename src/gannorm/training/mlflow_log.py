"""MLflow as a destination of a run's numbers (``train.log_to: [tensorboard, mlflow]``).

The config goes in as parameters (``section.key``), every logged value (losses, the
diagnostics, the running test) as a metric at its iteration, the sample grids and, at the
end, the checkpoints as artifacts. The store is ``$MLFLOW_TRACKING_URI`` when set, else a
local one beside the run directory, no server needed: ``<parent>/mlflow.db`` (SQLite, the
local store MLflow 3 defaults to) with the artifacts in ``<parent>/mlartifacts``. The
MLflow run's id is kept in ``RUN/mlflow_run_id``, so a resumed run continues the same
MLflow run. Install with ``pip install "gannorm[mlflow]"``.
"""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Dict, Iterable

from ..errors import GannormError

RUN_ID_FILE = "mlflow_run_id"
EXPERIMENT = "gannorm"


def _metric_name(k: str) -> str:
    # MLflow allows letters, digits and _ - . space : / only
    return re.sub(r"[^\w\-. :/]", "_", k)


def default_uri(run_root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(run_root).resolve().parent / 'mlflow.db')}"


class MLflowSink:
    """An open MLflow run (one client, no global active run, so a script's own run is left alone)."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id

    @classmethod
    def open(cls, run_root: Path, cfg, resume: bool) -> "MLflowSink":
        try:
            import mlflow
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise GannormError('train.log_to has mlflow but MLflow is not installed: pip install "gannorm[mlflow]" '
                               '(or pip install mlflow), or set train.log_to=[tensorboard]') from None
        logging.getLogger("alembic").setLevel(logging.WARNING)  # the SQLite store's set-up talks at INFO
        uri = default_uri(run_root)
        client = MlflowClient(tracking_uri=uri)
        id_file = Path(run_root) / RUN_ID_FILE
        run_id = id_file.read_text().strip() if resume and id_file.exists() else None
        try:
            if run_id is None:
                exp = client.get_experiment_by_name(EXPERIMENT)
                if exp is None:
                    art = None
                    if uri.startswith("sqlite:///") and "MLFLOW_TRACKING_URI" not in os.environ:
                        art = (Path(run_root).resolve().parent / "mlartifacts").as_uri()
                    exp_id = client.create_experiment(EXPERIMENT, artifact_location=art)
                else:
                    exp_id = exp.experiment_id
                run_id = client.create_run(exp_id, run_name=Path(run_root).name,
                                           tags={"gannorm.run_dir": str(Path(run_root).resolve())}).info.run_id
                id_file.write_text(run_id + "\n")
                flat = {f"{sec}.{k}": (v if isinstance(v, (bool, int, float, str)) or v is None else json.dumps(v))
                        for sec, fields in cfg.to_dict().items() for k, v in fields.items()}
                params = [mlflow.entities.Param(k, str(v)[:6000]) for k, v in flat.items()]
                for i in range(0, len(params), 100):
                    client.log_batch(run_id, params=params[i:i + 100])
            else:
                client.update_run(run_id, status="RUNNING")
        except mlflow.exceptions.MlflowException as e:
            raise GannormError(f"MLflow store {uri}: {str(e).splitlines()[0][:300]}") from None
        return cls(client, run_id)

    def log(self, iteration: int, values: Dict[str, float]) -> None:
        from mlflow.entities import Metric
        import time

        now = int(time.time() * 1000)
        ms = [Metric(_metric_name(k), float(v), now, int(iteration)) for k, v in values.items()]
        for i in range(0, len(ms), 500):
            self.client.log_batch(self.run_id, metrics=ms[i:i + 500])

    def artifact(self, path: Path, folder: str) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def artifacts(self, paths: Iterable[Path], folder: str) -> None:
        for p in paths:
            self.artifact(p, folder)

    def text(self, text: str, name: str) -> None:
        self.client.log_text(self.run_id, text, name)

    def close(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)
