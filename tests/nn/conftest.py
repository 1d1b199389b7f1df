import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # the tensors here are tiny: thread hand-offs on a busy 2-core CI box cost more than the math
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
