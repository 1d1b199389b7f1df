"""Render a study report in headless Chromium and save a screenshot (checks it displays).

    python scripts/screenshot_report.py studies/NAME/report/index.html [--out shot.png]

Needs Debian's chromium (apt-get install chromium). Network access is switched off for the
page: the report is self-contained, so everything it shows must come from the file itself.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("html")
ap.add_argument("--out", default=None)
ap.add_argument("--size", default="1280,3000")
a = ap.parse_args()
exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
if not exe:
    sys.exit("chromium not found: apt-get install chromium")
html = Path(a.html).resolve()
out = Path(a.out or html.with_suffix(".png")).resolve()
with tempfile.TemporaryDirectory() as profile:
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9", "--hide-scrollbars",
                    f"--window-size={a.size}", f"--screenshot={out}", html.as_uri()],
                   check=True, capture_output=True, timeout=120)
print(f"wrote {out} ({out.stat().st_size} bytes)")
