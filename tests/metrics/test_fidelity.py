"""FID/KID/IS/PR arithmetic (gannorm.metrics.fidelity) against closed forms and other libraries."""
import warnings

import numpy as np
import pytest
import torch

from gannorm.errors import GannormError
from gannorm.metrics.fidelity import (FeatureSet, FidelityWarning, fid, fid_from_stats, inception_score_from_logits,
                                      ISOptions, compute, kid_from_features, precision_recall_from_features)
from gannorm.registry import METRICS


def _rotation(d, seed):
    q, _ = np.linalg.qr(np.random.RandomState(seed).randn(d, d))
    return q


def _exact_sample(mu, cov, n, seed):
    """n points whose sample mean is mu and unbiased sample covariance is cov, exactly."""
    x = np.random.RandomState(seed).randn(n, len(mu))
    x -= x.mean(0)
    c = np.cov(x, rowvar=False)
    x = x @ np.linalg.inv(np.linalg.cholesky(c)).T  # whitened: sample covariance I
    return torch.from_numpy(x @ np.linalg.cholesky(cov).T + mu)


def test_fid_equals_closed_form_for_gaussians_with_known_moments():
    """Reference: the closed form of the Frechet distance between Gaussians whose covariances
    share eigenvectors (C_i = R diag(s_i) R^T): ||mu1-mu2||^2 + sum_j (sqrt(s1_j) - sqrt(s2_j))^2."""
    d = 12
    r = _rotation(d, 0)
    s1, s2 = np.linspace(0.5, 3.0, d), np.linspace(2.0, 0.2, d)
    mu1, mu2 = np.random.RandomState(1).randn(d), np.random.RandomState(2).randn(d)
    c1, c2 = r @ np.diag(s1) @ r.T, r @ np.diag(s2) @ r.T
    closed = float(((mu1 - mu2) ** 2).sum() + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum())
    assert fid_from_stats(mu1, c1, mu2, c2) == pytest.approx(closed, rel=1e-9)
    # from features with exactly these moments, through the registered metric
    a, b = _exact_sample(mu1, c1, 400, 3), _exact_sample(mu2, c2, 500, 4)
    out = METRICS.get("fid")(FeatureSet(features=a), FeatureSet(features=b))
    assert out["fid"] == pytest.approx(closed, rel=1e-7)
    assert fid_from_stats(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-9)


def test_fid_agrees_with_pytorch_fid_on_non_commuting_covariances():
    """Reference: pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm, the TTUR code)."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    rs = np.random.RandomState(5)
    a = torch.from_numpy(rs.randn(600, 32) @ rs.randn(32, 32) * 0.3)
    b = torch.from_numpy(rs.randn(700, 32) @ rs.randn(32, 32) * 0.3 + 0.5)
    A, B = FeatureSet(features=a), FeatureSet(features=b)
    ours = fid(A, B)["fid"]
    ref = calculate_frechet_distance(a.numpy().mean(0), np.cov(a.numpy(), rowvar=False),
                                     b.numpy().mean(0), np.cov(b.numpy(), rowvar=False))
    assert ours == pytest.approx(ref, rel=1e-6)


def test_fid_warns_with_the_count_needed_when_covariance_is_singular():
    """Reference: a d-dimensional sample covariance from N <= d points has rank <= N-1 < d."""
    a, b = torch.randn(50, 64), torch.randn(300, 64)
    with pytest.warns(FidelityWarning, match=r"at least 65"):
        fid(FeatureSet(features=a), FeatureSet(features=b))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FidelityWarning)
        fid(FeatureSet(features=torch.randn(70, 64)), FeatureSet(features=b))  # enough: no warning


def _biased_mmd2(x, y):
    """MMD^2 with the diagonal terms kept (V-statistic), for contrast."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()


def test_kid_is_unbiased_over_many_draws_from_one_distribution():
    """Reference: Binkowski et al. 2018 - the U-statistic estimate of MMD^2 has expectation 0
    when both samples come from one distribution; the V-statistic (biased) one is positive."""
    ours, biased = [], []
    for seed in range(120):
        g = torch.Generator().manual_seed(seed)
        x, y = torch.randn(60, 8, generator=g, dtype=torch.float64), torch.randn(60, 8, generator=g, dtype=torch.float64)
        ours.append(kid_from_features(x, y, subsets=1, subset_size=60, seed=seed)["kid"])
        biased.append(float(_biased_mmd2(x, y)))
    ours, biased = np.array(ours), np.array(biased)
    sem = ours.std(ddof=1) / np.sqrt(len(ours))
    assert abs(ours.mean()) < 3 * sem
    assert biased.mean() > 10 * biased.std(ddof=1) / np.sqrt(len(biased))  # the test can tell bias apart


def test_kid_agrees_with_clean_fid():
    """Reference: clean-fid's kernel_distance (StyleGAN's KID code); with the subset equal to the
    whole sample every draw is a permutation, so both estimates are exactly the full-sample one."""
    from cleanfid.fid import kernel_distance

    rs = np.random.RandomState(7)
    a, b = rs.randn(150, 40), rs.randn(150, 40) * 1.2 + 0.1
    ours = kid_from_features(torch.from_numpy(a), torch.from_numpy(b), subsets=3, subset_size=150)
    ref = kernel_distance(a, b, num_subsets=3, max_subset_size=150)
    assert ours["kid"] == pytest.approx(ref, rel=1e-4)
    assert ours["kid"] > 0.01


def test_kid_subset_larger_than_sample_is_reduced_with_a_warning():
    """Reference: gannorm's bad-input rule, warn and reduce (torch-fidelity itself refuses this case)."""
    a, b = torch.randn(40, 16), torch.randn(30, 16)
    with pytest.warns(FidelityWarning, match="reduced to 30"):
        out = kid_from_features(a, b, subsets=5, subset_size=1000)
    assert out["kid_subset_size"] == 30 and np.isfinite(out["kid"])


def test_inception_score_uniform_is_one_and_confident_balanced_is_class_count():
    """Reference: IS = exp(E KL(p(y|x) || p(y))): 1 when p(y|x) = p(y); C when each p(y|x) is a
    one-hot and p(y) uniform over C classes (Salimans et al. 2016)."""
    n, c = 1000, 10
    assert inception_score_from_logits(torch.zeros(n, c))["is"] == pytest.approx(1.0, abs=1e-9)
    confident = 40.0 * torch.nn.functional.one_hot(torch.arange(n) % c, c).double()
    assert inception_score_from_logits(confident, shuffle=False)["is"] == pytest.approx(c, rel=1e-6)
    # shuffled splits are only roughly balanced: a little below C
    assert 9.0 < inception_score_from_logits(confident)["is"] <= c + 1e-6


def test_precision_recall_agree_with_a_direct_knn_reading_of_the_definition():
    """Reference: Kynkaanniemi et al. 2019 eq. 1-2, written out with scipy's cdist: a sample is
    covered when it lies within some other set's point's distance to its k-th nearest neighbour."""
    from scipy.spatial.distance import cdist

    rs = np.random.RandomState(3)
    real, gen = rs.randn(120, 5), rs.randn(100, 5) * 0.6 + 0.8
    k = 3

    def covered(points, ref):
        radii = np.sort(cdist(ref, ref), axis=1)[:, k]  # column 0 is the point itself
        return (cdist(points, ref) <= radii[None]).any(1).mean()

    out = precision_recall_from_features(torch.from_numpy(real).float(), torch.from_numpy(gen).float(), k=k)
    assert out["precision"] == pytest.approx(covered(gen, real), abs=1e-6)
    assert out["recall"] == pytest.approx(covered(real, gen), abs=1e-6)
    assert 0.0 < out["recall"] < out["precision"] < 1.0  # a narrow, shifted G: precise, poor recall


def test_bad_feature_inputs_are_user_errors():
    """Reference: the project rule - bad input raises GannormError with the fix, not a deep traceback."""
    with pytest.raises(GannormError, match="same feature extractor"):
        kid_from_features(torch.randn(10, 4), torch.randn(10, 5))
    with pytest.raises(GannormError, match="NaN"):
        fid(FeatureSet(features=torch.full((10, 3), float("nan"))), FeatureSet(features=torch.randn(10, 3)))
    with pytest.raises(GannormError, match="class logits"):
        compute("is", None, FeatureSet(features=torch.randn(10, 3)), ISOptions())


def test_inception_score_with_fewer_images_than_splits_is_an_error():
    """Reference: IS per split is exp(KL(p(y|x) || p(y))) with p(y) the split's mean; a split of
    one image has p(y) = p(y|x), so IS = 1 whatever G makes - not a figure to report."""
    with pytest.raises(GannormError, match="at least 10 images, got 5"):
        inception_score_from_logits(torch.randn(5, 4), splits=10)
