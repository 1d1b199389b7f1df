"""Feature extraction for FID/KID on CPU: gannorm's pipeline vs torch-fidelity's defaults, one run.

Both sides use the same feature extractor (gannorm's, registered in torch-fidelity), the same
generator and the same real images; the baseline is ``torch_fidelity.calculate_metrics`` with
its defaults (batch 64, DataLoader workers, no cache) except KID's ``subset_size``, lowered to N
because its default of 1000 fails for N < 1000. Timed per side: N real images, N generated
images, the metrics, the total; and gannorm's second evaluation, whose real statistics come
from the reference cache. FID is usually reported on 10k vs 10k images: the last lines extrapolate
the measured per-image rates to that, clearly labelled as an extrapolation.

    python benchmarks/metrics.py                 # N=100, efficientnet_lite0 at 224x224
    python benchmarks/metrics.py --n 1000 --extractor efficientnet_lite0:112
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np
import torch


class _Images(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = torch.from_numpy(np.ascontiguousarray(x))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


class _QuantizedG(torch.nn.Module):
    """G followed by the uint8 quantization torch-fidelity expects from a generator."""

    def __init__(self, g):
        super().__init__()
        self.g = g

    def forward(self, z):
        from gannorm.metrics.features import quantize

        return quantize(self.g(z), getattr(self.g, "output_range", (0.0, 1.0)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="real and generated images each (default 100)")
    ap.add_argument("--extractor", default="efficientnet_lite0")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--run", default=None, help="a run directory whose G to use (default: an untrained DCGAN)")
    args = ap.parse_args()

    import torch_fidelity

    from gannorm.config import ModelConfig
    from gannorm.data.bundled import fashion_mnist_small
    from gannorm.metrics.evaluate import evaluate_generator
    from gannorm.metrics.extractors import build_extractor, register_with_torch_fidelity
    from gannorm.models import build_models

    torch.manual_seed(0)
    data = fashion_mnist_small()
    if args.run:
        from gannorm.evaluation import load_real_images, open_generator

        lg = open_generator(args.run, "latest")
        g, data = lg.G, load_real_images(lg.spec, lg.config)
    else:
        g, _ = build_models(ModelConfig(), data.size, data.channels)
    g.eval()
    n = args.n
    real = data.images[np.random.RandomState(0).choice(len(data), min(n, len(data)), replace=False)]
    ext = build_extractor(args.extractor)
    metrics = ["fid", "kid"]
    rows = []

    os.environ["GANNORM_CACHE"] = tempfile.mkdtemp(prefix="gannorm-bench-")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # ours, split into its parts: real (no cache), generated, and a second evaluation (cached real)
        from gannorm.metrics.features import extract_generated, extract_images

        extract_images(ext, real[:2], 2)  # warm-up (allocator, kernels) so neither side pays it
        t = time.perf_counter()
        extract_images(ext, real, args.batch_size)
        t_real = time.perf_counter() - t
        t = time.perf_counter()
        extract_generated(ext, g, n, args.batch_size)
        t_gen = time.perf_counter() - t
        t = time.perf_counter()
        ours = evaluate_generator(g, real, metrics=metrics, extractor=ext, n_gen=n, dataset=data.description,
                                  real_split="bench", batch_size=args.batch_size, options={"kid": {"subset_size": n}})
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        again = evaluate_generator(g, real, metrics=metrics, extractor=ext, n_gen=n, dataset=data.description,
                                   real_split="bench", batch_size=args.batch_size, options={"kid": {"subset_size": n}})
        t_cached = time.perf_counter() - t
        assert again[0]["reference_cached"]

        # the library with its defaults, same extractor, same G, same images
        name = register_with_torch_fidelity(ext)
        gen_in = torch_fidelity.GenerativeModelModuleWrapper(_QuantizedG(g), g.z_dim, "normal", 0)
        t = time.perf_counter()
        torch_fidelity.calculate_metrics(input1=_Images(real), cuda=False, isc=True, feature_extractor=name,
                                         verbose=False, cache=False)
        t_lib_real = time.perf_counter() - t
        t = time.perf_counter()
        lib = torch_fidelity.calculate_metrics(input1=gen_in, input1_model_num_samples=n, input2=_Images(real),
                                               cuda=False, fid=True, kid=True, kid_subset_size=n,
                                               feature_extractor=name, verbose=False, cache=False)
        t_lib = time.perf_counter() - t

    rows.append(("gannorm: real images, features", n, t_real))
    rows.append(("gannorm: generated images (sample+quantize+features)", n, t_gen))
    rows.append(("gannorm: full FID+KID evaluation", 2 * n, t_ours))
    rows.append(("gannorm: again, real statistics from the cache", n, t_cached))
    rows.append(("torch-fidelity defaults: real images only (isc pass)", n, t_lib_real))
    rows.append(("torch-fidelity defaults: full FID+KID evaluation", 2 * n, t_lib))
    print(f"\nextractor {ext.name}: {ext.description}\npreprocessing: {ext.preprocessing}\n"
          f"data: {data.description}; N = {n} real and {n} generated; torch threads {torch.get_num_threads()}, "
          f"CPUs {os.cpu_count()}\n")
    print(f"{'what':58s} {'images':>7s} {'seconds':>9s} {'images/s':>9s}")
    for what, k, s in rows:
        print(f"{what:58s} {k:7d} {s:9.2f} {k / s:9.2f}")
    fid_ours, fid_lib = ours[0]["value"], lib["frechet_inception_distance"]
    print(f"\nFID ours {fid_ours:.6g} vs torch-fidelity {fid_lib:.6g} (same features, different G samples: "
          f"z draws differ); KID ours {ours[1]['value']:.4g} vs {lib['kernel_inception_distance_mean']:.4g}")
    print(f"ratio full evaluation, torch-fidelity / gannorm: {t_lib / t_ours:.2f}x; "
          f"torch-fidelity / gannorm with cached reference: {t_lib / t_cached:.2f}x")
    per_img = t_ours / (2 * n)
    print(f"EXTRAPOLATION (not measured): 10k generated vs 10k real at the measured {1 / per_img:.2f} images/s "
          f"-> about {per_img * 20_000 / 60:.0f} min first time, {t_cached / n * 10_000 / 60:.0f} min with the "
          f"reference cached; torch-fidelity defaults about {t_lib / (2 * n) * 20_000 / 60:.0f} min")


if __name__ == "__main__":
    main()
