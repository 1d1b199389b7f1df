"""D's features through the hooks (gannorm.hooks): errors are reported for what they are."""
import pytest
import torch
import torch.nn as nn

from gannorm.errors import GannormError
from gannorm.hooks import d_features, d_features_and_out


class _BrokenD(nn.Module):
    def forward(self, x, return_features=False):
        raise TypeError("a bug inside D's forward")


class _NoFeaturesD(nn.Module):
    def forward(self, x):
        return x.flatten(1).sum(1)


def test_a_type_error_inside_d_is_not_reported_as_missing_features():
    """Reference: the hook contract - only a D whose signature lacks return_features 'cannot return
    its features'; a TypeError raised inside a D that has it is a bug and keeps its traceback."""
    x = torch.zeros(2, 1, 4, 4)
    for fn in (d_features, d_features_and_out):
        with pytest.raises(TypeError, match="a bug inside"):
            fn(_BrokenD(), x)
        with pytest.raises(GannormError, match="cannot return its features"):
            fn(_NoFeaturesD(), x)
