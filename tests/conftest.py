import atexit
import os
import shutil
import tempfile

# torch.compile's kernel cache defaults to one folder per user under /tmp, shared by every
# process on the machine: a run killed mid-compile (or two compiling at once) can leave a
# damaged .so there that later loads fail on. The suite compiles into a folder of its own.
if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="gannorm-tests-inductor-")
    atexit.register(shutil.rmtree, os.environ["TORCHINDUCTOR_CACHE_DIR"], ignore_errors=True)

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """Tiny nets: a second thread only adds spin-waiting, badly so on a shared 2-core box."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


#: A run small enough for a test: tiny nets on the bundled data, CPU, no sample grids.
TINY_RUN = ["model.base_features=8", "model.z_dim=16", "train.batch_size=8", "train.sample_every=0",
            "train.n_samples=4", "data.running_holdout=8", "train.device=cpu"]


@pytest.fixture(scope="session")
def train_tiny_run():
    """``train_tiny_run(run_dir, *overrides)``: train a ``TINY_RUN`` (plus overrides) on one thread."""
    from gannorm import config as config_mod
    from gannorm.training import Trainer

    def train(run_dir, *overrides):
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            cfg = config_mod.load(None, [*TINY_RUN, *overrides])
            return Trainer(cfg, run_dir, quiet=True).train()
        finally:
            torch.set_num_threads(n)

    return train
