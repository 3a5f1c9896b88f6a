#!/usr/bin/env bash
# Every reference recipe and `best`, 3 seeds each, as parallel single-thread processes
# sharing one GPU; then `best` for 30 epochs (the GPU goal). Runs land in $RUNS; a tarball of their
# metrics, logs and `best` reports (no checkpoints) and the gathered CSV go to $OUT.
#     MNIST_DATA_DIR=... bash benchmarks/gpu_results.sh [seconds]
set -u
OUT=${OUT:-gpu-results}
RUNS=${RUNS:-results/runs}
LIMIT=${1:-380}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
COMMON=(trainer.accelerator=gpu threads=1 data=idx "data.root=$MNIST_DATA_DIR")
timeout "$LIMIT" $PY -m benchmarks.results run --jobs 18 --runs "$RUNS/gpu" \
    --experiments vgg_sgd mlp_sgd mlp_dropout_adam lenet5_adam bncnn_adam_step best \
    -- "${COMMON[@]}" >"$OUT/results_gpu.log" 2>&1 &
timeout "$LIMIT" $PY -m benchmarks.results run --jobs 3 --runs "$RUNS/gpu_30_epochs" --experiments best \
    -- "${COMMON[@]}" trainer.max_epochs=30 >"$OUT/results_gpu_30.log" 2>&1 &
wait
cat "$OUT"/results_gpu*.log
for d in gpu gpu_30_epochs; do
    $PY -m benchmarks.results gather --runs "$RUNS/$d" --csv "$OUT/$d.csv"
done
# Metrics, configs and logs of every run; the report figures of `best` only (size limits on $OUT).
tar czf "$OUT/runs.tgz" --exclude=checkpoints --exclude=tensorboard --exclude=report "$RUNS"
tar czf "$OUT/best_reports.tgz" "$RUNS"/gpu*/best/seed_*/report
ls -la "$OUT"
