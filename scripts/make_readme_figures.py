"""Make the README's and the documentation's pictures of the first command from its run.

    gannorm train configs/quickstart.yaml --run-dir runs/quickstart
    python scripts/make_readme_figures.py runs/quickstart [--out docs/figures]

Writes ``quickstart_final.png`` (the run's ``samples/final.png``) and ``quickstart_strip.png``
(the sample grids written every ``train.sample_every`` iterations, side by side, each cut to
its first ``--rows`` rows of samples and labelled with its iteration).
"""
import argparse
import re
import shutil
from pathlib import Path

from PIL import Image, ImageDraw

ap = argparse.ArgumentParser()
ap.add_argument("run")
ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "figures"))
ap.add_argument("--rows", type=int, default=4)
ap.add_argument("--size", type=int, default=28, help="image size of the run's samples")
a = ap.parse_args()

samples = Path(a.run) / "samples"
grids = sorted(samples.glob("iter_*.png"), key=lambda p: int(re.findall(r"\d+", p.stem)[0]))
if not grids:
    raise SystemExit(f"no sample grids (iter_*.png) in {samples}")
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
shutil.copyfile(samples / "final.png", out / "quickstart_final.png")

pad, label = 2, 16  # torchvision's grid padding; a line for the iteration
first = Image.open(grids[0]).convert("L")
height = pad + a.rows * (a.size + pad)
gap = 6
strip = Image.new("L", (len(grids) * (first.width + gap) - gap, height + label), 255)
draw = ImageDraw.Draw(strip)
for i, g in enumerate(grids):
    x = i * (first.width + gap)
    strip.paste(Image.open(g).convert("L").crop((0, 0, first.width, height)), (x, label))
    draw.text((x + 2, 2), f"iteration {int(re.findall(r'[0-9]+', g.stem)[0]):,}", fill=0)
strip.save(out / "quickstart_strip.png", optimize=True)
print(f"wrote {out / 'quickstart_final.png'} and {out / 'quickstart_strip.png'} ({len(grids)} grids)")
