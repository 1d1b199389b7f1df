"""Where a study's numbers came from: the software, the machine, the data and the settings,
recorded in the store's ``meta`` table each time the study runs."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Dict, List

from ..version import __version__
from ..data import count_images
from ..errors import GannormError
from .grid import Study


def git_commit() -> str | None:
    """The commit of gannorm's source checkout (an editable install), if it is one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> Dict:
    import torch  # lazily: the CLI starts without torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {"gannorm": __version__, "git_commit": git_commit(), "date": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"), "cpu": f"{cpu_model()} ({os.cpu_count()} cores)",
            "gpu": ", ".join(gpus) or "none", "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


def datasets(study: Study, known: List[Dict] = ()) -> List[Dict]:
    """Each distinct dataset of the study's cells: name, root and image count (counted once:
    those in ``known``, recorded by an earlier invocation, are not counted again; a dataset
    that registers a counter is counted without decoding its images)."""
    have = {d.get("key"): d for d in known or [] if d.get("images")}
    seen, out = set(), []
    for cell in study.cells:
        d = cell.config.data
        key = f"{d.name}|{d.root}|{d.image_size}|{d.channels}"
        if key in seen:
            continue
        seen.add(key)
        if key in have:
            out.append(have[key])
            continue
        try:
            out.append({"key": key, "name": d.name, "root": d.root, "images": count_images(d)})
        except GannormError as e:
            out.append({"key": key, "name": d.name, "root": d.root, "images": None,
                        "description": f"not loadable: {e}"})
    return out


def record_study(store, study: Study) -> None:
    """The study's settings and this machine into the store (the report's header)."""
    store.set_meta("study", {"name": study.name, "file": str(study.path), "base": study.base,
                             "overrides": study.overrides,
                             "axes": {a.name: {label: ov for label, ov in a.values} for a in study.axes},
                             "final_test": study.final_test.to_dict(), "diversity_samples": study.diversity_samples,
                             "seed_axis": study.seed_axis})
    store.set_meta("datasets", datasets(study, store.meta("datasets", [])))
    now = machine()
    store.set_meta("provenance", now)
    # each invocation may train or only re-score on another machine: keep them all
    store.set_meta("history", (store.meta("history", []) + [now])[-50:])
