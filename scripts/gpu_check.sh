#!/usr/bin/env bash
# The prepared GPU check: under 8 minutes on one GPU, every table written to the folder given.
#   scripts/gpu_check.sh OUT_DIR
# 1. pytest -m gpu (AMP bf16/fp16, torch.compile, channels_last, SN/BSSN under compile,
#    reconstruction test and FID on the GPU)          -> OUT_DIR/pytest_gpu.txt
# 2. benchmarks/throughput.py on cuda, fast settings and the peer -> OUT_DIR/throughput.txt
# 3. benchmarks/recon.py on cuda                      -> OUT_DIR/recon.txt
# 4. an 8-cell study packed on the one GPU (--backend ray) vs one cell at a time
#                                                     -> OUT_DIR/study_backends.txt
# 5. a 2-process torchrun training run, when two GPUs are visible -> OUT_DIR/torchrun.txt
# Without a GPU it says so and exits 0. A failing step is recorded in OUT_DIR/summary.txt and
# the others still run; the exit status is the number of failed steps.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: scripts/gpu_check.sh OUT_DIR}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)" 2>/dev/null || echo 0)
if [ "$NGPU" -eq 0 ]; then
  echo "gpu_check: needs a CUDA GPU and none is visible; nothing was run" | tee "$OUT/summary.txt"
  exit 0
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0), '|', torch.cuda.device_count(), 'GPU(s)')" | tee "$OUT/summary.txt"
FAILED=0
step() {  # step NAME SECONDS COMMAND...: run with a time limit, output to OUT/NAME.txt
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - t0)) s (limit $limit s)" | tee -a "$OUT/summary.txt"
  [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
}
step pytest_gpu 120 "$PY" -m pytest -m gpu -q -p no:cacheprovider tests/training/test_gpu_fastpath.py tests/metrics/test_gpu_metrics.py
step throughput 100 "$PY" benchmarks/throughput.py --device cuda --models dcgan --norms none,weight,spectral \
  --fast channels_last,foreach,compile,amp=bf16 --iters 10 --rounds 3 --peer
step recon 60 "$PY" benchmarks/recon.py --device cuda --n-images 2000 --steps 3 --repeats 2
step study_backends 150 "$PY" benchmarks/study_backends.py --device cuda --cells 8 --iterations 400 \
  --features 64 --out "$OUT/study"
if [ "$NGPU" -ge 2 ]; then
  step torchrun 50 torchrun --standalone --nproc_per_node 2 -m gannorm train configs/quickstart.yaml \
    train.iterations=200 train.device=cuda --run-dir "$OUT/torchrun-run" --quiet
else
  echo "torchrun: skipped, needs 2 GPUs ($NGPU visible)" | tee -a "$OUT/summary.txt"
fi
echo "failed steps: $FAILED" | tee -a "$OUT/summary.txt"
exit "$FAILED"
