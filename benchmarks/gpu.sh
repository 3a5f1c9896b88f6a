#!/usr/bin/env bash
# The GPU checks in one go: the GPU tests, our Trainer against the plain loop (identical settings,
# eager and with cuda_graphs=true), fast_gpu over 5 seeds (graphed, and eager for comparison), and the
# design card's command; GPU_ALL=1 also reruns the earlier figures (fast over seeds, the data path).
# At most 8.5 minutes (each step's limit), about 3 in practice: a 15-minute GPU loan has room to rerun.
# Logs go to $OUT (default ./gpu-results). Needs MNIST_DATA_DIR and a CUDA GPU.
#     MNIST_DATA_DIR=... bash benchmarks/gpu.sh
set -u
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

step() {  # step NAME SECONDS CMD...: run one check under a time limit, log it, keep going on failure
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date +%T))"
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    echo "   exit $? after ${SECONDS}s total"
    tail -n 12 "$OUT/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)"
step pytest_gpu 150 $PY -m pytest -q -p no:cacheprovider -o addopts="" -m "gpu" tests/test_gpu.py
step framework_vs_plain 150 $PY -m benchmarks.framework_vs_plain --rounds 3 --accelerator gpu \
    --experiment fast_gpu --cuda-graphs
step time_to_99_gpu 90 $PY -m benchmarks.time_to_99 --seeds 5 --accelerator gpu --experiment fast_gpu
step time_to_99_gpu_eager 60 $PY -m benchmarks.time_to_99 --seeds 5 --accelerator gpu --experiment fast_gpu \
    cuda_graphs=false
if [ "${GPU_ALL:-0}" = 1 ]; then
    step time_to_99 90 $PY -m benchmarks.time_to_99 --seeds 5 --accelerator gpu
    step data_path 120 $PY -m benchmarks.data_path --accelerator gpu
fi
step design_card 60 $PY -m mnist_lightning model=vgg trainer.accelerator=gpu trainer.max_epochs=1 \
    data=idx "data.root=$MNIST_DATA_DIR" trainer.enable_progress_bar=false "hydra.run.dir=${TMPDIR:-/tmp}/vgg_run"
