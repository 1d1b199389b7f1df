"""Conditional GAN: after a short training on two trivially different classes (dark and
bright 4x4 images), G produces the requested class; the reference is the data's own
class definition (the class whose mean brightness is nearest)."""
import pytest
import torch
import torch.nn as nn

from gannorm.errors import GannormError
from gannorm.hooks import Setup
from gannorm.registry import LOSSES
from gannorm.tricks.conditional import Conditional, ConditionalD, ConditionalG

LEVELS = (0.2, 0.8)  # class 0: dark, class 1: bright


class MLPG(nn.Module):
    z_dim = 4
    output_range = (0.0, 1.0)

    def __init__(self, bn=False):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32) if bn else nn.Identity(), nn.ReLU(),
                                 nn.Linear(32, 16), nn.Sigmoid())

    def forward(self, z):
        return self.net(z).view(-1, 1, 4, 4)


class MLPD(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, 32), nn.LeakyReLU(0.2))
        self.head = nn.Linear(32, 1)

    def forward(self, x, return_features=False):
        h = self.body(x.flatten(1))
        out = self.head(h).squeeze(1)
        return (out, h) if return_features else out


def batch(n, gen):
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.tensor(LEVELS)[y].view(n, 1, 1, 1) + 0.05 * torch.randn(n, 1, 4, 4, generator=gen)
    return x.clamp(0, 1), y


@pytest.mark.parametrize("g_mode,d_mode", [("concat", "projection"), ("cbn", "concat")])
def test_conditional_g_produces_requested_class(g_mode, d_mode):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    G = ConditionalG(MLPG(bn=g_mode == "cbn"), 2, g_mode)
    D = ConditionalD(MLPD(), 2, d_mode, image_channels=1, feature_channels=32)
    loss = LOSSES.build("nonsaturating")
    opt_g = torch.optim.Adam(G.parameters(), 2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-3, betas=(0.5, 0.999))
    for _ in range(300):
        x, y = batch(32, gen)
        fake = G(torch.randn(32, 4), y).detach()
        ld = loss.d_loss(D(x, y), D(fake, y))
        opt_d.zero_grad()
        ld.backward()
        opt_d.step()
        lg = loss.g_loss(D(G(torch.randn(32, 4), y), y))
        opt_g.zero_grad()
        lg.backward()
        opt_g.step()
    G.eval()
    with torch.no_grad():
        for c in (0, 1):
            imgs = G(torch.randn(200, 4), torch.full((200,), c))
            means = imgs.flatten(1).mean(1)
            nearest = (means - LEVELS[1]).abs() < (means - LEVELS[0]).abs()
            assert float((nearest.long() == c).float().mean()) > 0.95, (g_mode, d_mode, c)
        # without labels G cycles through the classes (used by sample grids)
        cyc = G(torch.randn(6, 4)).flatten(1).mean(1)
        assert ((cyc > 0.5).long() == torch.arange(6) % 2).all()


def test_conditional_refuses_unlabelled_data_and_cbn_without_bn():
    with pytest.raises(GannormError, match="needs class labels"):
        Conditional().setup(Setup(MLPG(), MLPD(), LOSSES.build("hinge"), None, (1, 4, 4), None))
    with pytest.raises(GannormError, match="batch norm"):
        ConditionalG(MLPG(bn=False), 3, "cbn")
    with pytest.raises(GannormError, match="own output"):
        Conditional(d="projection").setup(Setup(MLPG(), MLPD(), LOSSES.build("began"), None, (1, 4, 4), 2))
