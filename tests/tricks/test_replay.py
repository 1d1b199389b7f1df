"""Experience replay: the buffer never exceeds its size, keeps the newest images while
filling, and a mixed batch holds exactly round(ratio * N) buffered images (counted by
marking buffered and fresh images with distinct constant values)."""
import pytest
import torch

from gannorm.tricks.replay import ExperienceReplay, ReplayBuffer


def test_buffer_keeps_size():
    buf = ReplayBuffer(size=20, ratio=0.5)
    for step in range(10):
        buf.push(torch.full((8, 1, 2, 2), float(step)))
        assert len(buf) == min(8 * (step + 1), 20)
        assert buf.data.shape[0] == 20
    # once full, new images overwrite slots: the buffer holds only pushed values
    vals = set(buf.data[:, 0, 0, 0].tolist())
    assert vals <= set(float(s) for s in range(10)) and 9.0 in vals


@pytest.mark.parametrize("ratio,n", [(0.5, 8), (0.25, 8), (1.0, 6), (0.0, 8)])
def test_mix_ratio(ratio, n):
    buf = ReplayBuffer(size=50, ratio=ratio)
    buf.push(torch.full((50, 1, 2, 2), 7.0))  # buffered images are all 7
    fresh = torch.full((n, 1, 2, 2), -1.0)
    mixed = buf.mix(fresh)
    from_buffer = int((mixed[:, 0, 0, 0] == 7.0).sum())
    assert from_buffer == round(ratio * n)
    assert int((mixed[:, 0, 0, 0] == -1.0).sum()) == n - round(ratio * n)
    assert torch.equal(fresh, torch.full((n, 1, 2, 2), -1.0))  # the input is not modified


def test_trick_mixes_then_stores_and_state_roundtrip():
    """The first batch passes unchanged (empty buffer) and enters the buffer; a restored
    buffer equals the saved one."""
    trick = ExperienceReplay(size=10, ratio=0.5)
    a = torch.full((4, 1, 2, 2), 1.0)
    assert torch.equal(trick.d_fake(a, None), a)
    b = torch.full((4, 1, 2, 2), 2.0)
    out = trick.d_fake(b, None)
    assert int((out[:, 0, 0, 0] == 1.0).sum()) == 2 and len(trick.buffer) == 8
    other = ExperienceReplay(size=10, ratio=0.5)
    other.load_state_dict(trick.state_dict())
    assert len(other.buffer) == 8 and torch.equal(other.buffer.data[:8], trick.buffer.data[:8])
